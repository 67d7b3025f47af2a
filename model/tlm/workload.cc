#include "model/tlm/workload.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <map>
#include <set>

#include "model/golden/reference_tables.h"
#include "base/error.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/sop/sop_layer.h"
#include "quantizer/synthetic_spec.h"

namespace sop::sysc {
namespace {

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

double entry_value(const golden::DecodeConfig& cfg, uint32_t code) {
  const golden::IntFloat v = golden::entry_unpack(cfg, code);
  return std::ldexp(static_cast<double>(v.mant), v.exp);
}

// Collects distinct values in ascending order.
class DistinctValues {
 public:
  void add(uint32_t v) { set_.insert(v); }
  std::vector<uint32_t> values() const { return {set_.begin(), set_.end()}; }

 private:
  std::set<uint32_t> set_;
};

// A layer with every value at hand (a pack file's, or a search result's): what it is, fixed at construction.
class StoredLayerSource : public LayerSource {
 public:
  struct Fields {
    std::string name;
    int64_t rows, cols;
    int block_size;
    golden::DecodeConfig decode;
    int64_t rows_per_table;
    int scale_bits_per_block, sparse_index_bits;
    int64_t tables_from = -1;  // index in the workload of the layer whose tables these are (-1: own)
  };
  StoredLayerSource(Fields f, const std::vector<SopCodebook>& codebooks) : f_(std::move(f)) {
    for (const SopCodebook& cb : codebooks) tables_.entries.insert(tables_.entries.end(), cb.lut_codes.begin(), cb.lut_codes.end());
    // A single table is the golden pair with the table repeated (every block reads table 0).
    if (codebooks.size() == 1) tables_.entries.insert(tables_.entries.end(), codebooks[0].lut_codes.begin(), codebooks[0].lut_codes.end());
  }
  const std::string& name() const override { return f_.name; }
  int64_t rows() const override { return f_.rows; }
  int64_t cols() const override { return f_.cols; }
  int block_size() const override { return f_.block_size; }
  const golden::DecodeConfig& decode() const override { return f_.decode; }
  const golden::LayerTables& tables() const override { return tables_; }
  int64_t rows_per_table() const override { return f_.rows_per_table; }
  int64_t tables_from() const override { return f_.tables_from; }
  int scale_bits_per_block() const override { return f_.scale_bits_per_block; }
  int sparse_bits_per_entry() const override { return f_.sparse_index_bits + f_.decode.entry_bits(); }
  bool has_values() const override { return true; }

 private:
  Fields f_;
  golden::LayerTables tables_;
};

// ---- pack-file layers ------------------------------------------------------------------------------

// What the repeats of a pack layer share: where each row's residuals start (counted once, so that a
// chunk's residual count is a subtraction, not two binary searches) and its ValuesUsed (found on
// first use).
struct PackLayerIndex {
  explicit PackLayerIndex(const PackedLayerView& view) : row_residuals(static_cast<std::size_t>(view.rows) + 1, 0) {
    // sparse is sorted by index: row r's residuals are [row_residuals[r], row_residuals[r + 1]).
    std::size_t i = 0;
    for (int64_t r = 0; r <= view.rows; ++r) {
      const uint64_t first = static_cast<uint64_t>(r * view.cols);
      while (i < view.sparse.size() && view.sparse[i].index < first) ++i;
      row_residuals[static_cast<std::size_t>(r)] = i;
    }
  }
  std::vector<std::size_t> row_residuals;
  std::once_flag once;
  ValuesUsed used;
};

class PackLayerSource final : public StoredLayerSource {
 public:
  // first_layer: the workload index of the pack's layer 0 in this repeat (tables_from counts from it).
  PackLayerSource(const PackedLayerView& view, std::shared_ptr<PackLayerIndex> index, int64_t first_layer)
      : StoredLayerSource({view.name, view.rows, view.cols, view.block_size, view.decode, view.rows_per_table,
                           view.scale_layout.bits_per_block(), view.sparse_index_bits,
                           view.tables_from >= 0 ? first_layer + view.tables_from : -1},
                          view.codebooks),
        view_(view), index_(std::move(index)) {}

  uint64_t residuals_in_rows(int64_t row0, int64_t row1) const override {
    return static_cast<uint64_t>(residuals_at(row1) - residuals_at(row0));
  }

  void read_rows(int64_t row0, int64_t row1, RowsData& out) const override {
    const int64_t cols = view_.cols;
    const std::size_t n = static_cast<std::size_t>((row1 - row0) * cols);
    out.codes.resize(n);
    golden::unpack_codes(view_.codes, view_.decode.code_bits, static_cast<std::size_t>(row0 * cols),
                         Span<uint8_t>(out.codes.data(), n));
    const int64_t bpr = view_.blocks_per_row();
    out.scale_codes.clear();
    out.table.clear();
    for (int64_t b = row0 * bpr; b < row1 * bpr; ++b) {
      out.scale_codes.push_back(view_.scale_code(b));
      out.table.push_back(view_.table_of(b));
    }
    out.residuals.clear();
    const uint64_t first = static_cast<uint64_t>(row0 * cols);
    for (std::size_t i = residuals_at(row0); i < residuals_at(row1); ++i) {
      out.residuals.push_back({static_cast<uint32_t>(view_.sparse[i].index - first), view_.sparse[i].entry});
    }
  }

  ValuesUsed values_used() const override {
    std::call_once(index_->once, [&] {
      std::vector<bool> seen(std::size_t{1} << view_.decode.scale.bits(), false);
      const int64_t blocks = view_.rows * view_.blocks_per_row();
      for (int64_t b = 0; b < blocks; ++b) seen[view_.scale_code(b)] = true;
      for (uint32_t code = 0; code < seen.size(); ++code) {
        if (seen[code]) index_->used.scale_codes.push_back(code);
      }
      DistinctValues entries;
      for (const SopSparseEntry& e : view_.sparse) entries.add(e.entry);
      index_->used.residual_entries = entries.values();
    });
    return index_->used;
  }

 private:
  std::size_t residuals_at(int64_t row) const { return index_->row_residuals[static_cast<std::size_t>(row)]; }

  const PackedLayerView& view_;
  std::shared_ptr<PackLayerIndex> index_;
};

// ---- synthetic layers ------------------------------------------------------------------------------

class SyntheticLayerSource final : public LayerSource {
 public:
  // tables: selector tables (2..16); rows_per_table > 0: one table per group of that many rows instead.
  SyntheticLayerSource(synthetic::MatrixShape shape, uint64_t layer_index, uint64_t seed, double sparse_fraction,
                       bool values, int block, int tables, int64_t rows_per_table, const UnitFormats& unit)
      : shape_(std::move(shape)), layer_index_(layer_index), seed_(seed), values_(values), block_(block),
        decode_(unit.decode), index_bits_(unit.index_bits), rows_per_table_(rows_per_table) {
    // Reference codebooks of the unit's table size, in turn from the layer's index, as fitted tables
    // would be (the pair: two in a row).
    const std::size_t n = static_cast<std::size_t>(decode_.entries_per_table());
    std::vector<std::vector<double>> fits;
    for (const golden::Codebook& cb : golden::reference_codebooks()) {
      if (cb.values.size() == n) fits.push_back(cb.values);
    }
    const int64_t count = rows_per_table > 0 ? (shape_.rows + rows_per_table - 1) / rows_per_table : tables;
    tables_count_ = static_cast<uint32_t>(count);
    std::vector<std::vector<double>> chosen;
    for (int64_t t = 0; t < count; ++t) chosen.push_back(fits[(layer_index + static_cast<uint64_t>(t)) % fits.size()]);
    tables_ = golden::make_tables(decode_, chosen);
    residuals_per_row_ = static_cast<int64_t>(std::llround(sparse_fraction * static_cast<double>(shape_.cols)));
    residuals_per_row_ = std::min(residuals_per_row_, shape_.cols);
  }

  const std::string& name() const override { return shape_.name; }
  int64_t rows() const override { return shape_.rows; }
  int64_t cols() const override { return shape_.cols; }
  int block_size() const override { return block_; }
  const golden::DecodeConfig& decode() const override { return decode_; }
  const golden::LayerTables& tables() const override { return tables_; }
  int64_t rows_per_table() const override { return rows_per_table_; }
  int scale_bits_per_block() const override { return decode_.scale.bits(); }  // selector bits stolen
  int sparse_bits_per_entry() const override { return index_bits_ + decode_.entry_bits(); }
  bool has_values() const override { return values_; }
  uint64_t residuals_in_rows(int64_t row0, int64_t row1) const override {
    return static_cast<uint64_t>((row1 - row0) * residuals_per_row_);
  }

  void read_rows(int64_t row0, int64_t row1, RowsData& out) const override {
    const int64_t cols = shape_.cols;
    const int64_t bpr = (cols + block_ - 1) / block_;
    const int code_bits = decode_.code_bits;
    const uint32_t code_mask = (1u << code_bits) - 1;
    const int scale_bits = decode_.scale.bits();
    const std::size_t n_entries = tables_.entries.size();
    out.codes.resize(static_cast<std::size_t>((row1 - row0) * cols));
    out.scale_codes.resize(static_cast<std::size_t>((row1 - row0) * bpr));
    out.table.resize(out.scale_codes.size());
    out.residuals.clear();
    for (int64_t r = row0; r < row1; ++r) {
      // Its own stream per row, so any chunk is drawn without the rows before it.
      auto rng = synthetic::CounterRandom::for_row(seed_, layer_index_, static_cast<uint64_t>(r));
      uint8_t* codes = out.codes.data() + (r - row0) * cols;
      for (int64_t c = 0; c < cols;) {
        uint64_t bits = rng.next();
        for (int k = 0; k + code_bits <= 64 && c < cols; k += code_bits, ++c) {
          codes[c] = static_cast<uint8_t>((bits >> k) & code_mask);
        }
      }
      for (int64_t b = 0; b < bpr; ++b) {
        const uint64_t x = rng.next();
        const std::size_t at = static_cast<std::size_t>((r - row0) * bpr + b);
        out.scale_codes[at] = static_cast<uint32_t>(x & ((1u << scale_bits) - 1));
        // The selector's draw (the pair's bit 32 as before, so pair layers keep their draws), or the
        // row's group.
        out.table[at] = rows_per_table_ > 0 ? static_cast<uint32_t>(r / rows_per_table_)
                                            : static_cast<uint32_t>((x >> 32) % tables_count_);
      }
      // Residuals spread evenly: one in each of residuals_per_row_ equal column ranges.
      for (int64_t k = 0; k < residuals_per_row_; ++k) {
        const int64_t lo = k * cols / residuals_per_row_, hi = (k + 1) * cols / residuals_per_row_;
        const uint64_t x = rng.next();
        const int64_t col = lo + static_cast<int64_t>(x % static_cast<uint64_t>(hi - lo));
        const uint32_t entry = tables_.entries[static_cast<std::size_t>((x >> 32) % n_entries)];
        out.residuals.push_back({static_cast<uint32_t>((r - row0) * cols + col), entry});
      }
    }
  }

 private:
  synthetic::MatrixShape shape_;
  uint64_t layer_index_;
  uint64_t seed_;
  bool values_;
  int block_;
  golden::DecodeConfig decode_;
  int index_bits_;
  golden::LayerTables tables_;
  int64_t rows_per_table_ = 0;
  uint32_t tables_count_ = 2;
  int64_t residuals_per_row_ = 0;
};

// ---- layers as the SOP search leaves them --------------------------------------------------------------

class SopLayerSource final : public StoredLayerSource {
 public:
  SopLayerSource(const SopLayerResult& r, int64_t tables_from)
      : StoredLayerSource({r.tensor_name, r.rows, r.cols, r.block_size, r.decode, r.rows_per_table,
                           r.scale_layout.bits_per_block(), r.sparse_index_bits, tables_from},
                          r.codebooks),
        r_(r) {}
  uint64_t residuals_in_rows(int64_t row0, int64_t row1) const override {
    return static_cast<uint64_t>(first_residual(row1) - first_residual(row0));
  }
  void read_rows(int64_t row0, int64_t row1, RowsData& out) const override {
    const auto first = static_cast<std::size_t>(row0 * r_.cols), last = static_cast<std::size_t>(row1 * r_.cols);
    out.codes.assign(r_.codes.begin() + static_cast<std::ptrdiff_t>(first), r_.codes.begin() + static_cast<std::ptrdiff_t>(last));
    const int64_t bpr = r_.blocks_per_row();
    out.scale_codes.clear();
    out.table.clear();
    for (int64_t b = row0 * bpr; b < row1 * bpr; ++b) {
      out.scale_codes.push_back(r_.scale_codes[static_cast<std::size_t>(b)]);
      out.table.push_back(static_cast<uint32_t>(r_.table_of_block(b)));
    }
    out.residuals.clear();
    for (std::size_t i = first_residual(row0); i < first_residual(row1); ++i) {
      out.residuals.push_back({static_cast<uint32_t>(r_.sparse[i].index - first), r_.sparse[i].entry});
    }
  }

 private:
  std::size_t first_residual(int64_t row) const {
    const auto at = static_cast<uint64_t>(row * r_.cols);
    return static_cast<std::size_t>(std::lower_bound(r_.sparse.begin(), r_.sparse.end(), at,
                                                     [](const SopSparseEntry& e, uint64_t i) { return e.index < i; }) -
                                    r_.sparse.begin());
  }
  const SopLayerResult& r_;
};

}  // namespace

ValuesUsed LayerSource::values_used() const {
  constexpr int64_t kRowsPerRead = 64;
  DistinctValues scales, entries;
  RowsData rows;
  for (int64_t row0 = 0; row0 < this->rows(); row0 += kRowsPerRead) {
    read_rows(row0, std::min(this->rows(), row0 + kRowsPerRead), rows);
    for (uint32_t code : rows.scale_codes) scales.add(code);
    for (const golden::Residual& r : rows.residuals) entries.add(r.entry);
  }
  return {scales.values(), entries.values()};
}

// ---- PreparedLayer ---------------------------------------------------------------------------------

PreparedLayer::PreparedLayer(const LayerSource& source, const UnitFormats& unit, int request_bytes)
    : source_(&source), unit_(unit) {
  const golden::DecodeConfig& lc = source.decode();
  const golden::DecodeConfig& uc = unit.decode;
  if (lc.code_bits > uc.code_bits) {
    throw Error(source.name(), "code_bits", std::to_string(lc.code_bits) + "-bit codes need a unit with " +
                                                std::to_string(1 << lc.code_bits) + "-entry tables (the unit has " +
                                                std::to_string(uc.entries_per_table()) + ")");
  }
  same_entry_format_ = lc.entry_format == uc.entry_format &&
                       (lc.entry_format != golden::EntryFormat::Hif || lc.hif.bits() == uc.hif.bits());
  // Tables in the unit's layout: each fills the low entries of its unit table.
  const std::size_t ln = static_cast<std::size_t>(lc.entries_per_table());
  const std::size_t un = static_cast<std::size_t>(uc.entries_per_table());
  const auto& entries = source.tables().entries;
  if (entries.size() % ln != 0 || entries.size() < 2 * ln) {
    throw Error(source.name(), "tables", "expected whole tables of " + std::to_string(ln) + " entries, at least two");
  }
  table_count_ = static_cast<int64_t>(entries.size() / ln);
  tables_per_slot_ = unit.tables_per_slot;
  rows_per_table_ = source.rows_per_table();
  entries_per_table_ = un;
  if (rows_per_table_ <= 0 && table_count_ > tables_per_slot_) {
    // A selector picks any table at any block: streaming them would reload on nearly every block.
    int select_bits = 0;
    while ((int64_t{1} << select_bits) < table_count_) ++select_bits;
    throw Error(source.name(), "select_bits",
                std::to_string(select_bits) + " select bits (" + std::to_string(table_count_) +
                    " tables per layer) exceed the unit's LUT: a slot holds " + std::to_string(tables_per_slot_) +
                    " tables (decode_unit.lut.tables_per_layer; LUT of " + std::to_string(unit.lut_bits) +
                    " bits); selector tables are read in any order, so they are not streamed");
  }
  if (rows_per_table_ > 0) {
    const int64_t groups = (source.rows() + rows_per_table_ - 1) / rows_per_table_;
    if (groups != table_count_) {
      throw Error(source.name(), "rows_per_table",
                  std::to_string(table_count_) + " tables for " + std::to_string(groups) + " groups of " +
                      std::to_string(rows_per_table_) + " rows");
    }
    // A beat must not need more tables than the window holds (the load of its last one would overwrite
    // its first): the groups a run of `lanes` weights can touch.
    const int64_t group_weights = rows_per_table_ * source.cols();
    const int64_t span = (unit.lanes - 1 + group_weights - 1) / group_weights + 1;
    if (streams_tables() && span > tables_per_slot_) {
      throw Error(source.name(), "rows_per_table",
                  "a beat of " + std::to_string(unit.lanes) + " lanes reads up to " + std::to_string(span) +
                      " row groups' tables, more than a slot's " + std::to_string(tables_per_slot_) +
                      " (decode_unit.lut.tables_per_layer)");
    }
  }
  unit_tables_.entries.assign(static_cast<std::size_t>(table_count_) * un, 0);
  for (std::size_t t = 0; t < static_cast<std::size_t>(table_count_); ++t) {
    for (std::size_t i = 0; i < ln; ++i) unit_tables_.entries[t * un + i] = unit_entry(entries[t * ln + i]);
  }
  // Scale codes: identity when the formats agree, else an exact re-encoding or -1.
  const bool same_scale = lc.scale.has_sign == uc.scale.has_sign && lc.scale.exp_bits == uc.scale.exp_bits &&
                          lc.scale.man_bits == uc.scale.man_bits && lc.scale.bias == uc.scale.bias &&
                          lc.scale.subnormals == uc.scale.subnormals;
  scale_map_.resize(std::size_t{1} << lc.scale.bits());
  for (uint32_t code = 0; code < scale_map_.size(); ++code) {
    if (same_scale) {
      scale_map_[code] = static_cast<int32_t>(code);
      continue;
    }
    const double v = golden::scale_decode(lc.scale, code);
    const uint32_t u = golden::scale_encode(uc.scale, v);
    scale_map_[code] = golden::scale_decode(uc.scale, u) == v ? static_cast<int32_t>(u) : -1;
  }
  one_table_bits_ = ln * static_cast<uint64_t>(lc.entry_bits());
  table_bytes_ = ceil_div(static_cast<uint64_t>(first_load_tables()) * one_table_bits_, 8);

  const uint64_t lanes = static_cast<uint64_t>(unit.lanes);
  const uint64_t cols = static_cast<uint64_t>(source.cols());
  const uint64_t g = static_cast<uint64_t>(source.block_size());
  lanes_ = lanes;
  const uint64_t blocks_per_row = ceil_div(cols, g);
  row_bits_ = cols * static_cast<uint64_t>(lc.code_bits) + blocks_per_row * static_cast<uint64_t>(source.scale_bits_per_block());
  rows_per_chunk_ = rows_per_request(request_bytes, row_bits_);

  // A layer whose scales do not fit is refused before the run, not in the middle of it.
  if (!same_scale && source.has_values()) {
    const ValuesUsed used = source.values_used();
    for (uint32_t s : used.scale_codes) (void)unit_scale(s);
    for (uint32_t e : used.residual_entries) (void)unit_entry(e);
  }
}

Chunk PreparedLayer::chunk(int64_t index) const {
  Chunk c;
  c.row0 = index * rows_per_chunk_;
  c.row1 = std::min(source_->rows(), c.row0 + rows_per_chunk_);
  const uint64_t rows = static_cast<uint64_t>(c.row1 - c.row0);
  c.weights = rows * static_cast<uint64_t>(source_->cols());
  c.beats = ceil_div(c.weights, lanes_);
  c.residuals = source_->residuals_in_rows(c.row0, c.row1);
  // Streamed tables travel with the chunk holding their group's first row (tables g >= W).
  uint64_t streamed = 0;
  if (streams_tables()) {
    const int64_t lo = std::max<int64_t>(tables_per_slot_, (c.row0 + rows_per_table_ - 1) / rows_per_table_);
    const int64_t hi = std::min<int64_t>(table_count_, (c.row1 + rows_per_table_ - 1) / rows_per_table_);
    if (hi > lo) streamed = static_cast<uint64_t>(hi - lo) * one_table_bits_;
  }
  c.bytes = ceil_div(rows * row_bits_ + c.residuals * static_cast<uint64_t>(source_->sparse_bits_per_entry()) + streamed, 8);
  return c;
}

std::pair<int64_t, int64_t> PreparedLayer::beat_tables(const Chunk& chunk, uint64_t beat) const {
  if (rows_per_table_ <= 0) return {0, 0};
  const uint64_t cols = static_cast<uint64_t>(source_->cols());
  const uint64_t w0 = beat * lanes_;
  const uint64_t w1 = std::min(chunk.weights, w0 + lanes_) - 1;
  const auto row = [&](uint64_t w) { return chunk.row0 + static_cast<int64_t>(w / cols); };
  return {row(w0) / rows_per_table_, row(w1) / rows_per_table_};
}

uint64_t PreparedLayer::stream_bytes() const {
  uint64_t total = 0;
  for (int64_t i = 0; i < chunk_count(); ++i) total += chunk(i).bytes;
  return total;
}

uint32_t PreparedLayer::unit_scale(uint32_t layer_code) const {
  const int32_t u = layer_code < scale_map_.size() ? scale_map_[layer_code] : -1;
  if (u < 0) {
    const auto& f = source_->decode().scale;
    throw Error(source_->name(), "scale",
                "scale code " + std::to_string(layer_code) + " (" + std::to_string(golden::scale_decode(f, layer_code)) +
                    ") is not exact in the unit's scale format (decode_unit.scale)");
  }
  return static_cast<uint32_t>(u);
}

uint32_t PreparedLayer::unit_entry(uint32_t layer_entry) const {
  if (same_entry_format_) return layer_entry;
  const double v = entry_value(source_->decode(), layer_entry);
  const uint32_t u = golden::encode_entry(unit_.decode, v);
  if (entry_value(unit_.decode, u) != v) {
    throw Error(source_->name(), "tables",
                "LUT entry " + std::to_string(v) + " is not exact in the unit's entry format (decode_unit.lut.entry_format)");
  }
  return u;
}

// ---- chunk values ----------------------------------------------------------------------------------

ChunkValues prepare_chunk(const PreparedLayer& layer, int64_t layer_index, int64_t chunk_index, int lanes) {
  const LayerSource& src = layer.source();
  const Chunk ch = layer.chunk(chunk_index);
  ChunkValues v;
  v.layer = layer_index;
  v.chunk = chunk_index;
  src.read_rows(ch.row0, ch.row1, v.rows);
  const uint64_t cols = static_cast<uint64_t>(src.cols());
  const uint64_t g = static_cast<uint64_t>(src.block_size());
  const uint64_t L = static_cast<uint64_t>(lanes);
  const uint64_t blocks_per_row = ceil_div(cols, g);
  const uint64_t rows = static_cast<uint64_t>(ch.row1 - ch.row0);
  v.beat_codes.assign(ch.beats * L, 0);
  v.lane_scale.assign(ch.beats * L, 0);
  v.lane_table.assign(ch.beats * L, 0);
  v.block_offset.resize(rows * blocks_per_row);
  v.layer_blocks.resize(rows * blocks_per_row);
  v.unit_blocks.resize(rows * blocks_per_row);
  // Beat space is the chunk's weights in order: a block's first slot is its first weight's index.
  std::copy(v.rows.codes.begin(), v.rows.codes.end(), v.beat_codes.begin());
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t b = 0; b < blocks_per_row; ++b) {
      const uint64_t block = r * blocks_per_row + b;
      const uint64_t first = r * cols + b * g;
      const uint64_t len = std::min(g, cols - b * g);
      const uint32_t layer_scale = v.rows.scale_codes[block];
      const uint32_t unit_scale = layer.unit_scale(layer_scale);
      const uint32_t table = v.rows.table[block];
      v.layer_blocks[block] = {layer_scale, table, Span<const uint8_t>(v.rows.codes.data() + first, len)};
      v.unit_blocks[block] = {unit_scale, table, Span<const uint8_t>(v.beat_codes.data() + first, len)};
      v.block_offset[block] = first;
      std::fill_n(v.lane_scale.begin() + static_cast<std::ptrdiff_t>(first), len, unit_scale);
      std::fill_n(v.lane_table.begin() + static_cast<std::ptrdiff_t>(first), len, table);
    }
  }
  v.beat_residuals.reserve(v.rows.residuals.size());
  for (const golden::Residual& res : v.rows.residuals) v.beat_residuals.push_back({res.index, layer.unit_entry(res.entry)});
  return v;
}

// ---- Workload --------------------------------------------------------------------------------------

Workload::Workload() = default;
Workload::~Workload() = default;
Workload::Workload(Workload&&) noexcept = default;
Workload& Workload::operator=(Workload&&) noexcept = default;

Workload Workload::from_pack(const std::string& path, int repeat) {
  if (repeat < 1) throw Error(path, "repeat", "must be >= 1");
  Workload w;
  w.pack_ = std::make_unique<PackFile>(PackFile::open(path));
  w.description_ = repeat > 1 ? path + " x" + std::to_string(repeat) : path;
  std::vector<std::shared_ptr<PackLayerIndex>> index;
  for (const PackedLayerView& v : w.pack_->layers()) index.push_back(std::make_shared<PackLayerIndex>(v));
  for (int r = 0; r < repeat; ++r) {
    for (std::size_t i = 0; i < index.size(); ++i) {
      w.layers_.push_back(std::make_unique<PackLayerSource>(w.pack_->layers()[i], index[i],
                                                            static_cast<int64_t>(r * index.size())));
    }
  }
  if (w.layers_.empty()) throw Error(path, "", "the pack holds no quantized layers");
  return w;
}

Workload Workload::synthetic(const std::string& spec, const UnitFormats& unit) {
  synthetic::SpecQuery query(spec);
  const synthetic::ModelShape& shape = synthetic::model_shape(query.kind(), spec);
  const int64_t layers = query.integer("layers", shape.layers, 0, shape.layers);
  const bool lm_head = query.flag("lm_head", layers == shape.layers && shape.vocab > 0);
  const uint64_t seed = query.seed("seed", 1);
  const double sparse = query.real("sparse", 0.002, 0, 1);
  const bool values = query.flag("values", true);
  // Any block size the format allows, not only powers of two: the unit packs blocks back to back.
  const int block = static_cast<int>(query.integer("block", 16, 1, 4096));
  const int tables = static_cast<int>(query.integer("tables", 2, 2, 16));
  if ((tables & (tables - 1)) != 0) query.fail("tables", "must be a power of two, 2..16 (selector tables per layer)");
  const int64_t rows_per_table = query.integer("rows_per_table", 0, 0, int64_t{1} << 32);
  if (rows_per_table > 0 && tables != 2) query.fail("rows_per_table", "one table per row group has no selector: give tables or rows_per_table");
  query.reject_unknown("layers, lm_head, seed, sparse, values, block, tables, rows_per_table");
  if (lm_head && shape.vocab <= 0) query.fail("lm_head", "shape list '" + shape.name + "' has no output head");

  Workload w;
  w.description_ = spec;
  uint64_t index = 0;
  for (synthetic::MatrixShape& matrix : synthetic::llama_matrices(shape, layers, lm_head)) {
    w.layers_.push_back(std::make_unique<SyntheticLayerSource>(std::move(matrix), index++, seed, sparse, values, block, tables,
                                                               rows_per_table, unit));
  }
  if (w.layers_.empty()) query.fail("layers", "no layers selected");
  return w;
}

Workload Workload::from_layers(std::vector<SopLayerResult> layers, const std::string& description) {
  Workload w;
  w.description_ = description;
  w.results_ = std::make_shared<const std::vector<SopLayerResult>>(std::move(layers));
  // A layer of a shared table set refers to the one that stores the set (as the pack writer does).
  std::map<int64_t, int64_t> stored_by;  // table_group -> layer index
  for (const SopLayerResult& r : *w.results_) {
    int64_t from = -1;
    if (r.table_group >= 0) {
      const auto it = stored_by.find(r.table_group);
      if (r.tables_stored) {
        stored_by[r.table_group] = static_cast<int64_t>(w.layers_.size());
      } else if (it == stored_by.end()) {
        throw Error(description, r.tensor_name, "table set " + std::to_string(r.table_group) + " is not stored by an earlier layer");
      } else {
        if (!same_lut_tables(w.results_->at(static_cast<std::size_t>(it->second)).codebooks, r.codebooks)) {
          throw Error(description, r.tensor_name, "holds other tables than the layer whose set it shares");
        }
        from = it->second;
      }
    }
    w.layers_.push_back(std::make_unique<SopLayerSource>(r, from));
  }
  if (w.layers_.empty()) throw Error(description, "", "no layers");
  return w;
}

bool Workload::has_values() const {
  return std::all_of(layers_.begin(), layers_.end(), [](const auto& l) { return l->has_values(); });
}

uint64_t Workload::weights() const {
  uint64_t n = 0;
  for (const auto& l : layers_) n += static_cast<uint64_t>(l->rows() * l->cols());
  return n;
}

}  // namespace sop::sysc
