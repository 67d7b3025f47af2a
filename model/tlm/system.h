// One token pass of a model through the LUT decode unit, simulated: the SystemC TLM-2.0 system model
// (host, decode unit, DRAM, consumer, scoreboard; model/tlm/) with the unit's lanes either modelled at
// transaction level or taken from the verilated RTL. docs/simulate.md describes the model and its
// equations. This is the narrow header through which sim/ and cli/ use the model: it includes no
// SystemC, and model/tlm/system.cc does the elaboration.
//
// SystemC elaborates once per process: simulate() may be called once, with every engine and option
// set to compare in one call; they run side by side in one kernel, each with its own modules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/hw/hw_config.h"
#include "model/tlm/workload.h"

namespace sop::sysc {

enum class Engine { Tlm, Rtl };
const char* engine_name(Engine e);

struct SimulateOptions {
  Engine engine = Engine::Tlm;
  // Decode every weight and check it against the golden decode. Off ("counts-only"): timing without
  // values, scoreboard limited to order and completeness; TLM engine only.
  bool check_values = true;
  std::string trace_path;     // RTL engine: a VCD waveform of every cycle
  bool inject_fault = false;  // flips one product bit (the scoreboard's negative test)
};

struct SimulateResult {
  std::string engine;
  std::string workload;
  uint64_t layers = 0;
  uint64_t units = 1;
  uint64_t cycles = 0;          // the last unit's end
  std::vector<uint64_t> unit_cycles;  // each unit's end
  uint64_t weights = 0;
  uint64_t beats = 0;
  uint64_t residuals = 0;
  uint64_t chunks = 0;
  // Cycles in which no beat issued, by cause, summed over units (per unit, beats + stalls = its cycles).
  uint64_t stall_dram = 0;
  uint64_t stall_lut_reload = 0;
  uint64_t stall_consumer = 0;
  uint64_t stall_residual = 0;
  uint64_t stall_pipeline = 0;
  uint64_t table_loads = 0;     // into LUT slots, every unit's
  uint64_t table_fetches = 0;   // from DRAM (one per load, or one per layer load when units share)
  uint64_t streamed_tables = 0; // row-group tables loaded during their layer's stream (docs/simulate.md)
  uint64_t lut_misses = 0;
  uint64_t lut_prefetches = 0;
  uint64_t dram_bytes = 0;      // as moved: whole bursts
  uint64_t dram_requests = 0;
  double dram_utilization = 0;  // channel busy time / run time
  double weights_per_cycle = 0;
  double clock_mhz = 0;
  double tokens_per_s = 0;      // batch-1 decode: one pass over every layer per token
  // Physical limits: DRAM bandwidth / bytes per token (weights x stored bpw / 8, tables included),
  // and clock x lanes x units / weights. 0 when the DRAM is not modelled.
  double bytes_per_token = 0;
  double stored_bpw = 0;
  double dram_limit_tokens_per_s = 0;
  double lane_limit_tokens_per_s = 0;
  // Scoreboard.
  bool values_checked = false;
  uint64_t checked = 0;
  uint64_t mismatches = 0;
  uint64_t order_errors = 0;
  bool complete = false;
  // Speed of the simulation itself.
  double wall_seconds = 0;
  uint64_t rtl_clocked_cycles = 0;  // RTL engine: cycles evaluated (idle stretches are skipped)
};

// Runs every option set on the same workload and configuration. Throws sop::Error for a workload the
// unit cannot serve (formats) or an engine that is not built.
std::vector<SimulateResult> simulate(const hw::HwConfig& hw, const Workload& workload,
                                     const std::vector<SimulateOptions>& runs);

}  // namespace sop::sysc
