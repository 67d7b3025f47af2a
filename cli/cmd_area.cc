// sop area: synthesizes the decode unit of one or more hardware configurations with yosys onto the
// OSU 0.18 um standard cells and prints (and optionally writes as JSON) the cell area per block.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "sim/area.h"
#include "sim/tech.h"
#include "model/hw/hw_config.h"

namespace sop::cli {

int run_area(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("hw", po::value<std::vector<std::string>>()->composing()->required(),
     "hardware configuration YAML (configs/hw/*.yaml); repeat for a table")
    ("json", po::value<std::string>(), "write the results as JSON to this file")
    ("liberty", po::value<std::string>()->default_value(""), "liberty file (default: the extracted OSU 0.18 um)")
    ("rtl-dir", po::value<std::string>()->default_value(""), "RTL sources (default: the source tree's rtl/)")
    ("work-dir", po::value<std::string>()->default_value(""), "keep the yosys script, log and report here")
    ("yosys", po::value<std::string>()->default_value("yosys"), "yosys executable")
    ("timing", "also static timing: a timing-driven mapping timed by OpenSTA (worst slack, critical path, fmax)")
    ("target-mhz", po::value<double>()->default_value(0), "clock to map for and check (default: the config's clock_mhz)")
    ("sta", po::value<std::string>()->default_value("sta"), "OpenSTA executable")
    ("tech", po::value<std::string>(),
     "with --timing: also scale the critical path to this technology table's node (configs/tech/*.yaml) by the "
     "Stillmaker-Baas delay equations")
    ("pipeline-stages", po::value<int>()->default_value(0),
     "synthesize with this many pipeline stages (1..3) instead of each config's decode_unit.pipeline_stages");
  po::variables_map vm;
  if (auto code = parse_options("area", "--hw CONFIG.yaml [--hw ...] [--json OUT]", desc, args, vm, {"hw"})) {
    return *code;
  }
  sim::AreaOptions opt;
  opt.liberty = vm["liberty"].as<std::string>();
  opt.rtl_dir = vm["rtl-dir"].as<std::string>();
  opt.work_dir = vm["work-dir"].as<std::string>();
  opt.yosys = vm["yosys"].as<std::string>();
  opt.sta = vm["sta"].as<std::string>();
  const bool timing = vm.count("timing") != 0;
  sim::TimingOptions topt;
  topt.target_mhz = vm["target-mhz"].as<double>();
  std::optional<sim::TechTable> tech;
  if (vm.count("tech")) {
    if (!timing) {
      std::fprintf(stderr, "sop area: --tech scales the timing: give --timing too\n");
      return 2;
    }
    tech = sim::load_tech_table(vm["tech"].as<std::string>());
  }
  const int stages = vm["pipeline-stages"].as<int>();
  if (stages != 0 && (stages < 1 || stages > 3)) {
    throw Error("", "--pipeline-stages", "must be 1..3 (decode_unit.pipeline_stages), not " + std::to_string(stages));
  }

  nlohmann::json out = nlohmann::json::array();
  std::printf("%-28s %5s %6s %7s %5s %7s %9s %12s %12s %12s %12s %7s\n", "config", "lanes", "stages", "entries", "slots",
              "entry", "LUT bits", "total um2", "LUT um2", "lanes um2", "ctrl um2", "flops");
  std::string liberty;
  for (const std::string& path : vm["hw"].as<std::vector<std::string>>()) {
    hw::HwConfig hw = hw::load_hw_config(path);
    if (stages != 0) hw.decode_unit.pipeline_stages = stages;
    const sim::AreaReport r = sim::synthesize_area(hw, opt);
    liberty = r.liberty;
    const auto& u = hw.decode_unit;
    const char* fmt = u.lut.entry_format == golden::EntryFormat::Hif ? "hif" : "fp16";
    std::printf("%-28s %5d %6d %7d %5d %7s %9ld %12.0f %12.0f %12.0f %12.0f %7ld\n",
                (hw.name.empty() ? path : hw.name).c_str(), u.lanes, u.pipeline_stages, u.lut.entries_per_table, u.lut.resident_layers,
                fmt, hw.lut_bits(), r.total_um2, r.lut_um2, r.lanes_um2, r.control_um2, r.flops);
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : hw.rtl_parameters()) params[k] = std::stoi(v);
    out.push_back({{"config", path},
                   {"name", hw.name},
                   {"rtl_parameters", params},
                   {"lut_bits", hw.lut_bits()},
                   {"entry_format", fmt},
                   {"area_um2",
                    {{"total", r.total_um2},
                     {"lut", r.lut_um2},
                     {"lanes", r.lanes_um2},
                     {"lane", r.lane_um2},
                     {"control_and_output", r.control_um2}}},
                   {"cells", r.cells},
                   {"flops", r.flops},
                   {"liberty", r.liberty}});
    if (timing) {
      const sim::TimingReport t = sim::analyze_timing(hw, opt, topt);
      std::printf("  timing at %.0f MHz (%.3f ns): worst slack %+.3f ns, critical path %.3f ns over %d cells "
                  "(%s -> %s), fmax %.0f MHz at this node; timing-driven area %.0f um2\n",
                  t.target_mhz, t.period_ns, t.worst_slack_ns, t.critical_path_ns, t.stages, t.startpoint.c_str(),
                  t.endpoint.c_str(), t.fmax_mhz, t.area_um2);
      if (t.worst_slack_ns < 0) {
        std::printf("  the config's clock does not fit at this node: %.0f MHz claimed, %.0f MHz met\n", t.target_mhz,
                    t.fmax_mhz);
      }
      out.back()["timing"] = {{"target_mhz", t.target_mhz},         {"period_ns", t.period_ns},
                              {"worst_slack_ns", t.worst_slack_ns}, {"critical_path_ns", t.critical_path_ns},
                              {"fmax_mhz", t.fmax_mhz},             {"startpoint", t.startpoint},
                              {"endpoint", t.endpoint},             {"stages", t.stages},
                              {"area_um2", t.area_um2},             {"sdc", t.sdc}};
      if (tech) {
        // The measured path, scaled: the same number `clock_mhz: auto` takes from the timing table.
        const sim::NodeScale f = tech->from_synthesis();
        const double scaled_ns = t.critical_path_ns * f.delay;
        const double area_scale = tech->logic_area_scale();
        std::printf("  at %s (%s, %.2f V): critical path %.3f ns (x %.4f, Stillmaker-Baas 2017 from %s at %.2f V), "
                    "fmax %.0f MHz; the config's %.0f MHz %s; area %.0f um2 (NAND2 equivalents x %.4g um2)\n",
                    tech->name.c_str(), tech->scaling.model.c_str(), tech->voltage_v, scaled_ns, f.delay,
                    tech->scaling.synthesis_model.c_str(), tech->scaling.synthesis_voltage_v, 1000.0 / scaled_ns,
                    hw.clock_mhz, 1000.0 / scaled_ns + 1e-9 >= hw.clock_mhz ? "fits" : "DOES NOT FIT",
                    r.total_um2 * area_scale, tech->nand2_um2.value);
        out.back()["timing"]["scaled"] = {{"tech", vm["tech"].as<std::string>()},
                                          {"node", tech->name},
                                          {"model", tech->scaling.model},
                                          {"voltage_v", tech->voltage_v},
                                          {"delay_factor", f.delay},
                                          {"critical_path_ns", scaled_ns},
                                          {"fmax_mhz", 1000.0 / scaled_ns},
                                          {"area_um2", r.total_um2 * area_scale}};
      }
    }
  }
  std::printf("(cell area from yosys stat -liberty %s)\n", liberty.c_str());
  if (vm.count("json")) {
    const std::string p = vm["json"].as<std::string>();
    write_file_atomically(p, [&](std::ostream& f) { f << out.dump(2) << "\n"; });
  }
  return 0;
}

}  // namespace sop::cli
