// SOP pack files: everything `sop quantize` decided for a model, in a versioned, checksummed binary
// layout (docs/pack-format.md gives it byte by byte), and the way back to weights through the golden
// decode (model/golden/decode.h), the same decode the SystemC model and the RTL regression use.
//
// Writing goes to a temporary file beside the target that is renamed into place by finish(), so a
// failed or interrupted run never leaves a partial pack. Reading validates every length, count and
// checksum against the file before anything is used; a bad file throws sop::Error naming the file,
// the section (and layer) and the field.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/golden/decode.h"
#include "base/atomic_file.h"
#include "base/byte_io.h"
#include "base/mapped_file.h"
#include "quantizer/sop/sop_layer.h"
#include "base/span.h"
#include "quantizer/tensor.h"

namespace sop {

inline constexpr uint16_t kPackVersionMajor = 3;  // what the writer writes; readers refuse newer majors
inline constexpr uint16_t kPackVersionMinor = 0;  // added optional content; readers accept any minor
inline constexpr uint16_t kPackOldestReadMajor = 1;  // 1.x files (two tables, FP32 copies) are still read

// How a tensor of the source checkpoint is represented in the pack.
enum class PackedAs {
  Quantized,      // a LAYR section: codes, scales, tables...
  FullPrecision,  // a TENS section: FP32 values
  Omitted,        // not stored (e.g. an integer tensor); `note` says why
};
const char* packed_as_name(PackedAs kind);

struct PackTensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  PackedAs stored = PackedAs::Quantized;
  std::string note;  // for Omitted: the reason
};

// The MODL section: where the pack came from and how every source tensor was stored, in source order.
struct PackModelInfo {
  std::string created_by;   // program and version
  std::string source;       // the checkpoint path as given to `sop quantize`
  std::string recipe_name;
  std::string recipe_path;
  std::string recipe_text;  // the recipe YAML, verbatim
  std::vector<PackTensorEntry> tensors;
};

// The decode-relevant description of a quantized layer, and views of its packed arrays inside the
// (memory-mapped) pack file. Small tables are decoded into vectors; the big arrays stay packed.
// A layer has T tables: one, the pair or 2^select_bits picked by each block's selector, or one per
// group of rows_per_table rows (table_of says which one a block reads).
struct PackedLayerView {
  std::string name;
  int64_t rows = 0;
  int64_t cols = 0;
  int block_size = 0;
  golden::DecodeConfig decode;            // entry format, HIF parameters, scale format, code bits
  SopScaleLayout scale_layout;            // name, select placement (its format equals decode.scale)
  float tensor_scale = 1.0f;
  std::vector<SopCodebook> codebooks;     // the T tables, decode.entries_per_table() entries each
  // >= 0: the layer stores no tables of its own but uses those of layer `tables_from` (an earlier
  // layer of this pack, in layers() order); codebooks then holds a copy of them. -1: its own.
  int64_t tables_from = -1;
  int select_bits = 0;                    // selector width per block; 0: no selector
  int64_t rows_per_table = 0;             // > 0: table(b) = row(b) / rows_per_table, no selector
  Span<const uint8_t> scale_codes;        // packed, decode.scale.bits() bits per block
  Span<const uint8_t> selectors;          // packed, select_bits per block; empty without a selector
  Span<const uint8_t> codes;              // packed, decode.code_bits per weight (golden::pack_codes order)
  std::vector<SopSparseEntry> sparse;     // sorted by index, all < rows * cols
  int sparse_index_bits = 0;
  std::vector<float> channel_factors;     // empty or cols entries
  SopChoice choice;

  uint64_t section_offset = 0;            // where the LAYR section starts in the file
  uint64_t section_bytes = 0;             // header + payload
  // The payload bytes of what the search counts (tensor scale, tables, scales, selectors, codes,
  // residuals; channel factors too): the section without its framing, name and descriptive fields.
  uint64_t data_bytes = 0;

  int64_t blocks_per_row() const { return (cols + block_size - 1) / block_size; }
  int64_t block_count() const { return rows * blocks_per_row(); }
  std::size_t table_count() const { return codebooks.size(); }
  uint32_t scale_code(int64_t block) const;
  uint32_t table_of(int64_t block) const;  // < table_count()
};

// What a consumer that holds only the method's pair (today's TLM lanes and RTL regression) needs:
// the layer's tables as exactly two (a single table repeated). Throws sop::Error naming the layer and
// `consumer` for a layer with more than two tables, rather than misdecoding it.
golden::LayerTables pair_tables(const PackedLayerView& layer, const std::string& consumer);

struct PackedTensorView {
  std::string name;
  std::vector<int64_t> shape;
  Span<const uint8_t> values;  // little-endian FP32, element_count() of them
  uint64_t section_offset = 0;
  int64_t element_count() const;
};

// An opened, fully validated pack file. Move-only: views point into its mapping.
class PackFile {
 public:
  // Maps and validates the whole file (structure, checksums, every layer's fields). Throws sop::Error.
  static PackFile open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint64_t file_size() const { return file_->size(); }
  uint16_t version_major() const { return version_major_; }
  uint16_t version_minor() const { return version_minor_; }
  const PackModelInfo& info() const { return info_; }
  const std::vector<PackedLayerView>& layers() const { return layers_; }
  const std::vector<PackedTensorView>& tensors() const { return tensors_; }

 private:
  PackFile() = default;
  std::unique_ptr<detail::MappedFile> file_;
  uint16_t version_major_ = 0;
  uint16_t version_minor_ = 0;
  PackModelInfo info_;
  std::vector<PackedLayerView> layers_;
  std::vector<PackedTensorView> tensors_;
};

// Streams a pack file: the model info first, then one section per tensor, then finish().
class PackWriter {
 public:
  // Opens a temporary file beside `path` (removing stale ones of killed runs, base/atomic_file.h).
  // info.tensors must list every tensor that will be added. Layers are checked, packed and
  // checksummed on up to `threads` threads (0: every core).
  PackWriter(std::string path, const PackModelInfo& info, int threads = 1);
  ~PackWriter();  // removes the temporary file unless finish() succeeded
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Checks the layer is self-consistent (sizes, code ranges, tables matching their LUT codes) and
  // throws sop::Error naming the layer and field if not. A layer that shares a table set with an
  // earlier one (table_group >= 0, tables_stored false) is written as a reference to the layer that
  // stored the set, whose tables must be the same.
  void add_layer(const SopLayerResult& layer);
  void add_tensor(const Tensor& tensor);
  // Writes the end marker and whole-file checksum, flushes and fsyncs, renames the file into place and
  // fsyncs its folder.
  void finish();

  uint64_t bytes_written() const { return bytes_written_; }

 private:
  void write_section(const char tag[4], const std::vector<uint8_t>& payload);
  void write_raw(const uint8_t* data, std::size_t size);
  void write_raw(const uint8_t* data, std::size_t size, uint32_t crc);  // crc: of these bytes

  std::string path_;
  std::unique_ptr<AtomicOutputFile> out_;  // this process's temporary beside path_ (base/atomic_file.h)
  uint32_t file_crc_ = 0;
  uint64_t bytes_written_ = 0;
  uint32_t section_count_ = 0;
  int threads_ = 1;
  detail::ByteWriter payload_;  // the layer being written, its storage kept from one layer to the next
  bool finished_ = false;
  struct StoredSet {
    uint32_t layer = 0;  // index among the pack's layers
    golden::DecodeConfig decode;
    std::vector<SopCodebook> tables;
  };
  std::map<int64_t, StoredSet> shared_sets_;  // table_group -> the layer that stored it
  uint32_t layer_count_ = 0;
};

// The golden decode of a packed layer: [rows, cols] row-major FP32 weights. Block products (with the
// sparse residuals' replacement entries) come from golden::decode_block; the per-tensor scale and the
// channel factors are applied as sop_layer.h defines, c[j] * (tensor_scale * product) in FP32, so the
// result equals SopLayerResult::dequant bit for bit.
std::vector<float> dequantize_layer(const PackedLayerView& layer);
std::vector<float> tensor_values(const PackedTensorView& tensor);

}  // namespace sop
