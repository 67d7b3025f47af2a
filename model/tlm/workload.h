// What the decode unit streams in one token pass: the quantized layers, in order, and how each is cut
// into fetch requests ("chunks") and beats. Shared by both engines (transaction-level and RTL) so that
// they see the same bytes, the same chunks and the same beats; no SystemC here.
//
// A layer comes from a pack file (every value real) or from a synthetic shape list (Llama-2-7B's shapes,
// values drawn from a seeded generator, or no values at all for the counts-only benchmark).
//
// The unit has one set of formats (the hardware config); a layer is served when its formats fit:
//   scale  every scale code the layer uses must decode to a value the unit's scale format holds exactly
//          (e.g. sE3M3 inside sE4M3); it is re-encoded at fetch through the golden scale functions;
//   codes  4-bit layers run on a 6-bit unit (tables in the low 16 entries), not the reverse;
//   entries every LUT entry and residual entry must be exact in the unit's entry format (HIF -> FP16 is).
// A chunk's weights go into beats back to back, row after row and block after block: a beat may span
// several blocks (each lane carries its block's scale and table) and a block several beats,
// whatever the block size (g12, g20, g24 as well as multiples of the lanes). Only a chunk's last beat is
// padded, with code 0; padded lanes are decoded and discarded. The RTL (rtl/sop_decode_unit.sv) and the
// golden decode stream follow the same rule.
//
// Tables: a layer has T tables, picked per block by its selector (T = 2^select_bits: the pair, or up to
// 16), or one per group of rows_per_table rows (table = row / rows_per_table, possibly thousands). A LUT
// slot holds decode_unit.lut.tables_per_layer = W tables. Selector tables are used in any order, so a
// selector layer with T > W is refused (sop::Error naming the layer, its select bits and the slot's
// size). Row-group tables are used in row order, so a layer with more of them than W streams them: the
// slot's W tables are a window, table g goes into slot table g mod W, and the first W tables are
// loaded with the layer while the others are loaded during the stream (docs/simulate.md "Streamed
// tables"); their bytes travel with the chunk holding their group's first row.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/golden/decode.h"
#include "model/hw/hw_config.h"

namespace sop {
class PackFile;
struct SopLayerResult;
}

namespace sop::sysc {

// The unit's side of the match: lanes, formats and index width, derived from the hardware description.
using UnitFormats = hw::UnitFormats;

// One layer's values for a run of whole rows, in the layer's own formats.
struct RowsData {
  std::vector<uint8_t> codes;               // one per weight, row-major
  std::vector<uint32_t> scale_codes;        // per block, the layer's scale format
  std::vector<uint32_t> table;              // per block: which of the layer's tables it reads
  std::vector<golden::Residual> residuals;  // index relative to the first row's first weight, sorted
};

// The distinct scale codes a layer's blocks use and the distinct entries of its residuals, ascending:
// what a unit must hold exactly to serve the layer.
struct ValuesUsed {
  std::vector<uint32_t> scale_codes;
  std::vector<uint32_t> residual_entries;
};

// A quantized layer as a source of rows. Implementations: pack-file layers and synthetic layers.
class LayerSource {
 public:
  virtual ~LayerSource() = default;
  virtual const std::string& name() const = 0;
  virtual int64_t rows() const = 0;
  virtual int64_t cols() const = 0;
  virtual int block_size() const = 0;
  virtual const golden::DecodeConfig& decode() const = 0;
  virtual const golden::LayerTables& tables() const = 0;  // T x entries_per_table, layer entry format
  // > 0: one table per group of this many rows (table = row / rows_per_table); 0: a per-block selector.
  virtual int64_t rows_per_table() const { return 0; }
  // >= 0: the layer shares the table set of that earlier layer of its workload (same tables, stored
  // once): a unit that holds them already does not load them again. -1: its own tables.
  virtual int64_t tables_from() const { return -1; }
  virtual int scale_bits_per_block() const = 0;            // scale plus select bit, as stored
  virtual int sparse_bits_per_entry() const = 0;           // index + entry, as stored
  virtual bool has_values() const = 0;
  // Residuals in rows [row0, row1): a count only, cheap (binary search or arithmetic).
  virtual uint64_t residuals_in_rows(int64_t row0, int64_t row1) const = 0;
  // Values of rows [row0, row1). Only when has_values().
  virtual void read_rows(int64_t row0, int64_t row1, RowsData& out) const = 0;
  // Only when has_values(). This default reads every row; a pack layer reads its scale codes and
  // residuals alone, once for all the repeats of the layer.
  virtual ValuesUsed values_used() const;
};

// One fetch request: whole rows of one layer.
struct Chunk {
  int64_t row0 = 0;
  int64_t row1 = 0;
  uint64_t weights = 0;
  uint64_t beats = 0;       // lanes-wide beats: ceil(weights / lanes)
  uint64_t residuals = 0;
  uint64_t bytes = 0;       // codes + scales + select bits + residuals of these rows (+ streamed tables)
};

// Rows per fetch request: as many whole rows of `row_bits` (codes, scales, select bits; residuals and
// streamed tables counted apart) as request_bytes hold, at least one. The one chunking rule: the system
// model's and the analytic estimator's (sim/estimate.cc).
inline int64_t rows_per_request(int request_bytes, uint64_t row_bits) {
  const auto rows = static_cast<int64_t>(static_cast<uint64_t>(request_bytes) * 8 / row_bits);
  return rows > 1 ? rows : 1;
}

// A layer made ready for a given unit: converted tables, scale-code map, beats per row.
class PreparedLayer {
 public:
  PreparedLayer(const LayerSource& source, const UnitFormats& unit, int request_bytes);

  const LayerSource& source() const { return *source_; }
  const golden::LayerTables& unit_tables() const { return unit_tables_; }  // all T tables, the unit's formats
  uint64_t table_bytes() const { return table_bytes_; }  // the tables loaded with the layer, as stored in DRAM
  int64_t table_count() const { return table_count_; }   // T
  // More tables than a slot holds: the tables beyond the first window are loaded during the stream.
  bool streams_tables() const { return table_count_ > tables_per_slot_; }
  int64_t tables_per_slot() const { return tables_per_slot_; }
  // Tables loaded with the layer (from table index 0): T, or the slot's W when streamed.
  int64_t first_load_tables() const { return streams_tables() ? tables_per_slot_ : table_count_; }
  uint64_t entries_per_table() const { return entries_per_table_; }  // in the unit's tables
  // Streamed layers: the row group of table g starts at row g x rows_per_table; its bytes come with the
  // chunk holding that row.
  int64_t chunk_of_table(int64_t table) const { return table * rows_per_table_ / rows_per_chunk_; }
  // The lowest and highest table beat `beat` of chunk `chunk` reads (row-group tables; 0, 0 otherwise).
  std::pair<int64_t, int64_t> beat_tables(const Chunk& chunk, uint64_t beat) const;
  uint64_t weights() const { return static_cast<uint64_t>(source_->rows() * source_->cols()); }
  int64_t chunk_count() const { return (source_->rows() + rows_per_chunk_ - 1) / rows_per_chunk_; }
  Chunk chunk(int64_t index) const;
  uint64_t stream_bytes() const;  // every chunk's bytes

  // Scale code in the unit's format; throws sop::Error when the value does not fit exactly.
  uint32_t unit_scale(uint32_t layer_code) const;
  uint32_t unit_entry(uint32_t layer_entry) const;

 private:
  const LayerSource* source_;
  UnitFormats unit_;
  golden::LayerTables unit_tables_;
  std::vector<int32_t> scale_map_;  // layer code -> unit code, -1: not exact in the unit
  bool same_entry_format_ = true;
  uint64_t table_bytes_ = 0;
  uint64_t one_table_bits_ = 0;   // one table as stored in DRAM (layer entry format)
  int64_t table_count_ = 2;
  int64_t tables_per_slot_ = 2;
  int64_t rows_per_table_ = 0;
  uint64_t entries_per_table_ = 16;
  uint64_t lanes_ = 1;
  int64_t rows_per_chunk_ = 1;
  uint64_t row_bits_ = 0;  // codes, scales and select bits of one row (residuals counted apart)
};

// A chunk's values, prepared at fetch: the unit's beats and the layer's own blocks for the scoreboard.
struct ChunkValues {
  int64_t layer = 0;
  int64_t chunk = 0;
  // The unit's view, in beat space (the chunk's weights back to back, the last beat padded):
  std::vector<uint8_t> beat_codes;             // beats * lanes
  std::vector<golden::Block> unit_blocks;      // unit scale codes, into beat_codes
  std::vector<uint32_t> lane_scale;            // per beat-space slot: its block's scale, unit format
  std::vector<uint32_t> lane_table;            // per beat-space slot: its block's table (of the layer's T)
  std::vector<golden::Residual> beat_residuals;  // beat-space index (the weight's index in the chunk), unit entry format
  // The layer's own view, for the expected values:
  RowsData rows;
  std::vector<golden::Block> layer_blocks;     // into rows.codes, layer scale codes
  std::vector<uint64_t> block_offset;          // per block: its first beat-space slot
};

// The chunks of a layer that unit `unit` of `units` streams: a contiguous share [first, end) of its fetch
// requests. Rows rather than layers are split because batch-1 decode runs the layers in order (the next
// one needs this one's outputs): every unit works on the same layer, with the same tables.
inline std::pair<int64_t, int64_t> unit_chunk_range(int64_t chunks, int unit, int units) {
  return {chunks * unit / units, chunks * (unit + 1) / units};
}

ChunkValues prepare_chunk(const PreparedLayer& layer, int64_t layer_index, int64_t chunk_index, int lanes);

// The layers of one token pass. Owns the pack file or the synthetic layers it was built from.
class Workload {
 public:
  Workload();
  ~Workload();
  Workload(Workload&&) noexcept;
  Workload& operator=(Workload&&) noexcept;

  // Every quantized layer of a pack file, in file order; repeat > 1 lists them that many times, as
  // distinct layers with their own LUT slots (a model of alike layers of which one was quantized: a
  // sweep's `repeat:`, sop simulate --repeat).
  static Workload from_pack(const std::string& path, int repeat = 1);
  // A shape list of the table in quantizer/synthetic_spec.h, parsed by its SpecQuery:
  // "llama2-7b[?layers=N&lm_head=0|1&seed=S&sparse=F&values=0|1&block=G]" (whole model: 32 layers + lm_head).
  // The formats follow the unit: block 16, the unit's code bits and scale format, the select bit
  // stolen from the scale (4.5 bpw for 4-bit codes with an 8-bit scale).
  // Keys for more tables: tables=T (2..16, a power of two: T selector tables, selectors drawn uniformly)
  // or rows_per_table=R (one table per group of R rows, streamed when more than the slot holds).
  static Workload synthetic(const std::string& spec, const UnitFormats& unit);
  // Layers as the SOP search leaves them (tests, and layers built by hand), in order; the results are
  // copied into the workload.
  static Workload from_layers(std::vector<SopLayerResult> layers, const std::string& description);

  const std::string& description() const { return description_; }
  const std::vector<std::unique_ptr<LayerSource>>& layers() const { return layers_; }
  bool has_values() const;
  uint64_t weights() const;

 private:
  std::string description_;
  std::unique_ptr<PackFile> pack_;
  std::shared_ptr<const std::vector<SopLayerResult>> results_;  // from_layers
  std::vector<std::unique_ptr<LayerSource>> layers_;
};

}  // namespace sop::sysc
