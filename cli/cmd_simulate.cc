// sop simulate: one token pass of a packed model (or of Llama-2-7B's shapes) through the SystemC model
// of the LUT decode unit, on the transaction-level engine, the verilated RTL, or both side by side.
// Prints cycles, decoded weights per cycle, stalls by cause, LUT reloads, DRAM bytes and utilization,
// and tokens/s against the DRAM and lane limits. docs/simulate.md.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "model/hw/hw_config.h"
#include "model/tlm/system.h"
#include "sim/clock.h"
#include "sim/estimate_simulated.h"
#include "sim/tech.h"

namespace sop::cli {

namespace {

void print(const sysc::SimulateResult& r) {
  auto pct = [&](uint64_t x) { return r.cycles ? 100.0 * static_cast<double>(x) / static_cast<double>(r.cycles) : 0.0; };
  std::printf("engine %s: %llu cycles, %llu weights (%.3f per cycle), %llu beats, %llu residuals, %llu chunks\n",
              r.engine.c_str(), static_cast<unsigned long long>(r.cycles), static_cast<unsigned long long>(r.weights),
              r.weights_per_cycle, static_cast<unsigned long long>(r.beats), static_cast<unsigned long long>(r.residuals),
              static_cast<unsigned long long>(r.chunks));
  std::printf("  stalls: dram %llu (%.1f%%), lut reload %llu (%.1f%%), consumer %llu (%.1f%%), residual %llu (%.1f%%), "
              "pipeline %llu\n",
              static_cast<unsigned long long>(r.stall_dram), pct(r.stall_dram),
              static_cast<unsigned long long>(r.stall_lut_reload), pct(r.stall_lut_reload),
              static_cast<unsigned long long>(r.stall_consumer), pct(r.stall_consumer),
              static_cast<unsigned long long>(r.stall_residual), pct(r.stall_residual),
              static_cast<unsigned long long>(r.stall_pipeline));
  std::printf("  LUT: %llu table loads, %llu fetched from DRAM (%llu misses, %llu prefetched), %llu tables streamed\n",
              static_cast<unsigned long long>(r.table_loads), static_cast<unsigned long long>(r.table_fetches),
              static_cast<unsigned long long>(r.lut_misses), static_cast<unsigned long long>(r.lut_prefetches),
              static_cast<unsigned long long>(r.streamed_tables));
  if (r.units > 1) {
    std::printf("  %llu units, stalls summed over them; each unit's end:", static_cast<unsigned long long>(r.units));
    for (uint64_t c : r.unit_cycles) std::printf(" %llu", static_cast<unsigned long long>(c));
    std::printf("\n");
  }
  std::printf("  DRAM: %llu bytes in %llu requests, utilization %.1f%%\n", static_cast<unsigned long long>(r.dram_bytes),
              static_cast<unsigned long long>(r.dram_requests), 100 * r.dram_utilization);
  std::printf("  tokens/s %.4g at %.0f MHz; limits: DRAM %.4g (%.4g bytes/token, %.3f bpw stored), lanes %.4g\n",
              r.tokens_per_s, r.clock_mhz, r.dram_limit_tokens_per_s, r.bytes_per_token, r.stored_bpw,
              r.lane_limit_tokens_per_s);
  if (r.values_checked) {
    std::printf("  scoreboard: %llu weights checked against the golden decode, %llu mismatches%s\n",
                static_cast<unsigned long long>(r.checked), static_cast<unsigned long long>(r.mismatches),
                r.complete ? "" : ", INCOMPLETE");
  } else {
    std::printf("  scoreboard: counts-only run (values not decoded), order %s\n",
                r.order_errors == 0 && r.complete ? "ok" : "BROKEN");
  }
  std::printf("  simulation: %.3f s wall, %.3g decoded weights/s", r.wall_seconds,
              r.wall_seconds > 0 ? static_cast<double>(r.weights) / r.wall_seconds : 0.0);
  if (r.engine == "rtl") {
    std::printf(", %.3g cycles/s (%llu clocked, idle cycles skipped)",
                r.wall_seconds > 0 ? static_cast<double>(r.cycles) / r.wall_seconds : 0.0,
                static_cast<unsigned long long>(r.rtl_clocked_cycles));
  }
  std::printf("\n");
}

}  // namespace

int run_simulate(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("pack", po::value<std::string>(), "pack file (.sop) to stream, every quantized layer in order")
    ("shapes", po::value<std::string>(),
     "instead of a pack: a model's shapes with generated values, from the synthetic shape table: "
     "llama2-7b[?layers=N&lm_head=0|1&seed=S&sparse=F&values=0|1] or llama-small[?...] (docs/simulate.md)")
    ("repeat", po::value<int>()->default_value(1),
     "with --pack: stream its layers this many times per token, as distinct layers (a sweep model's repeat:)")
    ("hw", po::value<std::string>()->required(), "hardware configuration YAML (configs/hw/*.yaml)")
    ("engine", po::value<std::string>()->default_value("tlm"), "tlm, rtl, or both (side by side, compared)")
    ("counts-only", "TLM engine: timing without decoding values (scoreboard checks order only)")
    ("dram-gbps", po::value<double>(), "override dram.bandwidth_gb_s")
    ("tech", po::value<std::string>(),
     "technology table whose scaled timing checks the clock (and sets clock_mhz: auto); default "
     "configs/tech/45nm.yaml when it exists")
    ("json", po::value<std::string>(), "write the results as JSON to this file")
    ("trace", po::value<std::string>(), "RTL engine: write a VCD waveform of every cycle")
    ("inject-fault", "TLM engine: flip one product bit, to see the scoreboard catch it (exits 1)");
  po::variables_map vm;
  if (auto code = parse_options("simulate",
                                "(--pack FILE.sop | --shapes SPEC) --hw CONFIG.yaml [--engine tlm|rtl|both] "
                                "[--json OUT] [--trace FILE.vcd]",
                                desc, args, vm)) {
    return *code;
  }
  if (vm.count("pack") == vm.count("shapes")) {
    std::fprintf(stderr, "sop simulate: give exactly one of --pack and --shapes\n");
    return 2;
  }
  hw::HwConfig hw = hw::load_hw_config(vm["hw"].as<std::string>());
  if (vm.count("dram-gbps")) hw.dram.bandwidth_gb_s = vm["dram-gbps"].as<double>();
  const std::string engine = vm["engine"].as<std::string>();
  if (engine != "tlm" && engine != "rtl" && engine != "both") {
    std::fprintf(stderr, "sop simulate: --engine must be tlm, rtl or both\n");
    return 2;
  }
  // The clock against the unit's timing at the tech node: auto takes it, a clock above it is flagged.
  const std::string default_tech = "configs/tech/45nm.yaml";
  const bool have_tech = vm.count("tech") || std::ifstream(default_tech).good() || hw.clock_auto;
  std::string clock_line = "clock " + std::to_string(static_cast<long>(hw.clock_mhz)) +
                           " MHz: not checked (no technology table: pass --tech)";
  nlohmann::json clock_json = {{"clock_mhz", hw.clock_mhz}, {"checked", false}};
  bool clock_over = false;
  if (have_tech) {
    const std::string tech_path = vm.count("tech") ? vm["tech"].as<std::string>() : default_tech;
    const sim::TechTable tech = sim::load_tech_table(tech_path);
    const sim::ClockCheck c = sim::apply_clock(hw, tech);
    clock_line = c.describe(tech.name);
    clock_over = c.over_limit;
    clock_json = {{"clock_mhz", hw.clock_mhz}, {"checked", c.known},      {"auto", c.from_auto},
                  {"tech", tech_path},         {"limit_mhz", c.known ? c.limit.fmax_mhz : 0},
                  {"over_limit", c.over_limit}, {"basis", c.known ? c.limit.basis : c.unknown_reason}};
  }
  const bool counts_only = vm.count("counts-only") != 0;
  const auto t0 = std::chrono::steady_clock::now();
  const int repeat = vm["repeat"].as<int>();
  if (repeat != 1 && !vm.count("pack")) {
    std::fprintf(stderr, "sop simulate: --repeat needs --pack (a shape list has its own layers=)\n");
    return 2;
  }
  const sysc::Workload workload = vm.count("pack") ? sysc::Workload::from_pack(vm["pack"].as<std::string>(), repeat)
                                                   : sysc::Workload::synthetic(vm["shapes"].as<std::string>(),
                                                                               hw::unit_formats(hw));
  std::vector<sysc::SimulateOptions> runs;
  if (engine != "rtl") {
    sysc::SimulateOptions o;
    o.engine = sysc::Engine::Tlm;
    o.check_values = !counts_only;
    o.inject_fault = vm.count("inject-fault") != 0;
    runs.push_back(o);
  }
  if (engine != "tlm") {
    sysc::SimulateOptions o;
    o.engine = sysc::Engine::Rtl;
    if (vm.count("trace")) o.trace_path = vm["trace"].as<std::string>();
    runs.push_back(o);
  } else if (vm.count("trace")) {
    std::fprintf(stderr, "sop simulate: --trace needs --engine rtl or both\n");
    return 2;
  }
  std::printf("simulate %s on %s (%s): %zu layers, %llu weights, %d x %d lanes at %.0f MHz, DRAM %.4g GB/s in %d "
              "channel(s)%s%s\n",
              workload.description().c_str(), vm["hw"].as<std::string>().c_str(), hw.name.c_str(),
              workload.layers().size(), static_cast<unsigned long long>(workload.weights()), hw.units,
              hw.decode_unit.lanes, hw.clock_mhz, hw.dram.bandwidth_gb_s, hw.dram.channels,
              hw.dram.preset.empty() ? "" : ", preset ", hw.dram.preset.c_str());
  std::printf("%s\n", clock_line.c_str());
  if (clock_over) std::fprintf(stderr, "sop simulate: %s\n", clock_line.c_str());
  const std::vector<sysc::SimulateResult> results = sysc::simulate(hw, workload, runs);
  const double total_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json out = {{"config", vm["hw"].as<std::string>()}, {"clock", clock_json}, {"runs", nlohmann::json::array()}};
  bool ok = true;
  for (const auto& r : results) {
    print(r);
    out["runs"].push_back(sim::simulate_result_to_json(r));
    ok = ok && r.mismatches == 0 && r.order_errors == 0 && r.complete;
  }
  if (results.size() == 2) {
    const double a = static_cast<double>(results[0].cycles), b = static_cast<double>(results[1].cycles);
    const double diff = b > 0 ? 100.0 * (a - b) / b : 0.0;
    std::printf("tlm vs rtl: cycles %+.3f%% (tlm %llu, rtl %llu), scoreboard mismatches tlm %llu rtl %llu\n", diff,
                static_cast<unsigned long long>(results[0].cycles), static_cast<unsigned long long>(results[1].cycles),
                static_cast<unsigned long long>(results[0].mismatches), static_cast<unsigned long long>(results[1].mismatches));
    out["cycle_difference_percent"] = diff;
    // The TLM engine is the RTL's pipeline in closed form (docs/simulate.md): any difference is a defect of
    // one of them, so a compared run fails on it.
    if (results[0].cycles != results[1].cycles) {
      std::fprintf(stderr, "sop simulate: the engines disagree on cycles (tlm %llu, rtl %llu)\n",
                   static_cast<unsigned long long>(results[0].cycles), static_cast<unsigned long long>(results[1].cycles));
      ok = false;
    }
  }
  std::printf("total wall time %.2f s\n", total_wall);
  out["wall_seconds"] = total_wall;
  if (vm.count("json")) {
    write_file_atomically(vm["json"].as<std::string>(), [&](std::ostream& f) { f << out.dump(2) << "\n"; });
  }
  return ok ? 0 : 1;
}

}  // namespace sop::cli
