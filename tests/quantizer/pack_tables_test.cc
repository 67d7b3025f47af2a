// Pack format 2.0: layers with T tables (selector or row groups) round trip bit for bit, the writer
// refuses inconsistent ones, the stored data matches what the search counts, and 1.0 files still read.
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "base/error.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "tests/quantizer/pack_test_support.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using testing::make_synthetic_layer;
using testing::read_bytes;
using testing::same_bits;
using testing::SyntheticLayerSpec;
using testing::TempDir;
using testing::write_layers;
using testing::write_bytes;

const std::string kV1Pack = std::string(SOP_SOURCE_DIR) + "/tests/data/pack-v1.0-sop45.sop";
const std::string kV1Weights = std::string(SOP_SOURCE_DIR) + "/tests/data/pack-v1.0-sop45.txt";
const std::string kV2Pack = std::string(SOP_SOURCE_DIR) + "/tests/data/pack-v2.0-sop45.sop";
const std::string kV2Weights = std::string(SOP_SOURCE_DIR) + "/tests/data/pack-v2.0-sop45.txt";

// FNV-1a 64 over the FP32 little-endian bytes, as recorded in tests/data/pack-v1.0-sop45.txt.
uint64_t fnv1a(const std::vector<float>& values) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 4; ++i) {
      h ^= (bits >> (8 * i)) & 0xFFu;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

PackFile write_and_open(const TempDir& dir, const std::vector<SopLayerResult>& layers) {
  write_layers(dir.file("t.sop"), layers);
  return PackFile::open(dir.file("t.sop"));
}

struct TablesCase {
  const char* label;
  SelectBitPlacement select;
  int select_bits;
  int64_t rows_per_table;
  int64_t rows;
  std::size_t tables;  // T the pack must hold
};

class PackTables : public ::testing::TestWithParam<TablesCase> {};

SyntheticLayerSpec spec_of(const TablesCase& c) {
  SyntheticLayerSpec spec;
  spec.select = c.select;
  spec.select_bits = c.select_bits;
  spec.rows_per_table = c.rows_per_table;
  spec.rows = c.rows;
  spec.cols = 40;
  spec.seed = static_cast<uint32_t>(c.tables * 7 + static_cast<std::size_t>(c.rows));
  return spec;
}

TEST_P(PackTables, RoundTripDecodesBitForBit) {
  const TablesCase c = GetParam();
  const SopLayerResult layer = make_synthetic_layer("blk.0.w", spec_of(c));
  TempDir dir;
  const PackFile pack = write_and_open(dir, {layer});
  ASSERT_EQ(pack.version_major(), kPackVersionMajor);
  const PackedLayerView& got = pack.layers().at(0);
  ASSERT_EQ(got.table_count(), c.tables);
  EXPECT_EQ(got.rows_per_table, c.rows_per_table);
  EXPECT_EQ(got.select_bits, c.select == SelectBitPlacement::None ? 0 : c.select_bits);
  for (std::size_t t = 0; t < c.tables; ++t) {
    EXPECT_EQ(got.codebooks[t].name, layer.codebooks[t].name) << t;
    EXPECT_EQ(got.codebooks[t].lut_codes, layer.codebooks[t].lut_codes) << t;
    EXPECT_EQ(got.codebooks[t].values, layer.codebooks[t].values) << t;  // derived from the codes on read
  }
  std::set<uint32_t> used;
  for (int64_t b = 0; b < got.block_count(); ++b) {
    ASSERT_EQ(got.table_of(b), layer.table_of_block(b)) << "block " << b;
    used.insert(got.table_of(b));
  }
  EXPECT_GT(used.size(), c.tables / 2) << "the layer should exercise most of its tables";
  // layer.dequant comes from golden::multiply in the test helper, not through dequantize_layer.
  EXPECT_TRUE(same_bits(dequantize_layer(got), layer.dequant));
}

// The counted data is stored at the widths the search counts: tensor scale, per table one name byte
// (a string for unknown names) and entry_bits per entry, then scales, selectors, codes, residual
// indices and entries, each packed with at most 7 bits of padding, and the channel factors.
TEST_P(PackTables, StoresItsDataAtTheCountedWidths) {
  const TablesCase c = GetParam();
  const SopLayerResult layer = make_synthetic_layer("blk.0.w", spec_of(c));
  TempDir dir;
  const PackFile pack = write_and_open(dir, {layer});
  const PackedLayerView& got = pack.layers().at(0);
  const auto bytes = [](uint64_t count, int bits) { return (count * static_cast<uint64_t>(bits) + 7) / 8; };
  uint64_t names = 0;
  for (std::size_t t = 0; t < c.tables; ++t) {
    names += layer.codebooks[t].name == "DD4a" ? 1 : 3 + layer.codebooks[t].name.size();
  }
  const auto blocks = static_cast<uint64_t>(got.block_count());
  const auto weights = static_cast<uint64_t>(layer.rows * layer.cols);
  const int ebits = layer.decode.entry_bits();
  const uint64_t expected = 4 + names + bytes(c.tables * 16, ebits) + bytes(blocks, layer.decode.scale.bits()) +
                            bytes(blocks, got.select_bits) + bytes(weights, 4) + bytes(layer.sparse.size(), 9) +
                            bytes(layer.sparse.size(), ebits) + 4 * layer.channel_factors.size();
  ASSERT_LE(weights, 512u);  // 9 index bits
  EXPECT_EQ(got.data_bytes, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PackTables,
    ::testing::Values(TablesCase{"single", SelectBitPlacement::None, 1, 0, 8, 1},
                      TablesCase{"pair_stolen", SelectBitPlacement::Stolen, 1, 0, 8, 2},
                      TablesCase{"T4_beside", SelectBitPlacement::Beside, 2, 0, 8, 4},
                      TablesCase{"T8_stolen", SelectBitPlacement::Stolen, 3, 0, 12, 8},
                      TablesCase{"T16_beside", SelectBitPlacement::Beside, 4, 0, 12, 16},
                      TablesCase{"per_row", SelectBitPlacement::None, 1, 1, 9, 9},
                      // 12 rows of 40 = 480 weights (9-bit indices): one full group of 5 rows, a short last one.
                      TablesCase{"per_5_rows", SelectBitPlacement::None, 1, 5, 12, 3}),
    [](const ::testing::TestParamInfo<TablesCase>& test) { return std::string(test.param.label); });

TEST(PackTables, OneTablePer128RowsRoundTrips) {
  SyntheticLayerSpec spec;
  spec.select = SelectBitPlacement::None;
  spec.rows_per_table = 128;
  spec.rows = 300;  // groups of 128, 128 and 44 rows
  spec.cols = 24;
  spec.sparse_count = 30;
  const SopLayerResult layer = make_synthetic_layer("blk.0.down", spec);
  ASSERT_EQ(layer.codebooks.size(), 3u);
  TempDir dir;
  write_layers(dir.file("r.sop"), {layer});
  const PackFile pack = PackFile::open(dir.file("r.sop"));
  const PackedLayerView& got = pack.layers().at(0);
  ASSERT_EQ(got.table_count(), 3u);
  EXPECT_EQ(got.table_of(0), 0u);
  EXPECT_EQ(got.table_of(got.blocks_per_row() * 128), 1u);
  EXPECT_EQ(got.table_of(got.block_count() - 1), 2u);
  EXPECT_TRUE(same_bits(dequantize_layer(got), layer.dequant));
  EXPECT_EQ(got.selectors.size(), 0u);  // row groups need no selector array
}

// ---- The writer refuses inconsistent T-table layers, naming the layer and the field --------------

std::string write_error(const SopLayerResult& layer) {
  TempDir dir;
  return testing::error_of([&] { write_layers(dir.file("bad.sop"), {layer}); });
}

TEST(PackTables, WriterRefusesInconsistentTables) {
  SyntheticLayerSpec t8;
  t8.select_bits = 3;
  t8.rows = 12;
  const SopLayerResult good = make_synthetic_layer("blk.1.q", t8);

  SopLayerResult bad = good;
  bad.select[5] = 8;  // not below 2^3
  EXPECT_NE(write_error(bad).find("layer 'blk.1.q': select: a selector is not below 2^select_bits = 8"), std::string::npos)
      << write_error(bad);

  bad = good;
  bad.codebooks.pop_back();
  EXPECT_NE(write_error(bad).find("codebooks: 7 tables, the layer's selector needs 8"), std::string::npos) << write_error(bad);

  bad = good;
  bad.codebooks[6].values[2] = bad.codebooks[6].values[2] * 1.5f + 0.25f;
  EXPECT_NE(write_error(bad).find("codebooks[6]: value 2"), std::string::npos) << write_error(bad);

  bad = good;
  bad.scale_layout.select_bits = 5;
  EXPECT_NE(write_error(bad).find("scale_layout.select_bits: must be 1..4"), std::string::npos) << write_error(bad);

  bad = good;
  bad.rows_per_table = 4;  // with a selector placement
  EXPECT_NE(write_error(bad).find("rows_per_table: row groups pick the table"), std::string::npos) << write_error(bad);

  SyntheticLayerSpec groups;
  groups.select = SelectBitPlacement::None;
  groups.rows_per_table = 4;
  groups.rows = 10;
  bad = make_synthetic_layer("blk.1.k", groups);
  bad.codebooks.push_back(bad.codebooks.back());
  EXPECT_NE(write_error(bad).find("codebooks: 4 tables, the layer's row groups need 3"), std::string::npos) << write_error(bad);
  bad.codebooks.pop_back();
  bad.select[0] = 1;
  EXPECT_NE(write_error(bad).find("select: a layer without a selector has every select 0"), std::string::npos)
      << write_error(bad);

  SyntheticLayerSpec single;
  single.select = SelectBitPlacement::None;
  bad = make_synthetic_layer("blk.1.v", single);
  bad.codebooks[1].lut_codes[0] ^= 1u;
  const golden::IntFloat v = golden::entry_unpack(bad.decode, bad.codebooks[1].lut_codes[0]);
  bad.codebooks[1].values[0] = static_cast<float>(std::ldexp(static_cast<double>(v.mant), v.exp));
  EXPECT_NE(write_error(bad).find("codebooks[1]: a layer without selector or row groups reads table 0 only"), std::string::npos)
      << write_error(bad);
}

// ---- Consumers that hold only the pair refuse more, by name --------------------------------------

TEST(PackTables, PairTablesRefusesMoreThanTwoAndRepeatsASingleTable) {
  SyntheticLayerSpec t4;
  t4.select_bits = 2;
  SyntheticLayerSpec single;
  single.select = SelectBitPlacement::None;
  TempDir dir;
  write_layers(dir.file("p.sop"), {make_synthetic_layer("blk.2.q", t4), make_synthetic_layer("blk.2.v", single)});
  const PackFile pack = PackFile::open(dir.file("p.sop"));
  const std::string message = testing::error_of([&] { (void)pair_tables(pack.layers()[0], "TLM decode unit"); });
  EXPECT_NE(message.find("TLM decode unit: layer 'blk.2.q': 4 tables (2-bit selector): this consumer holds only the pair"),
            std::string::npos)
      << message;
  const golden::LayerTables pair = pair_tables(pack.layers()[1], "test");
  const auto& t0 = pack.layers()[1].codebooks[0].lut_codes;
  ASSERT_EQ(pair.entries.size(), 2 * t0.size());
  EXPECT_TRUE(std::equal(t0.begin(), t0.end(), pair.entries.begin()));
  EXPECT_TRUE(std::equal(t0.begin(), t0.end(), pair.entries.begin() + static_cast<std::ptrdiff_t>(t0.size())));
}

// ---- Robustness of a 2.0 file with many tables ----------------------------------------------------

std::vector<uint8_t> many_tables_pack(const TempDir& dir) {
  SyntheticLayerSpec t16;
  t16.select = SelectBitPlacement::Beside;
  t16.select_bits = 4;
  t16.rows = 4;
  t16.cols = 20;
  t16.sparse_count = 3;
  SyntheticLayerSpec rows;
  rows.select = SelectBitPlacement::None;
  rows.rows_per_table = 2;
  rows.rows = 5;
  rows.cols = 18;
  rows.code_bits = 6;
  rows.channel_factors = false;
  const std::string path = dir.file("many.sop");
  write_layers(path, {make_synthetic_layer("blk.3.a", t16), make_synthetic_layer("blk.3.b", rows)});
  return read_bytes(path);
}

TEST(PackTables, TruncatedOrFlippedManyTablePackIsAnError) {
  TempDir dir;
  const std::vector<uint8_t> bytes = many_tables_pack(dir);
  const std::string bad = dir.file("bad.sop");
  std::mt19937 rng(3);
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    write_bytes(bad, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(at)));
    EXPECT_THROW((void)PackFile::open(bad), Error) << "truncated to " << at;
    std::vector<uint8_t> flipped = bytes;
    flipped[at] = static_cast<uint8_t>(flipped[at] ^ (1u + rng() % 255u));
    write_bytes(bad, flipped);
    EXPECT_THROW((void)PackFile::open(bad), Error) << "byte " << at << " flipped";
  }
}

// Writes `bytes` with byte `at` set to `value` and checksums recomputed, then opens it: returns true
// when refused (by a sop::Error naming the file); an accepted file must decode every layer.
bool edited_is_refused(const std::vector<uint8_t>& bytes, std::size_t at, uint8_t value, const std::string& bad) {
  std::vector<uint8_t> damaged = bytes;
  damaged[at] = value;
  testing::fix_checksums(damaged);
  write_bytes(bad, damaged);
  try {
    const PackFile pack = PackFile::open(bad);
    for (const auto& l : pack.layers()) EXPECT_EQ(dequantize_layer(l).size(), static_cast<std::size_t>(l.rows * l.cols));
    return false;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    return true;
  }
}

TEST(PackTables, EditedFieldsOfManyTablePackAreRefusedOrDecode) {
  TempDir dir;
  const std::vector<uint8_t> bytes = many_tables_pack(dir);
  const auto sections = testing::list_sections(bytes);
  const std::string bad = dir.file("edited.sop");
  int refused = 0;
  for (const auto& s : sections) {
    if (s.tag != "LAYR") continue;
    for (std::size_t k = 0; k < s.length; ++k) {
      for (uint8_t value : {uint8_t{0xFF}, uint8_t{0x00}, static_cast<uint8_t>(bytes[s.payload + k] ^ 0x04)}) {
        refused += edited_is_refused(bytes, s.payload + k, value, bad) ? 1 : 0;
      }
    }
  }
  EXPECT_GT(refused, 100);
}

// The header fields that name the table layout are checked against each other.
TEST(PackTables, EditedTableCountIsNamed) {
  TempDir dir;
  std::vector<uint8_t> bytes = many_tables_pack(dir);
  const auto sections = testing::list_sections(bytes);
  // The first layer's table_count: after name (2 + 7), rows, cols (16), block_size (2), 5 format
  // bytes, scale exp/man (2), scale_bias (2), flags, placement, select_bits (3), rows_per_table (8).
  const std::size_t at = sections[1].payload + 2 + 7 + 16 + 2 + 5 + 2 + 2 + 3 + 8;
  ASSERT_EQ(testing::le32(bytes, at), 16u);
  testing::put32(bytes, at, 8);
  testing::fix_checksums(bytes);
  write_bytes(dir.file("e.sop"), bytes);
  const std::string message = testing::error_of([&] { (void)PackFile::open(dir.file("e.sop")); });
  EXPECT_NE(message.find("(layer 'blk.3.a'): table_count: 8 tables, the layout needs 16"), std::string::npos) << message;
}

// ---- Version 1.0 files ------------------------------------------------------------------------------

std::map<std::string, uint64_t> recorded_weights(const std::string& path) {
  std::map<std::string, uint64_t> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, hex;
    fields >> name >> hex;
    out[name] = std::stoull(hex, nullptr, 16);
  }
  return out;
}

TEST(PackV1, CheckedInFileDecodesToTheRecordedWeights) {
  const PackFile pack = PackFile::open(kV1Pack);
  EXPECT_EQ(pack.version_major(), 1);
  EXPECT_EQ(pack.version_minor(), 0);
  const auto recorded = recorded_weights(kV1Weights);
  ASSERT_EQ(recorded.size(), 7u);
  ASSERT_EQ(pack.layers().size(), 7u);
  std::set<std::size_t> table_counts;
  std::size_t residuals = 0;
  for (const auto& l : pack.layers()) {
    ASSERT_EQ(recorded.count(l.name), 1u) << l.name;
    EXPECT_EQ(fnv1a(dequantize_layer(l)), recorded.at(l.name)) << l.name;
    EXPECT_EQ(l.table_count(), l.scale_layout.select == SelectBitPlacement::None ? 1u : 2u) << l.name;
    EXPECT_EQ(l.select_bits, l.scale_layout.select == SelectBitPlacement::None ? 0 : 1);
    table_counts.insert(l.table_count());
    residuals += l.sparse.size();
  }
  EXPECT_EQ(table_counts.size(), 2u);  // the file has single-table and pair layers
  EXPECT_GT(residuals, 0u);
}

// Version 2.0 (before a layer could refer to another's tables): a file written by the 2.0 writer
// still decodes to the weights recorded when it was written.
TEST(PackV2, CheckedInFileDecodesToTheRecordedWeights) {
  const PackFile pack = PackFile::open(kV2Pack);
  EXPECT_EQ(pack.version_major(), 2);
  const auto recorded = recorded_weights(kV2Weights);
  ASSERT_EQ(recorded.size(), 7u);
  ASSERT_EQ(pack.layers().size(), 7u);
  for (const auto& l : pack.layers()) {
    ASSERT_EQ(recorded.count(l.name), 1u) << l.name;
    EXPECT_EQ(fnv1a(dequantize_layer(l)), recorded.at(l.name)) << l.name;
    EXPECT_EQ(l.tables_from, -1) << l.name;
  }
}

// Every byte of the file header, MODL and the first two layers (a pair and a single table) and of the
// end marker; every 11th byte elsewhere (the layers repeat the same layout; each open costs a file).
TEST(PackV1, TruncatedOrFlippedV1FileIsAnError) {
  const std::vector<uint8_t> bytes = read_bytes(kV1Pack);
  ASSERT_GT(bytes.size(), 1000u);
  const auto sections = testing::list_sections(bytes);
  ASSERT_EQ(sections.size(), 8u);
  ASSERT_EQ(sections[2].tag, "LAYR");
  const std::size_t dense_end = sections[3].header;
  TempDir dir;
  const std::string bad = dir.file("bad.sop");
  std::mt19937 rng(5);
  for (std::size_t at = 0; at < bytes.size(); at += (at < dense_end || at + 48 >= bytes.size()) ? 1 : 11) {
    write_bytes(bad, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(at)));
    EXPECT_THROW((void)PackFile::open(bad), Error) << "truncated to " << at;
    std::vector<uint8_t> flipped = bytes;
    flipped[at] = static_cast<uint8_t>(flipped[at] ^ (1u + rng() % 255u));
    write_bytes(bad, flipped);
    EXPECT_THROW((void)PackFile::open(bad), Error) << "byte " << at << " flipped";
  }
}

TEST(PackV1, EditedV1FieldsAreRefusedOrDecode) {
  const std::vector<uint8_t> bytes = read_bytes(kV1Pack);
  const auto sections = testing::list_sections(bytes);
  TempDir dir;
  const std::string bad = dir.file("edited.sop");
  std::mt19937 rng(9);
  int refused = 0;
  for (const auto& s : sections) {
    if (s.tag != "LAYR") continue;
    for (std::size_t k = 0; k < 200; ++k) {
      const std::size_t at = s.payload + (k < 120 ? k : rng() % s.length);
      const auto value = static_cast<uint8_t>(k % 2 ? 0xFF : bytes[at] ^ (1u << (rng() % 8)));
      refused += edited_is_refused(bytes, at, value, bad) ? 1 : 0;
    }
  }
  EXPECT_GT(refused, 100);
}

// ---- What the pack stores against what the search counts, on a real model ------------------------

TEST(PackSize, Stories260KSop45LayerDataWithinFiveHundredthsOfCountedBpw) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  const auto model = open_model(model_path);
  Recipe recipe = load_recipe(std::string(SOP_SOURCE_DIR) + "/configs/quant/sop-4.5.yaml");
  recipe.threads = 2;
  TempDir dir;
  QuantizeRequest request;
  request.model_path = model_path;
  request.out_path = dir.file("stories.sop");
  request.threads = 2;
  const QuantizeSummary summary = quantize_model_to_pack(*model, recipe, request);
  const PackFile pack = PackFile::open(request.out_path);
  double counted = 0;
  uint64_t data = 0, sections = 0;
  int64_t weights = 0;
  for (const auto& l : pack.layers()) {
    counted += l.choice.bits;
    data += l.data_bytes;
    sections += l.section_bytes;
    weights += l.rows * l.cols;
  }
  ASSERT_EQ(weights, summary.quantized_weights);
  const double counted_bpw = counted / static_cast<double>(weights);
  const double data_bpw = 8.0 * static_cast<double>(data) / static_cast<double>(weights);
  const double section_bpw = 8.0 * static_cast<double>(sections) / static_cast<double>(weights);
  EXPECT_NEAR(data_bpw, counted_bpw, 0.05);
  EXPECT_GE(data_bpw, counted_bpw);  // nothing counted is left out
  // The fixed per-layer cost (24-byte framing, name, binary header, the search's choice: about 170
  // bytes, 0.19 bpw on these 7,200-weight matrices) stays below 1.0's 0.41 bpw.
  EXPECT_LT(section_bpw - counted_bpw, 0.25) << "LAYR sections " << section_bpw << " bpw";
  ::testing::Test::RecordProperty("counted_bpw", std::to_string(counted_bpw));
  ::testing::Test::RecordProperty("layer_data_bpw", std::to_string(data_bpw));
  ::testing::Test::RecordProperty("layr_sections_bpw", std::to_string(section_bpw));
}

}  // namespace
}  // namespace sop
