#include "sim/estimate_simulated.h"

#include <algorithm>
#include <cmath>

namespace sop::sim {

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
  // sharing their tables fetch each once).
  c.lut_reloads = static_cast<double>(r.table_loads);
  c.dram_table_bits = static_cast<double>(r.table_fetches) * std::ceil(pair_bits / burst_bits) * burst_bits;
  c.dram_weight_bits = std::max(0.0, 8.0 * static_cast<double>(r.dram_bytes) - c.dram_table_bits);
  c.lut_sram_write_bits = c.lut_reloads * pair_bits;
  c.lut_sram_read_bits = std::max(0.0, c.layers - c.lut_reloads) * pair_bits;
  c.seconds = r.clock_mhz > 0 ? c.cycles / (r.clock_mhz * 1e6) : c.cycles / (design.clock_mhz * 1e6);
  return c;
}

}  // namespace sop::sim
