// sop estimate: energy per token and per decoded weight, area, tokens/s and relative die cost of the
// LUT decode unit described by a hardware config running a pack file (docs/estimate.md).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "sim/estimate.h"
#include "model/hw/hw_config.h"
#include "sim/clock.h"
#include "sim/tech.h"

#include "sim/estimate_simulated.h"
#include "model/tlm/system.h"

namespace sop::cli {

void print_estimate(const sim::Design& design, const sim::Workload& workload, const sim::Estimate& e, std::ostream& out) {
  char line[256];
  const auto& c = e.counts;
  std::snprintf(line, sizeof line, "%s on %s: %d lanes at %.0f MHz, %s entries, LUT SRAM %lld bytes (%d of %d pairs resident, %s)\n",
                workload.name.c_str(), design.name.c_str(), design.lanes, design.clock_mhz,
                sim::entry_format_info(design.entry_format).name, static_cast<long long>(design.lut_sram_bytes),
                std::min(c.resident_slots, c.table_pairs), c.table_pairs, e.storage_kind.c_str());
  out << line;
  std::snprintf(line, sizeof line, "  %.4g decoded weights per token in %.4g cycles (%.4g decode, %.4g DRAM-bandwidth stall, %.4g table-reload stall)\n",
                c.decoded_weights, c.cycles, c.decode_cycles, c.bandwidth_stall_cycles, c.reload_stall_cycles);
  out << line;
  std::snprintf(line, sizeof line, "  tokens/s %.4g   energy/token %.4g uJ   pJ/weight %.4g (on chip %.4g)   power %.4g mW\n",
                e.tokens_per_s, e.energy_per_token_pj * 1e-6, e.pj_per_weight, e.pj_per_weight_on_chip, e.power_mw);
  out << line;
  out << "  DRAM read energy " << e.dram_pj_per_bit << " pJ/bit (" << e.dram_energy_source << ")\n";
  std::snprintf(line, sizeof line, "  area %.4f mm^2   relative die cost %.4f\n", e.area_mm2, e.relative_die_cost);
  out << line << "\n  energy per token by component:\n";
  for (const auto& [k, v] : e.energy_pj) {
    std::snprintf(line, sizeof line, "    %-28s %14.4g pJ %7.2f %%\n", k.c_str(), v,
                  e.energy_per_token_pj > 0 ? 100 * v / e.energy_per_token_pj : 0.0);
    out << line;
  }
  out << "  area by component:\n";
  for (const auto& [k, v] : e.area_um2) {
    std::snprintf(line, sizeof line, "    %-28s %14.0f um^2 %6.2f %%\n", k.c_str(), v, 100 * v * 1e-6 / e.area_mm2);
    out << line;
  }
}

int run_estimate(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string pack, hw_path, tech_path, json_path, entry_format, name, counts_source;
  long long lut_sram_bytes = 0;
  int repeat = 1;
  desc.add_options()
      ("pack", po::value(&pack)->required(), "pack file (.sop) from sop quantize")
      ("hw", po::value(&hw_path)->required(), "hardware configuration (configs/hw/*.yaml)")
      ("tech", po::value(&tech_path)->default_value("configs/tech/45nm.yaml"), "technology table (configs/tech/*.yaml)")
      ("json", po::value(&json_path), "also write the estimate as JSON to this file")
      ("lut-sram-bytes", po::value(&lut_sram_bytes)->default_value(0),
       "LUT SRAM size (0: the config's resident_layers pairs)")
      ("entry-format", po::value(&entry_format), "override the LUT entry format: hif, fp16 or bf16")
      ("repeat", po::value(&repeat)->default_value(1), "decode the pack's layers this many times per token")
      ("name", po::value(&name), "label for the model (default: the pack's source)")
      ("counts", po::value(&counts_source)->default_value("simulate"),
       "where action counts come from: simulate (the SystemC model, TLM engine, counts only; the LUT SRAM's "
       "table pairs are its resident layers) or analytic (the model in docs/estimate.md)");
  po::variables_map vm;
  if (auto code = parse_options("estimate", "--pack FILE.sop --hw CONFIG.yaml [--tech TECH.yaml] [--json OUT]", desc,
                                args, vm)) {
    return *code;
  }
  sim::CountsSource source;
  try {
    source = sim::parse_counts_source(counts_source);
  } catch (const std::invalid_argument& e) {
    std::cerr << "sop estimate: " << e.what() << "\n";
    return 2;
  }
  const sim::TechTable tech = sim::load_tech_table(tech_path);
  hw::HwConfig hw = hw::load_hw_config(hw_path);
  // clock_mhz: auto becomes the clock the unit meets at the tech node; the check is printed below.
  sim::apply_clock(hw, tech);
  sim::Design design = sim::design_from_hw(hw, 0);
  if (!entry_format.empty()) design.entry_format = sim::parse_entry_format(entry_format);
  design.lut_sram_bytes = lut_sram_bytes > 0 ? lut_sram_bytes : sim::design_from_hw(hw, 0).lut_sram_bytes;
  if (lut_sram_bytes <= 0 && !entry_format.empty()) {
    design.lut_sram_bytes = design.bytes_for_pairs(hw.decode_unit.lut.resident_layers);
  }
  const sim::Workload workload = sim::workload_from_pack(pack, name, repeat);
  if (workload.pack_entry_format != sim::entry_format_info(design.entry_format).name) {
    std::cerr << "note: the pack's tables are " << workload.pack_entry_format << "; the estimate is for "
              << sim::entry_format_info(design.entry_format).name << " entries\n";
  }
  // One process simulates once: the SystemC model gives the counts (the analytic model's cycles are
  // shown beside them), or checks the analytic counts.
  sim::ActionCounts counts = sim::count_actions(workload, design);
  const long long analytic_cycles = static_cast<long long>(counts.cycles);
  if (source == sim::CountsSource::Simulate) {
    counts = sim::simulated_counts(hw, design, workload, sysc::Workload::from_pack(pack, repeat));
    std::cout << "counts from the SystemC model: " << static_cast<long long>(counts.cycles)
              << " cycles (the analytic model: " << analytic_cycles << ")\n";
  } else {
    try {
      const sim::ActionCounts simulated = sim::simulated_counts(hw, design, workload, sysc::Workload::from_pack(pack, repeat));
      char line[160];
      std::snprintf(line, sizeof line, "counts from the analytic model: %lld cycles (the SystemC model: %lld, analytic %+.2f %%)\n",
                    analytic_cycles, static_cast<long long>(simulated.cycles),
                    100 * (counts.cycles - simulated.cycles) / simulated.cycles);
      std::cout << line;
    } catch (const Error& e) {
      std::cout << "counts from the analytic model: " << analytic_cycles << " cycles (the SystemC model refuses the design: "
                << e.what() << ")\n";
    }
  }
  const sim::Estimate e = sim::estimate(counts, design, tech);
  print_estimate(design, workload, e, std::cout);
  {
    sim::ClockCheck c = sim::check_clock(design, tech);
    c.from_auto = hw.clock_auto;
    std::cout << c.describe(tech.name) << "\n";
    if (c.over_limit) std::cerr << "sop estimate: " << c.describe(tech.name) << "\n";
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"model", workload.name},
                        {"pack", pack},
                        {"hw", hw_path},
                        {"tech", tech_path},
                        {"counts_model", counts_source},
                        {"design", sim::design_to_json(design)},
                        {"estimate", sim::estimate_to_json(e)}};
    write_file_atomically(json_path, [&](std::ostream& os) { os << j.dump(2) << "\n"; });
  }
  return 0;
}

}  // namespace sop::cli
