// Action counts from the SystemC model (model/tlm/system.h) instead of the analytic model: what
// `sop estimate --counts simulate` feeds estimate(). The simulation reports cycles, stalls by cause,
// weights, residuals, table loads and DRAM bytes; the structural counts it does not report (blocks,
// register bits, flop-LUT fills) come from the analytic model of the same workload and design.
#pragma once

#include "sim/estimate.h"
#include "model/tlm/system.h"

namespace sop::sim {

// `design` must describe the simulated unit: its LUT SRAM holds the config's resident_layers pairs
// (design_from_hw(hw, 0)).
ActionCounts counts_from_simulation(const sysc::SimulateResult& result, const Workload& workload, const Design& design);

}  // namespace sop::sim
