#include "sim/area.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

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

std::string script_for(const hw::HwConfig& hw, const std::vector<std::string>& sources, const std::string& liberty,
                       const std::string& stat_file) {
  std::ostringstream s;
  s << "# sop area: " << hw.source << "\n";
  // The liberty's cells as black boxes first, so `check` knows their port directions.
  s << "read_liberty -lib " << liberty << "\n";
  s << "read_verilog -sv";
  for (const std::string& source : sources) s << " " << source;
  s << "\nhierarchy -check -top sop_decode_unit";
  for (const auto& [k, v] : hw.rtl_parameters()) s << " -chparam " << k << " " << v;
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

}  // namespace

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
  std::ofstream(script_path) << r.script;
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
