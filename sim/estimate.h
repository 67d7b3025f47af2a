// Energy, area, throughput and cost of the LUT decode unit running a quantized model (docs/estimate.md).
//
// Estimation is Accelergy's split: action counts (what the hardware does per token) times energy per
// action from a technology table (sim/tech.h), broken down by component; area per component from the
// measured logic table and the storage curve; relative die cost from the tech table's cost model.
//
// The counts come from the SystemC model by default (sim/estimate_simulated.h: the design mapped onto a
// hardware config by hw_for_design, one token pass simulated), or from count_actions(), an analytic
// model of the unit streaming every quantized matrix once per token (batch-1 decode), on request
// (--counts analytic): it estimates designs the SystemC model does not build (BF16 entries, more than
// 64 lanes), and a sweep checks it against the SystemC model on a sample of its points.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/hw/hw_config.h"
#include "sim/tech.h"

namespace sop::sim {

// ---- What is decoded --------------------------------------------------------------------------

// One quantized matrix as the unit sees it: shapes and the bits it streams from DRAM.
struct WorkloadLayer {
  std::string name;
  int64_t rows = 0;
  int64_t cols = 0;
  int block_size = 16;
  int code_bits = 4;
  int scale_bits_per_block = 8;   // scale and selection bit
  int64_t sparse_entries = 0;     // residual replacement entries
  int sparse_index_bits = 32;
  int pack_entry_bits = 11;       // LUT entry width the pack was made for
  int tables = 2;                 // T: the layer's tables (selector tables, or one per row group)
  int64_t rows_per_table = 0;     // > 0: one table per group of this many rows (streamed beyond a slot)
  int64_t tables_from = -1;       // >= 0: shares the table set of that earlier layer (index in layers)

  int64_t weights() const { return rows * cols; }
  int64_t blocks() const { return rows * ((cols + block_size - 1) / block_size); }
};

struct Workload {
  std::string name;               // a label: the model's name in sweeps
  std::string source;             // the pack file
  std::string pack_entry_format;  // "hif" or "fp16"
  std::vector<WorkloadLayer> layers;  // in the order a token visits them
  int64_t weights() const;
};

// Reads the layer list of a pack file (no weights are decoded). repeat > 1 lists the layers that many
// times, for a model whose layers are all alike and of which one layer was quantized.
Workload workload_from_pack(const std::string& pack_path, const std::string& name = "", int repeat = 1);

// ---- The design being estimated ---------------------------------------------------------------

enum class LutEntryFormat { Hif, Fp16, Bf16 };

struct EntryFormatInfo {
  const char* name;
  int bits;              // stored width
  int significand_bits;  // width of the integer the lane multiplies
  int exponent_bits;
};
const EntryFormatInfo& entry_format_info(LutEntryFormat f);
// "hif", "fp16", "bf16" (case-insensitive); throws std::invalid_argument otherwise.
LutEntryFormat parse_entry_format(const std::string& name);

struct Design {
  std::string name;
  double clock_mhz = 1000;
  int lanes = 8;
  int entries_per_table = 16;
  LutEntryFormat entry_format = LutEntryFormat::Hif;
  int64_t lut_sram_bytes = 0;     // storage for resident layers' tables (tables_per_layer each)
  int tables_per_layer = 2;       // tables one LUT slot holds (decode_unit.lut.tables_per_layer)
  int fetch_request_bytes = 4096; // decode_unit.fetch.request_bytes: rows per chunk, for streamed tables
  int scale_significand_bits = 4; // mantissa bits + the implicit one
  int scale_exponent_bits = 4;
  int index_bits = 32;
  int pipeline_stages = 1;        // register stages after the LUT read (the clock check's timing row)
  // System around the unit; a hardware config's 0 ("not modelled") takes these defaults.
  double dram_gb_s = 25.6;
  double dram_latency_ns = 100;
  int dram_burst_bytes = 64;
  // DRAM read energy of the memory system (a hardware config's dram.energy_pj_per_bit, e.g. from its
  // preset); 0: the technology table's dram_per_bit.
  double dram_pj_per_bit = 0;
  std::string dram_energy_source;
  bool prefetch_next_layer = true;

  int64_t pair_bits() const;      // one layer slot's tables: tables_per_layer (the pair by default) x entries
  // LUT SRAM bytes that hold `pairs` table pairs: the one LUT size formula (a hardware config's
  // resident_layers gives the default size; HwConfig::lut_bits() is the same count in bits).
  int64_t bytes_for_pairs(int pairs) const;
  // The table pairs lut_sram_bytes holds (its inverse, rounded down); throws sop::Error naming
  // lut_sram_bytes when it holds none.
  int64_t resident_pairs() const;
};

// The design a hardware config describes. lut_sram_bytes = 0 sizes the LUT SRAM for the config's
// resident_layers pairs.
Design design_from_hw(const hw::HwConfig& hw, int64_t lut_sram_bytes = 0);

// The other way: the hardware config that builds `design`, for the SystemC model (sop simulate). The
// base config gives what a design does not describe (scale format, fetch, consumer); the design's
// lanes, clock, DRAM, entries and prefetch policy replace the base's, its entry format becomes
// decode_unit.lut.entry_format and its LUT SRAM becomes decode_unit.lut.resident_layers = the table
// pairs it holds. Throws sop::Error naming the design's field for a design the unit cannot be built
// as: BF16 entries (an estimator-only what-if), lanes beyond hw::kMaxLanes or beyond the base's
// consumer buffer, a LUT SRAM that holds no pair or more than hw::kMaxResidentLayers, a scale or
// index width other than the base's.
hw::HwConfig hw_for_design(const hw::HwConfig& base, const Design& design);

// ---- Action counts ----------------------------------------------------------------------------

// Per token. Names follow the SystemC model's counters (model/tlm/system.h) so either can feed estimate().
struct ActionCounts {
  double decoded_weights = 0;
  double blocks = 0;
  double sparse_entries = 0;
  double layers = 0;
  double decode_cycles = 0;            // lanes busy
  double bandwidth_stall_cycles = 0;   // waiting for weight bits from DRAM
  double reload_stall_cycles = 0;      // waiting for a layer's tables (streamed tables' stalls included)
  // Streamed row-group tables (docs/simulate.md "Streamed tables"): the first window's load plus, per
  // later group, the cycles its table's load outlasts the decode before it; the TLM's lut_reload of
  // such a layer on an otherwise idle memory.
  double table_stream_stall_cycles = 0;
  double streamed_tables = 0;          // row-group tables loaded during their layer's stream
  double streamed_table_bits = 0;      // ... their bits: read from DRAM with the chunks, written into the LUT
  double cycles = 0;
  double lut_reads = 0;                // entries read by the lanes from the active flop LUT
  double lut_fills = 0;                // table pairs written into the active flop LUT (one per layer)
  double lut_sram_read_bits = 0;       // pair bits read from the LUT SRAM (resident layers)
  double lut_reloads = 0;              // pairs loaded from DRAM (layers not resident)
  double lut_sram_write_bits = 0;      // reloaded bits written into the LUT SRAM
  double dram_weight_bits = 0;         // codes, scales, selection bits, residuals
  double dram_table_bits = 0;          // reloaded tables, rounded up to whole bursts
  double multiplies = 0;
  double register_bits = 0;            // pipeline register bits written
  double seconds = 0;
  int resident_slots = 0;              // table pairs the LUT SRAM holds
  int table_pairs = 0;                 // distinct table sets a token needs (one per layer, shared sets once)
};

// The analytic counts model (docs/estimate.md). Throws sop::Error when the design cannot run the
// workload (tables wider than the unit's, a LUT SRAM smaller than one pair).
ActionCounts count_actions(const Workload& workload, const Design& design);

// ---- The estimate -----------------------------------------------------------------------------

using Breakdown = std::vector<std::pair<std::string, double>>;

struct Estimate {
  ActionCounts counts;
  Breakdown energy_pj;        // per token, by component
  Breakdown area_um2;         // by component
  double energy_per_token_pj = 0;
  double pj_per_weight = 0;          // everything, DRAM included
  double pj_per_weight_on_chip = 0;  // the decode unit alone (no DRAM)
  double area_mm2 = 0;
  double tokens_per_s = 0;
  double weights_per_s = 0;
  double relative_die_cost = 0;
  double power_mw = 0;
  int64_t lut_bits = 0;              // one pair x resident slots
  std::string storage_kind;          // "flops" or "sram" (by the crossover in the tech table)
  double dram_pj_per_bit = 0;        // the DRAM read energy used, and where it comes from
  std::string dram_energy_source;
  // The design's clock against what its unit meets at the tech table's node (sim/clock.h): the limit
  // (0 when the table has no timing for this unit), whether the clock is above it, and on what basis.
  double clock_limit_mhz = 0;
  bool clock_over_limit = false;
  std::string clock_basis;
};

Estimate estimate(const ActionCounts& counts, const Design& design, const TechTable& tech);

nlohmann::json design_to_json(const Design& d);
nlohmann::json estimate_to_json(const Estimate& e);
// The inverses, for records read back (a sweep's point files): to_json(from_json(j)) == j. A number
// written as null (JSON has no NaN or infinity) reads back as NaN. Throw when a key is missing.
Design design_from_json(const nlohmann::json& j);
Estimate estimate_from_json(const nlohmann::json& j);

}  // namespace sop::sim
