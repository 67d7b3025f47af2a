// What a layer's tables ask of the decode unit's LUT SRAM, so that the search only offers what fits.
//
// A layer's tables are resident while its blocks decode. A selector layout's 2^k tables are read in any
// order, block by block, so all of them must be resident at once: if they exceed the LUT the option is
// refused. Row-group tables are read in row order, so they stream: the LUT holds the current group's
// table and loads the next one's beside it (two tables resident), one entry per cycle on the load
// port while the current group decodes; a group that decodes in fewer cycles than a table takes to
// load leaves the lanes waiting (a reload stall). When all of a layer's groups fit, nothing streams.
//
// The knapsack weighs a stall against weight error through bits: a stall cycle is charged as the
// code bits the lanes would have decoded in it (lanes x code bits), as if the layer had that many more
// weights to fetch. The tables' own DRAM bytes are in the layer's bits already (they are stored).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sop {

struct SopLayout;  // quantizer/sop/sop_search.h, which carries a LutCapacity in its options

struct LutCapacity {
  int64_t sram_bytes = 0;  // 0: no limit
  int lanes = 8;           // weights decoded per cycle (the default unit's 8), for stall cycles
  bool limited() const { return sram_bytes > 0; }
};

struct LutDemand {
  int64_t tables = 0;           // tables the layer stores
  int64_t table_bits = 0;       // bits of one table in the LUT (entries x entry bits)
  int64_t resident_bits = 0;    // bits that must be resident at once
  bool fits = true;             // false: the option cannot run in this LUT
  bool streamed = false;        // row-group tables loaded group by group
  int64_t stall_cycles = 0;     // reload stalls of the whole layer (streamed only)
  double charged_bits = 0;      // what the stalls cost in the knapsack (lanes x code bits per cycle)
  std::string reason;           // why it does not fit, for messages
};

// The demand of a layout on a rows x cols matrix with LUT entries of entry_bits bits.
LutDemand lut_demand(const SopLayout& layout, int64_t rows, int64_t cols, int entry_bits, const LutCapacity& lut);

// Cycles the lanes spend on one row group (R rows of ceil(cols / lanes) beats) and the stall of
// loading a table of `entries` entries while the previous group decodes.
int64_t group_decode_cycles(int64_t rows_per_group, int64_t cols, int lanes);
int64_t group_reload_stall(int entries, int64_t rows_per_group, int64_t cols, int lanes);

// The smallest LUT size (bytes) whose menus equal those of a LUT of sram_bytes for these layouts, so
// that callers quantizing at many LUT sizes (a sweep's lut_sram_bytes axis) quantize once per distinct
// menu. A selector layout either fits or not, so sizes between two layouts' demands offer the same
// options, and every size above the largest demand offers all of them. A row-group layout's streaming
// charge depends on whether all of a matrix's groups fit, which depends on every size and shape, so
// with one among the layouts the answer is sram_bytes itself. sram_bytes <= 0 (no limit) stays as is.
int64_t equivalent_lut_bytes(const std::vector<SopLayout>& layouts, int entry_bits, int64_t sram_bytes);

}  // namespace sop
