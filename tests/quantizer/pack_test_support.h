// Helpers for pack-file tests: synthetic layers that are valid by construction, temporary files, and
// byte-level surgery on pack files (recomputing checksums so a test can reach the field checks).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "model/golden/decode.h"
#include "base/byte_io.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/sop/sop_layer.h"
#include "tests/test_support.h"

namespace sop::testing {

struct SyntheticLayerSpec {
  int64_t rows = 8;
  int64_t cols = 40;  // not a multiple of the block: the last block of each row is short
  int block = 16;
  int code_bits = 4;
  SelectBitPlacement select = SelectBitPlacement::Stolen;
  int select_bits = 1;         // with a selector: 2^select_bits tables
  int64_t rows_per_table = 0;  // > 0: one table per group of rows (select must be None)
  golden::ScaleFormat scale = golden::kScaleE4M3;
  int sparse_count = 5;
  bool channel_factors = true;
  float tensor_scale = 0.0123f;
  uint32_t seed = 1;
};

// A layer with random codes, scales and selectors and T tables (a selector's 2^select_bits, one per
// row group, or the single table as the golden pair). Its dequant is computed here from golden::multiply
// directly (not through dequantize_layer), following sop_layer.h's formula.
inline SopLayerResult make_synthetic_layer(const std::string& name, const SyntheticLayerSpec& spec) {
  std::mt19937 rng(spec.seed);
  SopLayerResult layer;
  layer.tensor_name = name;
  layer.rows = spec.rows;
  layer.cols = spec.cols;
  layer.block_size = spec.block;
  layer.decode.code_bits = spec.code_bits;
  layer.decode.scale = spec.scale;
  layer.scale_layout.name = "test";
  layer.scale_layout.format = spec.scale;
  layer.scale_layout.select = spec.select;
  layer.scale_layout.select_bits = spec.select_bits;
  layer.rows_per_table = spec.rows_per_table;
  layer.tensor_scale = spec.tensor_scale;
  const int entries = 1 << spec.code_bits;
  std::uniform_real_distribution<double> value(-1.0, 1.0);
  const bool has_select = spec.select != SelectBitPlacement::None;
  const int64_t tables = spec.rows_per_table > 0 ? (spec.rows + spec.rows_per_table - 1) / spec.rows_per_table
                         : has_select           ? int64_t{1} << spec.select_bits
                                                : 2;
  for (int64_t t = 0; t < tables; ++t) {
    SopCodebook cb;
    // Known names are stored as one byte, others as strings: cover both.
    cb.name = t % 3 == 1 ? "DD4a" : "T" + std::to_string(t);
    for (int k = 0; k < entries; ++k) {
      const double x = (t == 1 && spec.select == SelectBitPlacement::None && spec.rows_per_table == 0) ? layer.codebooks[0].values[static_cast<std::size_t>(k)] : value(rng);
      const uint32_t code = golden::encode_entry(layer.decode, x);
      const golden::IntFloat v = golden::entry_unpack(layer.decode, code);
      cb.lut_codes.push_back(code);
      cb.values.push_back(static_cast<float>(std::ldexp(static_cast<double>(v.mant), v.exp)));
    }
    layer.codebooks.push_back(cb);
  }
  const int64_t blocks = spec.rows * ((spec.cols + spec.block - 1) / spec.block);
  std::uniform_int_distribution<uint32_t> scale_code(0, (1u << spec.scale.bits()) - 1);
  std::uniform_int_distribution<int> selector(0, (1 << spec.select_bits) - 1);
  std::uniform_int_distribution<int> code(0, entries - 1);
  for (int64_t b = 0; b < blocks; ++b) {
    // Avoid the top exponent field so no scale code stands for the source format's NaN.
    uint32_t s = scale_code(rng);
    s &= ~(1u << (spec.scale.man_bits + spec.scale.exp_bits - 1));
    layer.scale_codes.push_back(s);
    layer.select.push_back(static_cast<uint8_t>(spec.select == SelectBitPlacement::None ? 0 : selector(rng)));
  }
  for (int64_t i = 0; i < spec.rows * spec.cols; ++i) layer.codes.push_back(static_cast<uint8_t>(code(rng)));
  const auto weights = static_cast<uint64_t>(spec.rows * spec.cols);
  for (int i = 0; i < spec.sparse_count; ++i) {
    SopSparseEntry e;
    e.index = weights * static_cast<uint64_t>(i + 1) / static_cast<uint64_t>(spec.sparse_count + 1);
    e.entry = golden::encode_entry(layer.decode, value(rng) * 1.5);
    layer.sparse.push_back(e);
  }
  if (spec.channel_factors) {
    std::uniform_real_distribution<float> factor(0.5f, 2.0f);
    for (int64_t j = 0; j < spec.cols; ++j) layer.channel_factors.push_back(factor(rng));
  }
  layer.choice.option = "synthetic";
  layer.choice.bits = 1234.5;
  layer.choice.bpw = 4.5;
  layer.choice.weighted_error = 0.25;

  const int64_t blocks_per_row = (spec.cols + spec.block - 1) / spec.block;
  layer.dequant.resize(static_cast<std::size_t>(weights));
  std::size_t next_sparse = 0;
  for (int64_t i = 0; i < spec.rows; ++i) {
    for (int64_t j = 0; j < spec.cols; ++j) {
      const auto flat = static_cast<std::size_t>(i * spec.cols + j);
      const auto b = static_cast<std::size_t>(i * blocks_per_row + j / spec.block);
      const std::size_t table = spec.rows_per_table > 0 ? static_cast<std::size_t>(i / spec.rows_per_table) : layer.select[b];
      uint32_t entry = layer.codebooks[table].lut_codes[layer.codes[flat]];
      if (next_sparse < layer.sparse.size() && layer.sparse[next_sparse].index == flat) {
        entry = layer.sparse[next_sparse++].entry;
      }
      const float product = golden::to_float(golden::multiply(layer.decode, entry, layer.scale_codes[b]));
      const float scaled = layer.tensor_scale * product;
      layer.dequant[flat] = spec.channel_factors ? layer.channel_factors[static_cast<std::size_t>(j)] * scaled : scaled;
    }
  }
  return layer;
}

// Equal as FP32 bit patterns (the sign of zero included).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A directory under the build tree, unique per test process, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string pattern = std::string(SOP_BINARY_DIR) + "/pack-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline uint32_t le32(const std::vector<uint8_t>& b, std::size_t at) {
  return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 | static_cast<uint32_t>(b[at + 2]) << 16 |
         static_cast<uint32_t>(b[at + 3]) << 24;
}
inline uint64_t le64(const std::vector<uint8_t>& b, std::size_t at) {
  return static_cast<uint64_t>(le32(b, at)) | static_cast<uint64_t>(le32(b, at + 4)) << 32;
}
inline void put32(std::vector<uint8_t>& b, std::size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

struct SectionSpan {
  std::string tag;
  std::size_t header = 0;   // offset of the section header
  std::size_t payload = 0;  // offset of the payload
  std::size_t length = 0;
};

// A test pack's model description listing these quantized layers.
inline PackModelInfo layers_info(const std::vector<SopLayerResult>& layers) {
  PackModelInfo info;
  info.created_by = "sop test";
  info.source = "synthetic";
  info.recipe_name = "test";
  info.recipe_path = "test.yaml";
  info.recipe_text = "recipe: 1\n";
  for (const auto& l : layers) info.tensors.push_back({l.tensor_name, {l.rows, l.cols}, PackedAs::Quantized, ""});
  return info;
}

// A pack of quantized layers only.
inline void write_layers(const std::string& path, const std::vector<SopLayerResult>& layers) {
  PackWriter writer(path, layers_info(layers));
  for (const auto& l : layers) writer.add_layer(l);
  writer.finish();
}

// The sections of a well-formed pack file, per docs/pack-format.md (16-byte file header, 24-byte
// section headers, 24-byte trailer).
inline std::vector<SectionSpan> list_sections(const std::vector<uint8_t>& b) {
  std::vector<SectionSpan> out;
  std::size_t at = 16;
  while (at + 24 <= b.size() && std::memcmp(b.data() + at, "SOPPEND", 7) != 0) {
    SectionSpan s;
    s.tag.assign(reinterpret_cast<const char*>(b.data() + at), 4);
    s.header = at;
    s.payload = at + 24;
    s.length = static_cast<std::size_t>(le64(b, at + 8));
    out.push_back(s);
    at = s.payload + s.length;
  }
  return out;
}

// Recomputes every section and whole-file checksum, so edited payload bytes reach the field checks.
inline void fix_checksums(std::vector<uint8_t>& b) {
  for (const auto& s : list_sections(b)) {
    put32(b, s.header + 16, detail::crc32_update(0, b.data() + s.payload, s.length));
    put32(b, s.header + 20, detail::crc32_update(0, b.data() + s.header, 20));
  }
  const std::size_t trailer = b.size() - 24;
  put32(b, trailer + 12, detail::crc32_update(0, b.data(), trailer));
}

}  // namespace sop::testing
