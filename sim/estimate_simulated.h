// Action counts from the SystemC model (model/tlm/system.h): what `sop estimate` and `sop sweep` feed
// estimate() by default (--counts simulate); the analytic model (count_actions) is the explicit
// alternative (--counts analytic). The simulation reports cycles, stalls by cause, weights, residuals,
// table loads and DRAM bytes; the structural counts it does not report (blocks, register bits,
// flop-LUT fills) come from the analytic model of the same workload and design.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tlm/system.h"
#include "sim/estimate.h"

namespace sop::sim {

// Where a point's action counts come from.
enum class CountsSource { Simulate, Analytic };
const char* counts_source_name(CountsSource s);  // "simulate", "analytic"
// "simulate" or "analytic"; throws std::invalid_argument naming `option` otherwise.
CountsSource parse_counts_source(const std::string& text, const std::string& option = "--counts");

// A simulation's record as `sop simulate --json` writes it (one entry of "runs"), and back.
nlohmann::json simulate_result_to_json(const sysc::SimulateResult& r);
sysc::SimulateResult simulate_result_from_json(const nlohmann::json& j);

// sysc::simulate() in a child process (base/child_processes.h), so that this process has not
// elaborated SystemC afterwards and may simulate again or run a sweep (`sop demo` does both). Throws
// sop::Error with the child's message when the simulation fails.
std::vector<sysc::SimulateResult> simulate_in_child_process(const hw::HwConfig& hw, const sysc::Workload& workload,
                                                            const std::vector<sysc::SimulateOptions>& runs);

// `design` must describe the simulated unit: hw_for_design(base, design) is the config simulated.
ActionCounts counts_from_simulation(const sysc::SimulateResult& result, const Workload& workload, const Design& design);

// The SystemC model's counts for `design`: maps it onto a hardware config (hw_for_design, which refuses
// what the unit cannot be built as), simulates one token pass of `simulated` (the same layers as
// `workload`) on the TLM engine without values, and converts the result. SystemC elaborates once per
// process: call this once per process (the sweep runs each point in its own child process).
// `result`, when given, receives the simulation's own record.
ActionCounts simulated_counts(const hw::HwConfig& base, const Design& design, const Workload& workload,
                              const sysc::Workload& simulated, sysc::SimulateResult* result = nullptr);

}  // namespace sop::sim
