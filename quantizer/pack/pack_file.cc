#include "quantizer/pack/pack_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/parallel.h"
#include "base/checked_math.h"
#include "base/half.h"
#include "base/byte_io.h"
#include "quantizer/io/untrusted_json.h"

namespace sop {

namespace {

using detail::ByteCursor;
using detail::ByteWriter;

// ---- Fixed parts of the layout (docs/pack-format.md) ----------------------------------------------

constexpr uint8_t kFileMagic[8] = {'S', 'O', 'P', 'P', 'A', 'C', 'K', 0};
constexpr uint8_t kEndMagic[8] = {'S', 'O', 'P', 'P', 'E', 'N', 'D', 0};
constexpr std::size_t kFileHeaderBytes = 16;     // magic, major, minor, reserved
constexpr std::size_t kSectionHeaderBytes = 24;  // tag, flags, payload length, payload CRC, header CRC
constexpr std::size_t kTrailerBytes = 24;        // magic, section count, file CRC, file length

constexpr char kTagModel[4] = {'M', 'O', 'D', 'L'};
constexpr char kTagLayer[4] = {'L', 'A', 'Y', 'R'};
constexpr char kTagTensor[4] = {'T', 'E', 'N', 'S'};

// Section flag bit 0: a reader that does not know the tag may skip the section. Sections added by a
// later minor version set it; the three tags above never do.
constexpr uint32_t kSectionOptional = 1u;

constexpr int kTablesPerLayerV1 = 2;  // 1.x: always the pair; a layer without a select bit repeats table 0
constexpr int kMaxSelectBits = 4;     // T = 2^select_bits <= 16 tables picked per block
constexpr int kMaxRank = 8;

uint32_t read_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint64_t read_le64(const uint8_t* p) {
  return static_cast<uint64_t>(read_le32(p)) | static_cast<uint64_t>(read_le32(p + 4)) << 32;
}

std::string tag_text(const uint8_t* tag) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>(tag[i]);
    s += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return s;
}

uint32_t select_code(SelectBitPlacement p) {
  switch (p) {
    case SelectBitPlacement::None: return 0;
    case SelectBitPlacement::Stolen: return 1;
    case SelectBitPlacement::Beside: return 2;
  }
  return 0;
}

int entry_bits(const golden::DecodeConfig& cfg) { return cfg.entry_bits(); }

// The float the hardware's table entry stands for, as the quantizer stores it beside the code.
float entry_value(const golden::DecodeConfig& cfg, uint32_t code) {
  const golden::IntFloat v = golden::entry_unpack(cfg, code);
  return static_cast<float>(std::ldexp(static_cast<double>(v.mant), v.exp));
}


// ---- The model section (JSON) ---------------------------------------------------------------------

std::vector<uint8_t> model_info_payload(const PackModelInfo& info) {
  nlohmann::json j;
  j["created_by"] = info.created_by;
  j["source"] = info.source;
  j["recipe"] = {{"name", info.recipe_name}, {"path", info.recipe_path}, {"text", info.recipe_text}};
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : info.tensors) {
    nlohmann::json e = {{"name", t.name}, {"shape", t.shape}, {"stored", packed_as_name(t.stored)}};
    if (!t.note.empty()) e["note"] = t.note;
    tensors.push_back(e);
  }
  j["tensors"] = tensors;
  const std::string text = j.dump(1);
  return std::vector<uint8_t>(text.begin(), text.end());
}

PackModelInfo parse_model_info(Span<const uint8_t> payload, const std::string& file) {
  PackModelInfo info;
  try {
    const auto j = parse_untrusted_json(payload.begin(), payload.end(), file, "MODL section", "model description");
    info.created_by = j.at("created_by").get<std::string>();
    info.source = j.at("source").get<std::string>();
    const auto& recipe = j.at("recipe");
    info.recipe_name = recipe.at("name").get<std::string>();
    info.recipe_path = recipe.at("path").get<std::string>();
    info.recipe_text = recipe.at("text").get<std::string>();
    for (const auto& e : j.at("tensors")) {
      PackTensorEntry t;
      t.name = e.at("name").get<std::string>();
      const std::string field = "MODL: tensors: " + t.name + ": shape";
      const auto& shape = e.at("shape");
      if (!shape.is_array()) throw Error(file, field, "must be an array of dimensions");
      for (std::size_t d = 0; d < shape.size(); ++d) {
        t.shape.push_back(json_integer(shape[d], 0, static_cast<int64_t>(detail::kMaxTensorDimension), file,
                                       field + "[" + std::to_string(d) + "]"));
      }
      const std::string stored = e.at("stored").get<std::string>();
      if (stored == "quantized") t.stored = PackedAs::Quantized;
      else if (stored == "fp32") t.stored = PackedAs::FullPrecision;
      else if (stored == "omitted") t.stored = PackedAs::Omitted;
      else throw Error(file, "MODL: tensors: " + t.name, "unknown storage '" + stored + "'");
      if (e.contains("note")) t.note = e.at("note").get<std::string>();
      info.tensors.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(file, "MODL section", std::string("model description is not valid: ") + e.what());
  }
  return info;
}

// ---- Layer sections ---------------------------------------------------------------------------------

// How many tables a layer holds, from its selector width or its row groups, with codebooks checked
// against it. A single-table layer may carry the golden pair (the second repeating the first).
template <typename Fail>
uint64_t table_count_of(const SopLayerResult& layer, Fail&& fail) {
  const SopScaleLayout& s = layer.scale_layout;
  uint64_t tables = 1;
  if (layer.rows_per_table < 0) fail("rows_per_table", "must not be negative");
  if (layer.rows_per_table > 0) {
    if (s.select != SelectBitPlacement::None) fail("rows_per_table", "row groups pick the table: the layout must have no selector");
    tables = static_cast<uint64_t>((layer.rows + layer.rows_per_table - 1) / layer.rows_per_table);
  } else if (s.select != SelectBitPlacement::None) {
    if (s.select_bits < 1 || s.select_bits > kMaxSelectBits) fail("scale_layout.select_bits", "must be 1..4");
    tables = uint64_t{1} << s.select_bits;
  }
  const bool single_as_pair = tables == 1 && layer.codebooks.size() == 2;
  if (layer.codebooks.size() != tables && !single_as_pair) {
    fail("codebooks", std::to_string(layer.codebooks.size()) + " tables, the layer's " +
                          (layer.rows_per_table > 0 ? "row groups need " : s.select != SelectBitPlacement::None ? "selector needs " : "layout needs ") +
                          std::to_string(tables));
  }
  return tables;
}

// Checks a layer before it is written, so a bug upstream is reported at quantize time, by field,
// rather than as a pack file that decodes to something else.
void check_layer(const SopLayerResult& layer, const std::string& where, int threads) {
  const golden::DecodeConfig& cfg = layer.decode;
  auto fail = [&](const std::string& field, const std::string& message) {
    throw Error(where, "layer '" + layer.tensor_name + "': " + field, message);
  };
  if (layer.rows <= 0 || layer.cols <= 0) fail("shape", "rows and cols must be positive");
  if (layer.block_size <= 0 || layer.block_size > 4096) fail("block_size", "must be 1..4096");
  if (std::abs(cfg.hif.bias) > 64 || std::abs(cfg.scale.bias) > 255) fail("decode", "exponent bias out of the stored range");
  if (cfg.code_bits != 4 && cfg.code_bits != 6) fail("decode.code_bits", "must be 4 or 6");
  if (cfg.entry_bits() > 16) fail("decode", "LUT entries wider than 16 bits");
  if (cfg.scale.bits() > 16) fail("decode.scale", "scale codes wider than 16 bits");
  const golden::ScaleFormat& s = layer.scale_layout.format;
  const golden::ScaleFormat& d = cfg.scale;
  if (s.has_sign != d.has_sign || s.exp_bits != d.exp_bits || s.man_bits != d.man_bits || s.bias != d.bias ||
      s.subnormals != d.subnormals) {
    fail("scale_layout.format", "differs from decode.scale");
  }
  const auto weights = static_cast<uint64_t>(layer.rows) * static_cast<uint64_t>(layer.cols);
  const auto blocks = static_cast<uint64_t>(layer.rows) *
                      static_cast<uint64_t>((layer.cols + layer.block_size - 1) / layer.block_size);
  const uint64_t tables = table_count_of(layer, fail);
  const auto entries = static_cast<std::size_t>(cfg.entries_per_table());
  for (std::size_t t = 0; t < layer.codebooks.size(); ++t) {
    const auto& cb = layer.codebooks[t];
    const std::string field = "codebooks[" + std::to_string(t) + "]";
    if (cb.lut_codes.size() != entries || cb.values.size() != entries) {
      fail(field, "has " + std::to_string(cb.lut_codes.size()) + " LUT codes and " +
                      std::to_string(cb.values.size()) + " values, expected " + std::to_string(entries));
    }
    for (std::size_t k = 0; k < entries; ++k) {
      if (cb.lut_codes[k] >> entry_bits(cfg)) fail(field, "LUT code " + std::to_string(k) + " too wide");
      if (entry_value(cfg, cb.lut_codes[k]) != cb.values[k]) {
        fail(field, "value " + std::to_string(k) + " (" + std::to_string(cb.values[k]) +
                        ") is not what its LUT code decodes to (" +
                        std::to_string(entry_value(cfg, cb.lut_codes[k])) + ")");
      }
    }
    if (cb.name.size() > 0xFFFF) fail(field, "name longer than 65535 bytes");
  }
  if (tables == 1 && layer.codebooks.size() == 2 && layer.codebooks[1].lut_codes != layer.codebooks[0].lut_codes) {
    // The pack stores one table for such a layer; a differing second one would be silently lost.
    fail("codebooks[1]", "a layer without selector or row groups reads table 0 only, but table 1 differs from it");
  }
  if (layer.scale_codes.size() != blocks) fail("scale_codes", "expected one per block (" + std::to_string(blocks) + ")");
  for (uint32_t code : layer.scale_codes) {
    if (code >> cfg.scale.bits()) fail("scale_codes", "a code is wider than the scale format's " + std::to_string(cfg.scale.bits()) + " bits");
  }
  const bool has_select = layer.scale_layout.select != SelectBitPlacement::None;
  if (layer.select.size() != blocks && !(layer.select.empty() && !has_select)) {
    fail("select", "expected one per block (" + std::to_string(blocks) + ")");
  }
  const uint32_t select_limit = has_select ? 1u << layer.scale_layout.select_bits : 1u;
  for (uint8_t sel : layer.select) {
    if (sel >= select_limit) {
      fail("select", has_select ? "a selector is not below 2^select_bits = " + std::to_string(select_limit)
                                : "a layer without a selector has every select 0");
    }
  }
  if (layer.codes.size() != weights) fail("codes", "expected one per weight (" + std::to_string(weights) + ")");
  const uint32_t code_limit = 1u << cfg.code_bits;
  // The largest code, per piece on every thread: one compare per code in the common case.
  constexpr int64_t kPiece = int64_t{1} << 20;
  const auto code_count = static_cast<int64_t>(layer.codes.size());
  std::vector<uint8_t> largest(static_cast<std::size_t>((code_count + kPiece - 1) / kPiece), 0);
  parallel_for_ranges(static_cast<int64_t>(largest.size()), threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const uint8_t* codes = layer.codes.data() + p * kPiece;
      const int64_t n = std::min(kPiece, code_count - p * kPiece);
      uint8_t m = 0;
      for (int64_t i = 0; i < n; ++i) m = codes[i] > m ? codes[i] : m;  // vectorizes
      largest[static_cast<std::size_t>(p)] = m;
    }
  });
  for (uint8_t m : largest) {
    if (m >= code_limit) fail("codes", "code " + std::to_string(m) + " needs more than " + std::to_string(cfg.code_bits) + " bits");
  }
  for (std::size_t i = 0; i < layer.sparse.size(); ++i) {
    if (layer.sparse[i].index >= weights) fail("sparse", "index past the end of the matrix");
    if (i > 0 && layer.sparse[i].index <= layer.sparse[i - 1].index) fail("sparse", "indices must increase");
    if (layer.sparse[i].entry >> cfg.entry_bits()) fail("sparse", "entry wider than the LUT entry format");
  }
  if (!layer.channel_factors.empty() && layer.channel_factors.size() != static_cast<std::size_t>(layer.cols)) {
    fail("channel_factors", "expected cols entries or none");
  }
  if (!std::isfinite(layer.tensor_scale) || layer.tensor_scale == 0.0f) fail("tensor_scale", "must be finite and nonzero");
}

// Table names the pack stores as one byte (docs/pack-format.md, "Table names"). Append only: a
// file's name codes must keep their meaning. Code 0 means the name follows as a str16.
constexpr const char* kTableNames[] = {
    "",           "DD4",        "DD4a",       "DD4b",       "NF4",        "Split87",    "SH4",
    "IQ4_NL",     "E2M1",       "E2M3",       "E3M2",       "BOF4@g16",   "BOF4@g32",   "BOF4@g64",
    "BOF4-S@g16", "BOF4-S@g32", "BOF4-S@g64",
};
constexpr uint32_t kTableNameCount = sizeof kTableNames / sizeof kTableNames[0];

uint32_t table_name_code(const std::string& name) {
  for (uint32_t i = 1; i < kTableNameCount; ++i) {
    if (name == kTableNames[i]) return i;
  }
  return 0;
}

// Bits a flat sparse index is stored with: enough for rows x cols positions (the width the search
// counts, sop_search.h sparse_index_bits).
int stored_index_bits(uint64_t weights) {
  int bits = 1;
  while (bits < 64 && (uint64_t{1} << bits) < weights) ++bits;
  return bits;
}

constexpr uint32_t kScaleSigned = 1u;      // scale_flags bits (docs/pack-format.md)
constexpr uint32_t kScaleSubnormals = 2u;
constexpr uint32_t kScalePerTensor = 4u;

// The 2.0 LAYR payload: a fixed binary header, then the counted data, each array packed at the width
// the search counts it with.
constexpr uint32_t kOwnTables = 0xFFFFFFFFu;  // tables_from: the layer stores its own tables

// Built into `w` (cleared first; the writer keeps one for every layer, so its storage is reused).
void layer_payload(const SopLayerResult& layer, uint32_t tables_from, int threads, ByteWriter& w) {
  const golden::DecodeConfig& cfg = layer.decode;
  const SopScaleLayout& s = layer.scale_layout;
  const bool has_select = s.select != SelectBitPlacement::None && layer.rows_per_table == 0;
  const std::size_t tables = layer.rows_per_table > 0
                                 ? static_cast<std::size_t>((layer.rows + layer.rows_per_table - 1) / layer.rows_per_table)
                                 : has_select ? std::size_t{1} << s.select_bits : 1;
  const uint64_t weights = static_cast<uint64_t>(layer.rows) * static_cast<uint64_t>(layer.cols);
  w.clear();
  w.short_string(layer.tensor_name);
  w.u64(static_cast<uint64_t>(layer.rows));
  w.u64(static_cast<uint64_t>(layer.cols));
  w.u16(static_cast<uint32_t>(layer.block_size));
  w.u8(static_cast<uint32_t>(cfg.code_bits));
  w.u8(cfg.entry_format == golden::EntryFormat::Hif ? 0u : 1u);
  w.u8(static_cast<uint32_t>(cfg.hif.man_bits));
  w.u8(static_cast<uint32_t>(cfg.hif.exp_bits));
  w.u8(static_cast<uint32_t>(static_cast<uint8_t>(static_cast<int8_t>(cfg.hif.bias))));
  w.u8(static_cast<uint32_t>(cfg.scale.exp_bits));
  w.u8(static_cast<uint32_t>(cfg.scale.man_bits));
  w.u16(static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(cfg.scale.bias))));
  w.u8((cfg.scale.has_sign ? kScaleSigned : 0u) | (cfg.scale.subnormals ? kScaleSubnormals : 0u) |
       (s.per_tensor_fp32 ? kScalePerTensor : 0u));
  w.u8(select_code(s.select));
  w.u8(has_select ? static_cast<uint32_t>(s.select_bits) : 0u);
  w.u64(static_cast<uint64_t>(layer.rows_per_table));
  w.u32(static_cast<uint32_t>(tables));
  w.u32(tables_from);
  w.u64(layer.sparse.size());
  w.u8(static_cast<uint32_t>(layer.sparse_index_bits));
  w.u8(layer.channel_factors.empty() ? 0u : 1u);
  w.short_string(s.name);
  w.short_string(layer.choice.option);
  w.f64(layer.choice.bits);
  w.f64(layer.choice.weighted_error);

  // The counted data.
  w.f32(layer.tensor_scale);
  if (tables_from == kOwnTables) {
    std::vector<uint32_t> entries;
    for (std::size_t t = 0; t < tables; ++t) {
      const SopCodebook& cb = layer.codebooks[t];
      const uint32_t code = table_name_code(cb.name);
      w.u8(code);
      if (code == 0) w.short_string(cb.name);
      entries.insert(entries.end(), cb.lut_codes.begin(), cb.lut_codes.end());
    }
    w.raw(detail::pack_bits(entries, cfg.entry_bits()));
  }
  w.raw(detail::pack_bits(layer.scale_codes, cfg.scale.bits()));
  if (has_select) {
    const std::vector<uint32_t> select(layer.select.begin(), layer.select.end());
    w.raw(detail::pack_bits(select, s.select_bits));
  }
  // The codes, the bulk of the payload, packed in place in pieces of a whole number of bytes.
  const std::size_t code_bytes = (layer.codes.size() * static_cast<std::size_t>(cfg.code_bits) + 7) / 8;
  w.reserve(w.size() + code_bytes + layer.sparse.size() * 12 + layer.channel_factors.size() * 4 + 64);
  uint8_t* packed = w.append_zeroed(code_bytes);
  constexpr int64_t kPiece = int64_t{1} << 20;  // codes per piece: a multiple of 8 ends on a byte
  const auto code_count = static_cast<int64_t>(layer.codes.size());
  parallel_for_ranges((code_count + kPiece - 1) / kPiece, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t first = p * kPiece;
      const auto n = static_cast<std::size_t>(std::min(kPiece, code_count - first));
      golden::pack_codes_to(Span<const uint8_t>(layer.codes.data() + first, n), cfg.code_bits,
                            packed + static_cast<std::size_t>(first) * static_cast<std::size_t>(cfg.code_bits) / 8);
    }
  });
  std::vector<uint64_t> indices;
  std::vector<uint32_t> sparse_entries;
  for (const auto& e : layer.sparse) {
    indices.push_back(e.index);
    sparse_entries.push_back(e.entry);
  }
  w.raw(detail::pack_bits64(indices, stored_index_bits(weights)));
  w.raw(detail::pack_bits(sparse_entries, cfg.entry_bits()));
  for (float c : layer.channel_factors) w.f32(c);
}

// The decode format fields common to both versions, checked the same way.
void check_hif(ByteCursor& in, const golden::HifFormat& hif) {
  if (hif.man_bits < 2 || hif.man_bits > 12 || hif.exp_bits < 1 || hif.exp_bits > 4 || hif.bits() > 16 ||
      std::abs(hif.bias) > 64) {
    in.fail("hif format", "implausible HIF parameters");
  }
}
void check_scale(ByteCursor& in, const golden::ScaleFormat& scale) {
  if (scale.exp_bits < 1 || scale.exp_bits > 8 || scale.man_bits < 0 || scale.man_bits > 10 || scale.bits() > 16 ||
      std::abs(scale.bias) > 255) {
    in.fail("scale format", "implausible scale format parameters");
  }
}
SelectBitPlacement read_placement(ByteCursor& in) {
  const uint32_t placement = in.u8("select_placement");
  if (placement > 2) in.fail("select_placement", "unknown value " + std::to_string(placement));
  return placement == 0 ? SelectBitPlacement::None : placement == 1 ? SelectBitPlacement::Stolen : SelectBitPlacement::Beside;
}
// rows and cols, checked against the 2^48 weights a layer may have; returns rows x cols.
uint64_t read_shape(ByteCursor& in, PackedLayerView& v) {
  const uint64_t rows = in.u64("rows");
  const uint64_t cols = in.u64("cols");
  uint64_t weights = 0;
  if (rows == 0 || cols == 0 || !detail::checked_mul(rows, cols, &weights) || weights > (uint64_t{1} << 48)) {
    in.fail("rows/cols", "implausible shape " + std::to_string(rows) + " x " + std::to_string(cols));
  }
  v.rows = static_cast<int64_t>(rows);
  v.cols = static_cast<int64_t>(cols);
  return weights;
}
void set_block_size(ByteCursor& in, PackedLayerView& v, uint32_t block) {
  if (block == 0 || block > 4096) in.fail("block_size", "out of range: " + std::to_string(block));
  v.block_size = static_cast<int>(block);
}
void set_code_bits(ByteCursor& in, PackedLayerView& v, uint32_t code_bits) {
  if (code_bits != 4 && code_bits != 6) in.fail("code_bits", "must be 4 or 6, is " + std::to_string(code_bits));
  v.decode.code_bits = static_cast<int>(code_bits);
}
void set_entry_format(ByteCursor& in, PackedLayerView& v, uint32_t entry_format) {
  if (entry_format > 1) in.fail("entry_format", "unknown LUT entry format " + std::to_string(entry_format));
  v.decode.entry_format = entry_format == 0 ? golden::EntryFormat::Hif : golden::EntryFormat::Fp16;
}
// A table whose values are the decode of its LUT codes (the only source of values in 2.0).
SopCodebook table_from_codes(const golden::DecodeConfig& cfg, std::string name, std::vector<uint32_t> codes) {
  SopCodebook cb;
  cb.name = std::move(name);
  for (uint32_t code : codes) cb.values.push_back(entry_value(cfg, code));
  cb.lut_codes = std::move(codes);
  return cb;
}
// Sparse indices must increase and stay inside the matrix.
void check_sparse_indices(ByteCursor& in, const std::vector<SopSparseEntry>& sparse, uint64_t weights) {
  for (std::size_t i = 0; i < sparse.size(); ++i) {
    if (sparse[i].index >= weights) in.fail("sparse index", "entry " + std::to_string(i) + " points past the matrix");
    if (i > 0 && sparse[i].index <= sparse[i - 1].index) in.fail("sparse index", "indices must increase");
  }
}

// Parses and validates one 2.0 LAYR payload. Every count is checked against the bytes that remain
// before anything is allocated or indexed.
PackedLayerView parse_layer(Span<const uint8_t> payload, const std::string& file, const std::string& section,
                            bool has_tables_from) {
  ByteCursor in(payload, file, section);
  PackedLayerView v;
  v.name = in.short_string("name");
  in.set_context(section + " (layer '" + v.name + "')");
  const uint64_t weights = read_shape(in, v);
  set_block_size(in, v, in.u16("block_size"));
  set_code_bits(in, v, in.u8("code_bits"));
  set_entry_format(in, v, in.u8("entry_format"));
  v.decode.hif.man_bits = static_cast<int>(in.u8("hif_man_bits"));
  v.decode.hif.exp_bits = static_cast<int>(in.u8("hif_exp_bits"));
  v.decode.hif.bias = static_cast<int8_t>(static_cast<uint8_t>(in.u8("hif_bias")));
  check_hif(in, v.decode.hif);
  golden::ScaleFormat& scale = v.decode.scale;
  scale.exp_bits = static_cast<int>(in.u8("scale_exp_bits"));
  scale.man_bits = static_cast<int>(in.u8("scale_man_bits"));
  scale.bias = static_cast<int16_t>(static_cast<uint16_t>(in.u16("scale_bias")));
  const uint32_t flags = in.u8("scale_flags");
  if (flags & ~(kScaleSigned | kScaleSubnormals | kScalePerTensor)) in.fail("scale_flags", "unknown flag bits");
  scale.has_sign = (flags & kScaleSigned) != 0;
  scale.subnormals = (flags & kScaleSubnormals) != 0;
  check_scale(in, scale);
  v.scale_layout.format = scale;
  v.scale_layout.per_tensor_fp32 = (flags & kScalePerTensor) != 0;
  v.scale_layout.select = read_placement(in);
  const uint32_t select_bits = in.u8("select_bits");
  const bool has_select = v.scale_layout.select != SelectBitPlacement::None;
  if (has_select ? (select_bits < 1 || select_bits > kMaxSelectBits) : select_bits != 0) {
    in.fail("select_bits", std::to_string(select_bits) + (has_select ? " is not 1..4" : " without a selector placement"));
  }
  v.select_bits = static_cast<int>(select_bits);
  if (has_select) v.scale_layout.select_bits = v.select_bits;
  const uint64_t rows_per_table = in.u64("rows_per_table");
  if (rows_per_table > static_cast<uint64_t>(v.rows)) in.fail("rows_per_table", "more than the layer's rows");
  if (rows_per_table > 0 && has_select) in.fail("rows_per_table", "row groups and a selector both pick the table");
  v.rows_per_table = static_cast<int64_t>(rows_per_table);
  const uint64_t expected_tables = rows_per_table > 0 ? (static_cast<uint64_t>(v.rows) + rows_per_table - 1) / rows_per_table
                                   : has_select ? uint64_t{1} << select_bits : 1;
  const uint32_t table_count = in.u32("table_count");
  if (table_count != expected_tables) {
    in.fail("table_count", std::to_string(table_count) + " tables, the layout needs " + std::to_string(expected_tables));
  }
  // 3.x: the layer may use an earlier layer's tables (checked against it once every layer is read).
  const uint32_t tables_from = has_tables_from ? in.u32("tables_from") : kOwnTables;
  if (tables_from != kOwnTables && rows_per_table > 0) in.fail("tables_from", "row-group tables are not shared");
  if (tables_from != kOwnTables) v.tables_from = tables_from;
  const uint64_t sparse_count = in.u64("sparse_count");
  if (sparse_count > weights) in.fail("sparse_count", std::to_string(sparse_count) + " residuals for " + std::to_string(weights) + " weights");
  v.sparse_index_bits = static_cast<int>(in.u8("sparse_index_bits"));
  const uint32_t has_factors = in.u8("channel_factors");
  if (has_factors > 1) in.fail("channel_factors", "flag must be 0 or 1");
  v.scale_layout.name = in.short_string("scale_layout_name");
  v.choice.option = in.short_string("choice_option");
  v.choice.bits = in.f64("choice_bits");
  v.choice.bpw = v.choice.bits / static_cast<double>(weights);
  v.choice.weighted_error = in.f64("choice_weighted_error");

  // The counted data; its size is what `sop inspect` compares with the search's count.
  const std::size_t data_begin = in.position();
  v.tensor_scale = in.f32("tensor_scale");
  if (!std::isfinite(v.tensor_scale) || v.tensor_scale == 0.0f) in.fail("tensor_scale", "must be finite and nonzero");
  const auto entries = static_cast<uint64_t>(v.decode.entries_per_table());
  const int ebits = v.decode.entry_bits();
  if (tables_from == kOwnTables) {
    // At least one byte per table name: bounds the table count by the section before allocating.
    if (table_count > in.remaining()) in.fail("table_count", "tables do not fit the section");
    std::vector<std::string> names(table_count);
    for (auto& name : names) {
      const uint32_t code = in.u8("table name");
      if (code >= kTableNameCount) in.fail("table name", "unknown name code " + std::to_string(code));
      name = code == 0 ? in.short_string("table name") : kTableNames[code];
    }
    const Span<const uint8_t> table_bits = in.bytes(detail::packed_byte_count(table_count * entries, ebits), "tables");
    v.codebooks.reserve(table_count);
    for (uint32_t t = 0; t < table_count; ++t) {
      std::vector<uint32_t> codes(static_cast<std::size_t>(entries));
      for (uint64_t k = 0; k < entries; ++k) codes[k] = detail::read_packed_bits(table_bits, ebits, t * entries + k);
      v.codebooks.push_back(table_from_codes(v.decode, std::move(names[t]), std::move(codes)));
    }
  }
  const uint64_t blocks = static_cast<uint64_t>(v.block_count());
  v.scale_codes = in.bytes(detail::packed_byte_count(blocks, scale.bits()), "scale_codes");
  if (has_select) v.selectors = in.bytes(detail::packed_byte_count(blocks, v.select_bits), "selectors");
  v.codes = in.bytes(detail::packed_byte_count(weights, v.decode.code_bits), "codes");
  const int index_bits = stored_index_bits(weights);
  const Span<const uint8_t> index_bytes = in.bytes(detail::packed_byte_count(sparse_count, index_bits), "sparse_indices");
  const Span<const uint8_t> entry_bytes = in.bytes(detail::packed_byte_count(sparse_count, ebits), "sparse_entries");
  v.sparse.resize(static_cast<std::size_t>(sparse_count));
  for (std::size_t i = 0; i < v.sparse.size(); ++i) {
    v.sparse[i].index = detail::read_packed_bits64(index_bytes, index_bits, i);
    v.sparse[i].entry = detail::read_packed_bits(entry_bytes, ebits, i);
  }
  check_sparse_indices(in, v.sparse, weights);
  if (has_factors) {
    if (static_cast<uint64_t>(v.cols) * 4 > in.remaining()) in.fail("channel_factors", "truncated");
    v.channel_factors.resize(static_cast<std::size_t>(v.cols));
    for (auto& c : v.channel_factors) {
      c = in.f32("channel_factors");
      if (!std::isfinite(c)) in.fail("channel_factors", "not finite");
    }
  }
  if (in.remaining() != 0) in.fail("end", std::to_string(in.remaining()) + " unexplained bytes after the last field");
  v.data_bytes = payload.size() - data_begin;
  return v;
}

// Parses and validates one 1.x LAYR payload (docs/pack-format.md, "Reading version 1.0"): two tables
// stored as codes and FP32 values, 1-bit selects, u32/u64 sparse indices.
PackedLayerView parse_layer_v1(Span<const uint8_t> payload, const std::string& file, const std::string& section) {
  ByteCursor in(payload, file, section);
  PackedLayerView v;
  v.name = in.short_string("name");
  in.set_context(section + " (layer '" + v.name + "')");

  const uint64_t weights = read_shape(in, v);
  const auto rows = static_cast<uint64_t>(v.rows);
  const auto cols = static_cast<uint64_t>(v.cols);
  set_block_size(in, v, in.u32("block_size"));
  const uint64_t block = static_cast<uint64_t>(v.block_size);
  set_code_bits(in, v, in.u8("code_bits"));
  set_entry_format(in, v, in.u8("entry_format"));
  v.decode.hif.man_bits = static_cast<int>(in.u8("hif_man_bits"));
  v.decode.hif.exp_bits = static_cast<int>(in.u8("hif_exp_bits"));
  v.decode.hif.bias = in.i32("hif_bias");
  check_hif(in, v.decode.hif);

  v.scale_layout.name = in.short_string("scale_layout_name");
  golden::ScaleFormat& scale = v.decode.scale;
  scale.exp_bits = static_cast<int>(in.u8("scale_exp_bits"));
  scale.man_bits = static_cast<int>(in.u8("scale_man_bits"));
  scale.bias = in.i32("scale_bias");
  const uint32_t scale_signed = in.u8("scale_signed");
  const uint32_t scale_subnormals = in.u8("scale_subnormals");
  if (scale_signed > 1 || scale_subnormals > 1) in.fail("scale flags", "flags must be 0 or 1");
  scale.has_sign = scale_signed == 1;
  scale.subnormals = scale_subnormals == 1;
  check_scale(in, scale);
  v.scale_layout.format = scale;
  v.scale_layout.select = read_placement(in);
  const bool has_select = v.scale_layout.select != SelectBitPlacement::None;
  v.select_bits = has_select ? 1 : 0;  // 1.x has the pair's one select bit
  v.scale_layout.select_bits = 1;
  const uint32_t per_tensor = in.u8("per_tensor_fp32");
  if (per_tensor > 1) in.fail("per_tensor_fp32", "flag must be 0 or 1");
  v.scale_layout.per_tensor_fp32 = per_tensor == 1;
  const std::size_t data_begin = in.position();
  v.tensor_scale = in.f32("tensor_scale");
  if (!std::isfinite(v.tensor_scale) || v.tensor_scale == 0.0f) in.fail("tensor_scale", "must be finite and nonzero");

  const auto entries = static_cast<std::size_t>(v.decode.entries_per_table());
  for (int t = 0; t < kTablesPerLayerV1; ++t) {
    const std::string name = in.short_string("codebook name");
    const std::string field = "codebooks[" + std::to_string(t) + "]";
    if (in.remaining() < entries * 6) in.fail(field, "table truncated");
    std::vector<uint32_t> codes;
    for (std::size_t k = 0; k < entries; ++k) {
      const uint32_t code = in.u16("lut_codes");
      if (code >> v.decode.entry_bits()) in.fail(field, "LUT code " + std::to_string(k) + " wider than the entry format");
      codes.push_back(code);
    }
    SopCodebook cb = table_from_codes(v.decode, name, std::move(codes));
    for (std::size_t k = 0; k < entries; ++k) {
      if (in.f32("values") != cb.values[k]) in.fail(field, "value " + std::to_string(k) + " does not match its LUT code");
    }
    // Without a select bit only table 0 is read: the view holds T = 1 table, as a 2.0 file would.
    if (t == 0 || has_select) v.codebooks.push_back(std::move(cb));
  }

  const uint64_t blocks = in.u64("block_count");
  const uint64_t blocks_per_row = (cols + block - 1) / block;
  if (blocks != rows * blocks_per_row) {
    in.fail("block_count", std::to_string(blocks) + " blocks, the shape needs " + std::to_string(rows * blocks_per_row));
  }
  v.scale_codes = in.bytes(detail::packed_byte_count(blocks, scale.bits()), "scale_codes");
  if (has_select) v.selectors = in.bytes(detail::packed_byte_count(blocks, 1), "select_bits");

  const uint64_t code_count = in.u64("code_count");
  if (code_count != weights) in.fail("code_count", std::to_string(code_count) + " codes for " + std::to_string(weights) + " weights");
  v.codes = in.bytes(detail::packed_byte_count(weights, v.decode.code_bits), "codes");

  const uint64_t sparse_count = in.u64("sparse_count");
  v.sparse_index_bits = static_cast<int>(in.u8("sparse_index_bits"));
  const uint32_t index_width = in.u8("sparse_index_width");
  if (index_width != 4 && index_width != 8) in.fail("sparse_index_width", "must be 4 or 8");
  if (sparse_count > weights || sparse_count * (index_width + 2) > in.remaining()) {
    in.fail("sparse_count", std::to_string(sparse_count) + " entries do not fit the section");
  }
  v.sparse.resize(static_cast<std::size_t>(sparse_count));
  for (auto& e : v.sparse) e.index = index_width == 4 ? in.u32("sparse index") : in.u64("sparse index");
  check_sparse_indices(in, v.sparse, weights);
  for (auto& e : v.sparse) {
    e.entry = in.u16("sparse entry");
    if (e.entry >> v.decode.entry_bits()) in.fail("sparse entry", "wider than the LUT entry format");
  }

  const uint64_t factor_count = in.u64("channel_factor_count");
  if (factor_count != 0 && factor_count != cols) in.fail("channel_factor_count", "must be 0 or cols");
  if (factor_count * 4 > in.remaining()) in.fail("channel_factors", "truncated");
  v.channel_factors.resize(static_cast<std::size_t>(factor_count));
  for (auto& c : v.channel_factors) {
    c = in.f32("channel_factors");
    if (!std::isfinite(c)) in.fail("channel_factors", "not finite");
  }

  const std::size_t data_end = in.position();
  v.choice.option = in.short_string("choice option");
  v.choice.bits = in.f64("choice bits");
  v.choice.bpw = in.f64("choice bpw");
  v.choice.weighted_error = in.f64("choice weighted_error");
  if (in.remaining() != 0) in.fail("end", std::to_string(in.remaining()) + " unexplained bytes after the last field");
  v.data_bytes = data_end - data_begin;
  return v;
}

// ---- Full-precision tensors -------------------------------------------------------------------------

std::vector<uint8_t> tensor_payload(const Tensor& t) {
  ByteWriter w;
  w.short_string(t.name);
  w.u8(static_cast<uint32_t>(t.shape.size()));
  for (int64_t d : t.shape) w.u64(static_cast<uint64_t>(d));
  for (float v : t.values) w.f32(v);
  return std::move(w.bytes());
}

PackedTensorView parse_tensor(Span<const uint8_t> payload, const std::string& file, const std::string& section) {
  ByteCursor in(payload, file, section);
  PackedTensorView v;
  v.name = in.short_string("name");
  in.set_context(section + " (tensor '" + v.name + "')");
  const uint32_t rank = in.u8("rank");
  if (rank > kMaxRank) in.fail("rank", "more than " + std::to_string(kMaxRank) + " dimensions");
  for (uint32_t i = 0; i < rank; ++i) {
    const uint64_t d = in.u64("shape");
    if (d > detail::kMaxTensorDimension) in.fail("shape", "implausible dimension " + std::to_string(d));
    v.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t count = 0;
  uint64_t bytes = 0;
  if (!detail::checked_element_count(v.shape.data(), v.shape.size(), &count) || !detail::checked_mul(count, 4, &bytes)) {
    in.fail("shape", "element count overflows");
  }
  v.values = in.bytes(bytes, "values");
  if (in.remaining() != 0) in.fail("end", std::to_string(in.remaining()) + " unexplained bytes after the values");
  return v;
}

}  // namespace

// ---- Public helpers ---------------------------------------------------------------------------------

const char* packed_as_name(PackedAs kind) {
  switch (kind) {
    case PackedAs::Quantized: return "quantized";
    case PackedAs::FullPrecision: return "fp32";
    case PackedAs::Omitted: return "omitted";
  }
  return "omitted";
}

uint32_t PackedLayerView::scale_code(int64_t block) const {
  return detail::read_packed_bits(scale_codes, decode.scale.bits(), static_cast<uint64_t>(block));
}

uint32_t PackedLayerView::table_of(int64_t block) const {
  if (rows_per_table > 0) return static_cast<uint32_t>(block / blocks_per_row() / rows_per_table);
  if (select_bits == 0) return 0;
  return detail::read_packed_bits(selectors, select_bits, static_cast<uint64_t>(block));
}

golden::LayerTables pair_tables(const PackedLayerView& layer, const std::string& consumer) {
  if (layer.codebooks.size() > 2) {
    throw Error(consumer, "layer '" + layer.name + "'",
                std::to_string(layer.codebooks.size()) + " tables (" +
                    (layer.rows_per_table > 0 ? "one per " + std::to_string(layer.rows_per_table) + " rows"
                                              : std::to_string(layer.select_bits) + "-bit selector") +
                    "): this consumer holds only the pair of 2 tables per layer");
  }
  golden::LayerTables tables;
  for (std::size_t t = 0; t < 2; ++t) {
    const auto& codes = layer.codebooks[std::min(t, layer.codebooks.size() - 1)].lut_codes;
    tables.entries.insert(tables.entries.end(), codes.begin(), codes.end());
  }
  return tables;
}

int64_t PackedTensorView::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> tensor_values(const PackedTensorView& tensor) {
  std::vector<float> out(static_cast<std::size_t>(tensor.element_count()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::memcpy(&out[i], tensor.values.data() + 4 * i, 4);  // FP32 little-endian, as this host stores it
  }
  return out;
}

std::vector<float> dequantize_layer(const PackedLayerView& layer) {
  const golden::DecodeConfig& cfg = layer.decode;
  golden::LayerTables tables;
  for (const SopCodebook& cb : layer.codebooks) tables.entries.insert(tables.entries.end(), cb.lut_codes.begin(), cb.lut_codes.end());

  const auto rows = static_cast<std::size_t>(layer.rows);
  const auto cols = static_cast<std::size_t>(layer.cols);
  const auto block = static_cast<std::size_t>(layer.block_size);
  std::vector<float> out(rows * cols);
  std::vector<uint8_t> row_codes(cols);
  std::vector<golden::Product> products(block);
  std::vector<golden::Residual> block_residuals;
  auto next_residual = layer.sparse.begin();
  const bool has_factors = !layer.channel_factors.empty();
  try {
    for (std::size_t r = 0; r < rows; ++r) {
      golden::unpack_codes(layer.codes, cfg.code_bits, r * cols, Span<uint8_t>(row_codes.data(), cols));
      int64_t block_index = static_cast<int64_t>(r) * layer.blocks_per_row();
      for (std::size_t start = 0; start < cols; start += block, ++block_index) {
        const std::size_t length = std::min(block, cols - start);
        golden::Block b;
        b.scale_code = layer.scale_code(block_index);
        b.table = layer.table_of(block_index);
        b.codes = Span<const uint8_t>(row_codes.data() + start, length);
        // Residuals are stored by index over the tensor; decode_block wants them relative to the block.
        const uint64_t block_begin = r * cols + start;
        block_residuals.clear();
        while (next_residual != layer.sparse.end() && next_residual->index < block_begin + length) {
          block_residuals.push_back({static_cast<uint32_t>(next_residual->index - block_begin), next_residual->entry});
          ++next_residual;
        }
        golden::decode_block(cfg, tables, b, block_residuals, Span<golden::Product>(products.data(), length));
        float* dst = out.data() + r * cols + start;
        for (std::size_t k = 0; k < length; ++k) {
          // Outside the decode unit, in sop_layer.h's order: the per-tensor scale, then the channel
          // factor the hardware folds into the activations.
          const float scaled = layer.tensor_scale * golden::to_float(products[k]);
          dst[k] = has_factors ? layer.channel_factors[start + k] * scaled : scaled;
        }
      }
    }
  } catch (const std::logic_error& e) {
    throw Error("pack", "layer '" + layer.name + "'", std::string("golden decode refused the layer: ") + e.what());
  }
  return out;
}

// ---- Writer -----------------------------------------------------------------------------------------

PackWriter::PackWriter(std::string path, const PackModelInfo& info, int threads)
    : path_(std::move(path)), out_(std::make_unique<AtomicOutputFile>(path_)), threads_(threads) {
  uint8_t header[kFileHeaderBytes] = {};
  std::memcpy(header, kFileMagic, sizeof kFileMagic);
  header[8] = static_cast<uint8_t>(kPackVersionMajor & 0xFF);
  header[9] = static_cast<uint8_t>(kPackVersionMajor >> 8);
  header[10] = static_cast<uint8_t>(kPackVersionMinor & 0xFF);
  header[11] = static_cast<uint8_t>(kPackVersionMinor >> 8);
  write_raw(header, sizeof header);
  write_section(kTagModel, model_info_payload(info));
}

PackWriter::~PackWriter() = default;  // out_ removes the temporary unless finish() committed it

void PackWriter::write_raw(const uint8_t* data, std::size_t size) {
  write_raw(data, size, detail::crc32_update(0, data, size));
}

void PackWriter::write_raw(const uint8_t* data, std::size_t size, uint32_t crc) {
  out_->write(data, size);
  file_crc_ = detail::crc32_combine(file_crc_, crc, size);
  bytes_written_ += size;
}

void PackWriter::write_section(const char tag[4], const std::vector<uint8_t>& payload) {
  ByteWriter h;
  for (int i = 0; i < 4; ++i) h.u8(static_cast<uint8_t>(tag[i]));
  h.u32(0);  // flags
  h.u64(payload.size());
  const uint32_t payload_crc = detail::crc32_parallel(payload, threads_);
  h.u32(payload_crc);
  h.u32(detail::crc32(Span<const uint8_t>(h.bytes().data(), h.size())));
  write_raw(h.bytes().data(), h.size());
  write_raw(payload.data(), payload.size(), payload_crc);  // the file CRC continues from the payload's
  ++section_count_;
}

void PackWriter::add_layer(const SopLayerResult& layer) {
  if (finished_) throw Error(path_, layer.tensor_name, "pack already finished");
  check_layer(layer, path_, threads_);
  uint32_t tables_from = kOwnTables;
  if (layer.table_group >= 0) {
    if (layer.rows_per_table > 0) throw Error(path_, layer.tensor_name, "table_group: row-group tables are not shared");
    const auto it = shared_sets_.find(layer.table_group);
    if (layer.tables_stored) {
      if (it != shared_sets_.end()) {
        throw Error(path_, layer.tensor_name, "table_group: set " + std::to_string(layer.table_group) + " is stored already");
      }
      shared_sets_.emplace(layer.table_group, StoredSet{layer_count_, layer.decode, layer.codebooks});
    } else {
      if (it == shared_sets_.end()) {
        throw Error(path_, layer.tensor_name, "table_group: set " + std::to_string(layer.table_group) +
                                                  " is not stored by an earlier layer");
      }
      const StoredSet& set = it->second;
      const bool same = set.decode.code_bits == layer.decode.code_bits && set.decode.entry_format == layer.decode.entry_format &&
                        same_lut_tables(set.tables, layer.codebooks);
      if (!same) {
        throw Error(path_, layer.tensor_name, "table_group: its tables differ from set " + std::to_string(layer.table_group) +
                                                  "'s, which it refers to");
      }
      tables_from = set.layer;
    }
  }
  layer_payload(layer, tables_from, threads_, payload_);
  write_section(kTagLayer, payload_.bytes());
  ++layer_count_;
  out_->start_writeback();  // the disk writes this layer while the next one is quantized
}

void PackWriter::add_tensor(const Tensor& tensor) {
  if (finished_) throw Error(path_, tensor.name, "pack already finished");
  if (tensor.shape.size() > static_cast<std::size_t>(kMaxRank)) throw Error(path_, tensor.name, "too many dimensions");
  write_section(kTagTensor, tensor_payload(tensor));
}

void PackWriter::finish() {
  if (finished_) return;
  ByteWriter t;
  for (uint8_t b : kEndMagic) t.u8(b);
  t.u32(section_count_);
  t.u32(file_crc_);  // of every byte before the trailer
  t.u64(bytes_written_ + kTrailerBytes);
  write_raw(t.bytes().data(), t.size());
  out_->commit();
  finished_ = true;
}

// ---- Reader -----------------------------------------------------------------------------------------

PackFile PackFile::open(const std::string& path) {
  PackFile pack;
  pack.file_ = std::make_unique<detail::MappedFile>(path);
  const uint8_t* data = pack.file_->data();
  const std::size_t size = pack.file_->size();
  if (size < kFileHeaderBytes + kTrailerBytes) {
    throw Error(path, "file header", "truncated: " + std::to_string(size) + " bytes, a pack file has at least " +
                                         std::to_string(kFileHeaderBytes + kTrailerBytes));
  }
  if (std::memcmp(data, kFileMagic, sizeof kFileMagic) != 0) throw Error(path, "file header", "not a sop pack file (bad magic)");
  pack.version_major_ = static_cast<uint16_t>(data[8] | data[9] << 8);
  pack.version_minor_ = static_cast<uint16_t>(data[10] | data[11] << 8);
  if (pack.version_major_ < kPackOldestReadMajor || pack.version_major_ > kPackVersionMajor) {
    throw Error(path, "file header", "pack format version " + std::to_string(pack.version_major_) + "." +
                                         std::to_string(pack.version_minor_) + ", this build reads versions " +
                                         std::to_string(kPackOldestReadMajor) + ".x to " +
                                         std::to_string(kPackVersionMajor) + ".x");
  }

  // Walk the sections. Each header is checked (its own CRC, then its length against the bytes left)
  // before its payload is looked at, so a truncated or corrupt file is named by section.
  std::size_t offset = kFileHeaderBytes;
  uint32_t sections = 0;
  bool saw_trailer = false;
  std::vector<std::pair<std::string, Span<const uint8_t>>> payloads;
  std::vector<std::size_t> payload_offsets;
  while (offset < size) {
    const std::size_t left = size - offset;
    if (left >= sizeof kEndMagic && std::memcmp(data + offset, kEndMagic, sizeof kEndMagic) == 0) {
      if (left != kTrailerBytes) {
        throw Error(path, "end marker", "at offset " + std::to_string(offset) + " followed by " +
                                            std::to_string(left - sizeof kEndMagic) + " bytes, expected " +
                                            std::to_string(kTrailerBytes - sizeof kEndMagic));
      }
      saw_trailer = true;
      break;
    }
    const std::string section = "section " + std::to_string(sections) + " at offset " + std::to_string(offset);
    if (left < kSectionHeaderBytes) {
      throw Error(path, section, "truncated: " + std::to_string(left) + " bytes left, a section header needs " +
                                     std::to_string(kSectionHeaderBytes) + " (and the end marker is missing)");
    }
    const uint8_t* h = data + offset;
    if (detail::crc32_update(0, h, 20) != read_le32(h + 20)) {
      throw Error(path, section, "section header checksum mismatch (corrupt file)");
    }
    const std::string tag = tag_text(h);
    const uint32_t flags = read_le32(h + 4);
    const uint64_t length = read_le64(h + 8);
    const std::string named = section + " (" + tag + ")";
    if (length > left - kSectionHeaderBytes) {
      throw Error(path, named, "payload of " + std::to_string(length) + " bytes but only " +
                                   std::to_string(left - kSectionHeaderBytes) + " remain: file truncated");
    }
    const Span<const uint8_t> payload(h + kSectionHeaderBytes, static_cast<std::size_t>(length));
    if (detail::crc32(payload) != read_le32(h + 16)) throw Error(path, named, "payload checksum mismatch (corrupt file)");
    const bool known = std::memcmp(h, kTagModel, 4) == 0 || std::memcmp(h, kTagLayer, 4) == 0 ||
                       std::memcmp(h, kTagTensor, 4) == 0;
    if (!known && !(flags & kSectionOptional)) throw Error(path, named, "unknown required section");
    if (known) {
      payloads.emplace_back(tag, payload);
      payload_offsets.push_back(offset);
    }
    offset += kSectionHeaderBytes + static_cast<std::size_t>(length);
    ++sections;
  }
  if (!saw_trailer) {
    throw Error(path, "end marker", "missing after section " + std::to_string(sections) +
                                        " (the file is truncated or was not finished)");
  }
  const uint8_t* trailer = data + offset;
  const uint32_t stored_sections = read_le32(trailer + 8);
  const uint32_t stored_crc = read_le32(trailer + 12);
  const uint64_t stored_length = read_le64(trailer + 16);
  if (stored_length != size) {
    throw Error(path, "end marker", "records a file of " + std::to_string(stored_length) + " bytes, the file has " +
                                        std::to_string(size));
  }
  if (stored_sections != sections) {
    throw Error(path, "end marker", "records " + std::to_string(stored_sections) + " sections, the file has " +
                                        std::to_string(sections));
  }
  if (detail::crc32_update(0, data, offset) != stored_crc) throw Error(path, "end marker", "whole-file checksum mismatch (corrupt file)");

  // Decode the payloads: the model description first, then layers and tensors.
  if (payloads.empty() || payloads.front().first != "MODL") throw Error(path, "section 0", "the first section must be MODL");
  std::set<std::string> names;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const auto& [tag, payload] = payloads[i];
    const std::string section = "section " + std::to_string(i) + " (" + tag + ")";
    if (tag == "MODL") {
      if (i != 0) throw Error(path, section, "a second MODL section");
      pack.info_ = parse_model_info(payload, path);
    } else if (tag == "LAYR") {
      PackedLayerView layer = pack.version_major_ == 1 ? parse_layer_v1(payload, path, section)
                                                       : parse_layer(payload, path, section, pack.version_major_ >= 3);
      if (layer.tables_from >= 0) {
        // A shared table set: an earlier layer that stores its own, in the same formats and count.
        const std::string field = "layer '" + layer.name + "' tables_from";
        if (layer.tables_from >= static_cast<int64_t>(pack.layers_.size())) {
          throw Error(path, section, field + ": " + std::to_string(layer.tables_from) + " is not an earlier layer (" +
                                         std::to_string(pack.layers_.size()) + " before it)");
        }
        const PackedLayerView& from = pack.layers_[static_cast<std::size_t>(layer.tables_from)];
        if (from.tables_from >= 0) throw Error(path, section, field + ": layer '" + from.name + "' itself refers to another");
        if (from.decode.code_bits != layer.decode.code_bits || from.decode.entry_format != layer.decode.entry_format ||
            from.decode.hif.man_bits != layer.decode.hif.man_bits || from.decode.hif.exp_bits != layer.decode.hif.exp_bits ||
            from.decode.hif.bias != layer.decode.hif.bias || from.rows_per_table > 0) {
          throw Error(path, section, field + ": layer '" + from.name + "' has other table formats");
        }
        if (from.codebooks.size() != (layer.select_bits > 0 ? std::size_t{1} << layer.select_bits : 1)) {
          throw Error(path, section, field + ": layer '" + from.name + "' holds " + std::to_string(from.codebooks.size()) +
                                         " tables, this layer's layout reads " +
                                         std::to_string(layer.select_bits > 0 ? 1 << layer.select_bits : 1));
        }
        layer.codebooks = from.codebooks;
      }
      layer.section_offset = payload_offsets[i];
      layer.section_bytes = kSectionHeaderBytes + payload.size();
      if (!names.insert(layer.name).second) throw Error(path, section, "tensor '" + layer.name + "' stored twice");
      pack.layers_.push_back(std::move(layer));
    } else {
      PackedTensorView tensor = parse_tensor(payload, path, section);
      tensor.section_offset = payload_offsets[i];
      if (!names.insert(tensor.name).second) throw Error(path, section, "tensor '" + tensor.name + "' stored twice");
      pack.tensors_.push_back(std::move(tensor));
    }
  }
  // The model description and the sections must agree on what is stored, and how.
  std::set<std::string> quantized;
  std::set<std::string> kept;
  for (const auto& t : pack.info_.tensors) {
    if (t.stored == PackedAs::Omitted) continue;
    if (!(t.stored == PackedAs::Quantized ? quantized : kept).insert(t.name).second) {
      throw Error(path, "MODL section", "lists '" + t.name + "' twice");
    }
    if (names.count(t.name) == 0) throw Error(path, "MODL section", "lists '" + t.name + "' as stored but no section holds it");
  }
  for (const auto& l : pack.layers_) {
    if (quantized.count(l.name) == 0) throw Error(path, "MODL section", "does not list quantized layer '" + l.name + "'");
  }
  for (const auto& t : pack.tensors_) {
    if (kept.count(t.name) == 0) throw Error(path, "MODL section", "does not list FP32 tensor '" + t.name + "'");
  }
  return pack;
}

}  // namespace sop
