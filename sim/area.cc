#include "sim/area.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "base/atomic_file.h"
#include "base/error.h"

namespace sop::sim {
namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail_lines(const std::string& text, int n) {
  std::size_t pos = text.size();
  for (int i = 0; i < n && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

// Single-quoted for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The decode unit's sources in compile order, read at run time from the one RTL file list
// rtl_dir/sop_decode_unit.f (docs/rtl.md): paths relative to rtl_dir, text from `//` or `#` on a comment.
std::vector<std::string> rtl_sources(const std::string& rtl_dir) {
  const std::string list = rtl_dir + "/sop_decode_unit.f";
  std::ifstream in(list);
  if (!in) throw Error(list, "", "RTL file list not found (use --rtl-dir)");
  std::vector<std::string> sources;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, std::min(line.find("//"), line.find('#')));
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const std::string source = rtl_dir + "/" + line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
    if (!exists(source)) throw Error(source, "", "listed in " + list + " but not found");
    sources.push_back(source);
  }
  if (sources.empty()) throw Error(list, "", "the RTL file list names no source");
  return sources;
}

// The yosys commands both flows start with: the liberty's cells as black boxes first (so `check` knows
// their port directions), the RTL, and the top elaborated with the configuration's parameters.
void read_and_elaborate(std::ostringstream& s, const hw::HwConfig& hw, const std::vector<std::string>& sources,
                        const std::string& liberty) {
  s << "read_liberty -lib " << liberty << "\n";
  s << "read_verilog -sv";
  for (const std::string& source : sources) s << " " << source;
  s << "\nhierarchy -check -top sop_decode_unit";
  for (const auto& [k, v] : hw.rtl_parameters()) s << " -chparam " << k << " " << v;
}

std::string script_for(const hw::HwConfig& hw, const std::vector<std::string>& sources, const std::string& liberty,
                       const std::string& stat_file) {
  std::ostringstream s;
  s << "# sop area: " << hw.source << "\n";
  read_and_elaborate(s, hw, sources, liberty);
  // Kept hierarchical so that stat reports the LUT, one lane and the control apart.
  s << "\nsynth -top sop_decode_unit\n"
    << "dfflibmap -liberty " << liberty << "\n"
    << "abc -liberty " << liberty << "\n"
    << "opt_clean\n"
    << "check -assert\n"
    << "select -assert-none t:$dlatch t:$adlatch t:$_DLATCH_* t:LATCH\n"
    << "tee -q -o " << stat_file << " stat -liberty " << liberty << "\n";
  return s.str();
}

// A work directory: the one asked for (kept), or a temporary one removed with what was written into it.
class WorkDir {
 public:
  explicit WorkDir(const std::string& asked) : path_(asked) {
    if (path_.empty()) {
      char tmpl[] = "/tmp/sop-area-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) throw Error("/tmp", "", "cannot create a work directory");
      path_ = tmpl;
      temporary_ = true;
    } else {
      ::mkdir(path_.c_str(), 0755);
    }
  }
  ~WorkDir() {
    if (!temporary_) return;
    for (const std::string& f : files_) std::remove(f.c_str());
    ::rmdir(path_.c_str());
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }

 private:
  std::string path_;
  bool temporary_ = false;
  std::vector<std::string> files_;
};

// True when `tool` runs at all (a missing one gives the shell's 127).
bool tool_runs(const std::string& tool, const std::string& probe) {
  return std::system((shell_quote(tool) + " " + probe + " >/dev/null 2>&1").c_str()) == 0;
}

// The timing-driven flat mapping of the unit, written as a netlist for OpenSTA, with its area.
std::string timing_script(const hw::HwConfig& hw, const std::vector<std::string>& sources, const std::string& liberty,
                          double period_ps, const std::string& constr, const std::string& netlist,
                          const std::string& stat_file) {
  std::ostringstream s;
  s << "# sop area --timing: " << hw.source << "\n";
  read_and_elaborate(s, hw, sources, liberty);
  s << "\nsynth -flatten -top sop_decode_unit\n"
    << "dfflibmap -liberty " << liberty << "\n"
    << "abc -liberty " << liberty << " -D " << static_cast<long>(period_ps) << " -constr " << constr << "\n"
    << "opt_clean\n"
    << "hilomap -hicell TIEHI Y -locell TIELO Y\n"
    // Cells named after the nets they drive, so the report says count_q, not _10955_.
    << "autoname\n"
    << "tee -q -o " << stat_file << " stat -liberty " << liberty << "\n"
    << "write_verilog -noattr -noexpr " << netlist << "\n";
  return s.str();
}

double number_after(const std::string& text, const std::regex& re, const std::string& what, const std::string& source) {
  std::smatch m;
  if (!std::regex_search(text, m, re)) throw Error(source, "", "no " + what + " in the OpenSTA report");
  return std::stod(m[1]);
}

}  // namespace

TimingReport analyze_timing(const hw::HwConfig& hw, const AreaOptions& options, const TimingOptions& timing) {
  TimingReport r;
  r.target_mhz = timing.target_mhz > 0 ? timing.target_mhz : hw.clock_mhz;
  r.period_ns = 1000.0 / r.target_mhz;
  const std::string liberty = options.liberty.empty() ? default_liberty() : options.liberty;
  if (!exists(liberty)) {
    throw Error(liberty, "", "liberty not found: run scripts/install-deps.sh (or set SOP_TECH_DIR / --liberty)");
  }
  if (!tool_runs(options.yosys, "-V")) {
    throw Error(hw.source, "", "'" + options.yosys + "' does not run: static timing needs yosys (scripts/install-deps.sh)");
  }
  if (!tool_runs(options.sta, "-version")) {
    throw Error(hw.source, "", "'" + options.sta +
                                   "' does not run: static timing needs OpenSTA (Debian package opensta, "
                                   "scripts/install-deps.sh; or --sta PATH)");
  }
  const std::vector<std::string> sources = rtl_sources(options.rtl_dir.empty() ? default_rtl_dir() : options.rtl_dir);
  WorkDir dir(options.work_dir);
  const std::string constr = dir.file("abc.constr"), netlist = dir.file("netlist.v"), stat = dir.file("stat.txt");
  const std::string ys = dir.file("timing.ys"), ylog = dir.file("yosys.log"), tcl = dir.file("sta.tcl");
  const std::string sdc_path = dir.file("unit.sdc"), slog = dir.file("sta.log");
  // The inputs of yosys and OpenSTA go through base/atomic_file too: a write that fails (disk full) is
  // an error here, not a truncated script the tool then runs, and a kept --work-dir holds whole files.
  write_file_atomically(constr, [&](std::ostream& f) { f << "set_driving_cell INVX1\nset_load " << timing.output_load_pf << "\n"; });
  write_file_atomically(ys, [&](std::ostream& f) { f << timing_script(hw, sources, liberty, r.period_ns * 1000, constr, netlist, stat); });
  int rc = std::system((shell_quote(options.yosys) + " -q -l " + shell_quote(ylog) + " -s " + shell_quote(ys) +
                        " >/dev/null 2>&1").c_str());
  if (rc != 0 || !exists(netlist)) {
    throw Error(hw.source, "", "yosys failed (exit " + std::to_string(rc) + "):\n" + tail_lines(read_text(ylog), 12));
  }
  std::ostringstream sdc;
  sdc << "create_clock -name clk -period " << r.period_ns << " [get_ports clk_i]\n"
      << "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {clk_i rst_ni}]]\n"
      << "set_output_delay 0 -clock clk [all_outputs]\n"
      << "set_load " << timing.output_load_pf << " [all_outputs]\n"
      << "set_driving_cell -lib_cell INVX1 [all_inputs]\n"
      << "set_false_path -from [get_ports rst_ni]\n";
  r.sdc = sdc.str();
  write_file_atomically(sdc_path, [&](std::ostream& f) { f << r.sdc; });
  write_file_atomically(tcl, [&](std::ostream& f) {
    f << "read_liberty " << liberty << "\nread_verilog " << netlist << "\nlink_design sop_decode_unit\n"
      << "read_sdc " << sdc_path << "\nreport_checks -path_delay max -digits 4\nexit\n";
  });
  rc = std::system((shell_quote(options.sta) + " -no_splash -exit " + shell_quote(tcl) + " >" + shell_quote(slog) +
                    " 2>&1").c_str());
  const std::string report = read_text(slog);
  if (rc != 0 || report.find("slack") == std::string::npos) {
    throw Error(hw.source, "", "OpenSTA failed (exit " + std::to_string(rc) + "):\n" + tail_lines(report, 12));
  }
  std::smatch m;
  if (std::regex_search(report, m, std::regex(R"(Startpoint: (\S+))"))) r.startpoint = m[1];
  if (std::regex_search(report, m, std::regex(R"(Endpoint: (\S+))"))) r.endpoint = m[1];
  const double arrival = number_after(report, std::regex(R"(([-0-9.]+)\s+data arrival time)"), "data arrival time", hw.source);
  r.worst_slack_ns = number_after(report, std::regex(R"(([-0-9.]+)\s+slack)"), "slack", hw.source);
  // setup time of the endpoint register (absent for a path to an output)
  double setup = 0;
  if (std::regex_search(report, m, std::regex(R"(([-0-9.]+)\s+[-0-9.]+\s+library setup time)"))) setup = -std::stod(m[1]);
  r.critical_path_ns = arrival + setup;
  r.fmax_mhz = r.critical_path_ns > 0 ? 1000.0 / r.critical_path_ns : 0;
  // Cells on the path: the report's lines "delay time ^|v instance/pin (CELL)" up to the arrival, one
  // per cell output.
  const std::string path = report.substr(0, report.find("data arrival time"));
  const std::regex stage_re(R"(\S+/(Y|Q|YS|YC) \([A-Z0-9]+\))");
  for (auto it = std::sregex_iterator(path.begin(), path.end(), stage_re); it != std::sregex_iterator(); ++it) ++r.stages;
  const std::string stat_text = read_text(stat);
  if (std::regex_search(stat_text, m, std::regex(R"(Chip area for (?:top )?module '[^']*': ([0-9.eE+-]+))"))) {
    r.area_um2 = std::stod(m[1]);
  }
  return r;
}

std::string default_rtl_dir() { return std::string(SOP_SOURCE_DIR) + "/rtl"; }

std::string default_liberty() {
  const char* env = std::getenv("SOP_TECH_DIR");
  const std::string tech = env ? env : std::string(SOP_SOURCE_DIR) + "/build/tech";
  return tech + "/usr/share/qflow/tech/osu018/osu018_stdcells.lib";
}

std::string area_script(const hw::HwConfig& hw, const std::string& rtl_dir, const std::string& liberty,
                        const std::string& stat_file) {
  return script_for(hw, rtl_sources(rtl_dir), liberty, stat_file);
}

AreaReport synthesize_area(const hw::HwConfig& hw, const AreaOptions& options) {
  AreaReport r;
  r.liberty = options.liberty.empty() ? default_liberty() : options.liberty;
  const std::string rtl = options.rtl_dir.empty() ? default_rtl_dir() : options.rtl_dir;
  if (!exists(r.liberty)) {
    throw Error(r.liberty, "", "liberty not found: run scripts/install-deps.sh (or set SOP_TECH_DIR / --liberty)");
  }
  const std::vector<std::string> sources = rtl_sources(rtl);  // before any work directory exists

  std::string dir = options.work_dir;
  bool temporary = false;
  if (dir.empty()) {
    char tmpl[] = "/tmp/sop-area-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw Error("/tmp", "", "cannot create a work directory");
    dir = tmpl;
    temporary = true;
  } else {
    ::mkdir(dir.c_str(), 0755);
  }
  const std::string script_path = dir + "/area.ys", stat_path = dir + "/stat.txt", log_path = dir + "/yosys.log";
  r.script = script_for(hw, sources, r.liberty, stat_path);
  write_file_atomically(script_path, [&](std::ostream& f) { f << r.script; });  // whole, or an error
  const std::string cmd = shell_quote(options.yosys) + " -q -l " + shell_quote(log_path) + " -s " +
                          shell_quote(script_path) + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string stat_text = read_text(stat_path);
  const std::string log = read_text(log_path);
  if (temporary) {
    std::remove(script_path.c_str());
    std::remove(stat_path.c_str());
    std::remove(log_path.c_str());
    ::rmdir(dir.c_str());
  }
  if (rc != 0 || stat_text.empty()) {
    throw Error(hw.source, "", "yosys failed (exit " + std::to_string(rc) + "):\n" + tail_lines(log, 12));
  }

  // stat -liberty prints one "Chip area for module '<name>': A" per module and the hierarchy total.
  const std::regex module_re(R"(Chip area for module '([^']*)': ([0-9.eE+-]+))");
  const std::regex top_re(R"(Chip area for top module '[^']*': ([0-9.eE+-]+))");
  for (auto it = std::sregex_iterator(stat_text.begin(), stat_text.end(), module_re); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    const double a = std::stod((*it)[2]);
    if (name.find("sop_lut") != std::string::npos) r.lut_um2 = a;
    else if (name.find("sop_lane_mul") != std::string::npos) r.lane_um2 = a;
    else if (name.find("sop_decode_unit") != std::string::npos) r.control_um2 = a;
  }
  std::smatch m;
  if (!std::regex_search(stat_text, m, top_re)) throw Error(hw.source, "", "no total area in the yosys report");
  r.total_um2 = std::stod(m[1]);
  r.lanes_um2 = r.lane_um2 * hw.decode_unit.lanes;
  // Cell and flop counts of the whole hierarchy (the last block of the report).
  const std::size_t h = stat_text.find("=== design hierarchy ===");
  const std::string total = h == std::string::npos ? stat_text : stat_text.substr(h);
  const std::regex cells_re(R"(Number of cells:\s+([0-9]+))");
  if (std::regex_search(total, m, cells_re)) r.cells = std::stol(m[1]);
  const std::regex flop_re(R"((DFF\w*)\s+([0-9]+))");
  for (auto it = std::sregex_iterator(total.begin(), total.end(), flop_re); it != std::sregex_iterator(); ++it) {
    r.flops += std::stol((*it)[2]);
  }
  return r;
}

}  // namespace sop::sim
