#include "quantizer/sop/lut_capacity.h"

#include <algorithm>

#include "quantizer/sop/sop_search.h"

namespace sop {

int64_t group_decode_cycles(int64_t rows_per_group, int64_t cols, int lanes) {
  return rows_per_group * ((cols + lanes - 1) / lanes);
}

int64_t group_reload_stall(int entries, int64_t rows_per_group, int64_t cols, int lanes) {
  return std::max<int64_t>(0, entries - group_decode_cycles(rows_per_group, cols, lanes));
}

LutDemand lut_demand(const SopLayout& layout, int64_t rows, int64_t cols, int entry_bits, const LutCapacity& lut) {
  LutDemand d;
  const int entries = 1 << layout.code_bits;
  d.table_bits = static_cast<int64_t>(entries) * entry_bits;
  if (layout.rows_per_table > 0) {
    d.tables = (rows + layout.rows_per_table - 1) / layout.rows_per_table;
  } else {
    d.tables = layout.table_count();
  }
  d.resident_bits = d.tables * d.table_bits;
  if (!lut.limited()) return d;
  const int64_t capacity = lut.sram_bytes * 8;
  if (d.resident_bits <= capacity) return d;
  if (layout.rows_per_table == 0) {
    d.fits = false;
    d.reason = std::to_string(d.tables) + " tables of " + std::to_string(d.table_bits) + " bits need " +
               std::to_string(d.resident_bits) + " bits resident, the LUT holds " + std::to_string(capacity);
    return d;
  }
  // Streamed: the current group's table and the next one's.
  d.streamed = true;
  d.resident_bits = std::min<int64_t>(2, d.tables) * d.table_bits;
  if (d.resident_bits > capacity) {
    d.fits = false;
    d.reason = "streaming row-group tables needs two tables (" + std::to_string(d.resident_bits) +
               " bits) resident, the LUT holds " + std::to_string(capacity);
    return d;
  }
  // Every group after the first waits for its table while the one before it decodes; the first
  // table loads before the layer starts, like any layer's tables.
  const int64_t full_groups = rows / layout.rows_per_table;
  const int64_t last_rows = rows - full_groups * layout.rows_per_table;
  for (int64_t g = 1; g < d.tables; ++g) {
    const int64_t previous_rows = (g - 1 < full_groups) ? layout.rows_per_table : last_rows;
    d.stall_cycles += group_reload_stall(entries, previous_rows, cols, lut.lanes);
  }
  d.charged_bits = static_cast<double>(d.stall_cycles) * lut.lanes * layout.code_bits;
  return d;
}

int64_t equivalent_lut_bytes(const std::vector<SopLayout>& layouts, int entry_bits, int64_t sram_bytes) {
  if (sram_bytes <= 0) return sram_bytes;
  int64_t largest_fitting = 0;
  for (const SopLayout& layout : layouts) {
    if (layout.rows_per_table > 0) return sram_bytes;
    const int64_t bits = static_cast<int64_t>(layout.table_count()) * (int64_t{1} << layout.code_bits) * entry_bits;
    const int64_t bytes = (bits + 7) / 8;
    if (bytes <= sram_bytes) largest_fitting = std::max(largest_fitting, bytes);
  }
  // Nothing fits: the size itself, so that the quantizer's refusal names it.
  return largest_fitting > 0 ? largest_fitting : sram_bytes;
}

}  // namespace sop
