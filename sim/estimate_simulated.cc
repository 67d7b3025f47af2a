#include "sim/estimate_simulated.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/child_processes.h"
#include "base/error.h"

namespace sop::sim {

const char* counts_source_name(CountsSource s) { return s == CountsSource::Simulate ? "simulate" : "analytic"; }

CountsSource parse_counts_source(const std::string& text, const std::string& option) {
  if (text == "simulate") return CountsSource::Simulate;
  if (text == "analytic") return CountsSource::Analytic;
  throw std::invalid_argument(option + " must be simulate (the SystemC model) or analytic, got '" + text + "'");
}

nlohmann::json simulate_result_to_json(const sysc::SimulateResult& r) {
  return {{"engine", r.engine},
          {"workload", r.workload},
          {"layers", r.layers},
          {"units", r.units},
          {"cycles", r.cycles},
          {"unit_cycles", r.unit_cycles},
          {"weights", r.weights},
          {"beats", r.beats},
          {"residuals", r.residuals},
          {"chunks", r.chunks},
          {"weights_per_cycle", r.weights_per_cycle},
          {"stall_cycles",
           {{"dram", r.stall_dram},
            {"lut_reload", r.stall_lut_reload},
            {"consumer", r.stall_consumer},
            {"residual", r.stall_residual},
            {"pipeline", r.stall_pipeline}}},
          {"lut",
           {{"table_loads", r.table_loads},
            {"table_fetches", r.table_fetches},
            {"streamed_tables", r.streamed_tables},
            {"misses", r.lut_misses},
            {"prefetches", r.lut_prefetches}}},
          {"dram", {{"bytes", r.dram_bytes}, {"requests", r.dram_requests}, {"utilization", r.dram_utilization}}},
          {"clock_mhz", r.clock_mhz},
          {"tokens_per_s", r.tokens_per_s},
          {"bytes_per_token", r.bytes_per_token},
          {"stored_bpw", r.stored_bpw},
          {"dram_limit_tokens_per_s", r.dram_limit_tokens_per_s},
          {"lane_limit_tokens_per_s", r.lane_limit_tokens_per_s},
          {"scoreboard",
           {{"values_checked", r.values_checked},
            {"checked", r.checked},
            {"mismatches", r.mismatches},
            {"order_errors", r.order_errors},
            {"complete", r.complete}}},
          {"wall_seconds", r.wall_seconds},
          {"rtl_clocked_cycles", r.rtl_clocked_cycles}};
}

sysc::SimulateResult simulate_result_from_json(const nlohmann::json& j) {
  sysc::SimulateResult r;
  r.engine = j.at("engine").get<std::string>();
  r.workload = j.at("workload").get<std::string>();
  const auto count = [](const nlohmann::json& o, const char* key) { return o.at(key).get<uint64_t>(); };
  for (const auto& [key, field] : std::initializer_list<std::pair<const char*, uint64_t sysc::SimulateResult::*>>{
           {"layers", &sysc::SimulateResult::layers},
           {"units", &sysc::SimulateResult::units},
           {"cycles", &sysc::SimulateResult::cycles},
           {"weights", &sysc::SimulateResult::weights},
           {"beats", &sysc::SimulateResult::beats},
           {"residuals", &sysc::SimulateResult::residuals},
           {"chunks", &sysc::SimulateResult::chunks},
           {"rtl_clocked_cycles", &sysc::SimulateResult::rtl_clocked_cycles}}) {
    r.*field = count(j, key);
  }
  const nlohmann::json& stalls = j.at("stall_cycles");
  r.stall_dram = count(stalls, "dram");
  r.stall_lut_reload = count(stalls, "lut_reload");
  r.stall_consumer = count(stalls, "consumer");
  r.stall_residual = count(stalls, "residual");
  r.stall_pipeline = count(stalls, "pipeline");
  const nlohmann::json& lut = j.at("lut");
  r.unit_cycles = j.at("unit_cycles").get<std::vector<uint64_t>>();
  r.table_loads = count(lut, "table_loads");
  r.table_fetches = count(lut, "table_fetches");
  r.streamed_tables = lut.value("streamed_tables", uint64_t{0});  // absent in records written before it
  r.lut_misses = count(lut, "misses");
  r.lut_prefetches = count(lut, "prefetches");
  const nlohmann::json& dram = j.at("dram");
  r.dram_bytes = count(dram, "bytes");
  r.dram_requests = count(dram, "requests");
  r.dram_utilization = dram.at("utilization").get<double>();
  for (const auto& [key, field] : std::initializer_list<std::pair<const char*, double sysc::SimulateResult::*>>{
           {"weights_per_cycle", &sysc::SimulateResult::weights_per_cycle},
           {"clock_mhz", &sysc::SimulateResult::clock_mhz},
           {"tokens_per_s", &sysc::SimulateResult::tokens_per_s},
           {"bytes_per_token", &sysc::SimulateResult::bytes_per_token},
           {"stored_bpw", &sysc::SimulateResult::stored_bpw},
           {"dram_limit_tokens_per_s", &sysc::SimulateResult::dram_limit_tokens_per_s},
           {"lane_limit_tokens_per_s", &sysc::SimulateResult::lane_limit_tokens_per_s},
           {"wall_seconds", &sysc::SimulateResult::wall_seconds}}) {
    r.*field = j.at(key).get<double>();
  }
  const nlohmann::json& board = j.at("scoreboard");
  r.values_checked = board.at("values_checked").get<bool>();
  r.checked = count(board, "checked");
  r.mismatches = count(board, "mismatches");
  r.order_errors = count(board, "order_errors");
  r.complete = board.at("complete").get<bool>();
  return r;
}

std::vector<sysc::SimulateResult> simulate_in_child_process(const hw::HwConfig& hw, const sysc::Workload& workload,
                                                            const std::vector<sysc::SimulateOptions>& runs) {
  std::vector<sysc::SimulateResult> results;
  run_in_child_processes(
      1, 1,
      [&](std::size_t) {
        nlohmann::json j = nlohmann::json::array();
        for (const sysc::SimulateResult& r : sysc::simulate(hw, workload, runs)) j.push_back(simulate_result_to_json(r));
        return j.dump();
      },
      [&](std::size_t, const ChildResult& child) {
        if (!child.ok) throw Error(workload.description(), "", child.output);
        for (const auto& r : nlohmann::json::parse(child.output)) results.push_back(simulate_result_from_json(r));
      });
  return results;
}

ActionCounts counts_from_simulation(const sysc::SimulateResult& r, const Workload& workload, const Design& design) {
  ActionCounts c = count_actions(workload, design);
  const double pair_bits = static_cast<double>(design.pair_bits());
  const double burst_bits = 8.0 * design.dram_burst_bytes;
  c.cycles = static_cast<double>(r.cycles);
  c.decode_cycles = static_cast<double>(r.beats);
  c.bandwidth_stall_cycles = static_cast<double>(r.stall_dram);
  c.reload_stall_cycles = static_cast<double>(r.stall_lut_reload);
  c.decoded_weights = static_cast<double>(r.weights);
  c.lut_reads = c.decoded_weights;
  c.multiplies = c.decoded_weights;
  c.sparse_entries = static_cast<double>(r.residuals);
  // Every table load of the simulated pass wrote a LUT slot; table_fetches of them came from DRAM (units
  // sharing their tables fetch each once). The pass starts from an empty LUT: when every pair is
  // resident those loads are the model's one-time table load and a token reloads nothing (the analytic
  // model's rule); otherwise the pass's loads are what every token loads (the slots are replaced least
  // recently used, so a token cycling through more layers than slots reloads each one).
  const double reload_bits = std::ceil(pair_bits / burst_bits) * burst_bits;
  c.dram_weight_bits = std::max(0.0, 8.0 * static_cast<double>(r.dram_bytes) - static_cast<double>(r.table_fetches) * reload_bits);
  const bool resident = c.resident_slots >= c.table_pairs;
  c.lut_reloads = resident ? 0.0 : static_cast<double>(r.table_loads);
  c.dram_table_bits = resident ? 0.0 : static_cast<double>(r.table_fetches) * reload_bits;
  // Streamed row-group tables came with the chunks' bytes: tables, not weights (their bits per table are
  // the analytic model's, which counted the same tables).
  if (c.streamed_tables > 0) {
    const double streamed_bits = c.streamed_table_bits * static_cast<double>(r.streamed_tables) / c.streamed_tables;
    c.streamed_tables = static_cast<double>(r.streamed_tables);
    c.streamed_table_bits = streamed_bits;
    c.dram_weight_bits = std::max(0.0, c.dram_weight_bits - streamed_bits);
    c.dram_table_bits += streamed_bits;
  }
  c.lut_sram_write_bits = c.lut_reloads * pair_bits;
  c.lut_sram_read_bits = std::max(0.0, c.layers - c.lut_reloads) * pair_bits;
  c.seconds = r.clock_mhz > 0 ? c.cycles / (r.clock_mhz * 1e6) : c.cycles / (design.clock_mhz * 1e6);
  return c;
}

ActionCounts simulated_counts(const hw::HwConfig& base, const Design& design, const Workload& workload,
                              const sysc::Workload& simulated, sysc::SimulateResult* result) {
  const hw::HwConfig hw = hw_for_design(base, design);
  sysc::SimulateOptions run;
  run.engine = sysc::Engine::Tlm;
  run.check_values = false;
  const std::vector<sysc::SimulateResult> results = sysc::simulate(hw, simulated, {run});
  const sysc::SimulateResult& r = results.front();
  if (!r.complete || r.order_errors > 0) {
    throw Error(simulated.description(), "", "the SystemC model's scoreboard saw " + std::to_string(r.order_errors) +
                                                 " order errors" + (r.complete ? "" : " and an incomplete pass"));
  }
  if (result) *result = r;
  return counts_from_simulation(r, workload, design);
}

}  // namespace sop::sim
