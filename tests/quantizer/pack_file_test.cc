// Pack files: round trip through the golden decode, and every kind of damage gives sop::Error.
#include <algorithm>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "base/error.h"
#include "quantizer/pack/pack_file.h"
#include "tests/quantizer/pack_test_support.h"

namespace sop {
namespace {

using testing::make_synthetic_layer;
using testing::read_bytes;
using testing::same_bits;
using testing::SyntheticLayerSpec;
using testing::TempDir;
using testing::write_bytes;

PackModelInfo info_for(const std::vector<SopLayerResult>& layers, const std::vector<Tensor>& kept) {
  PackModelInfo info = testing::layers_info(layers);
  for (const auto& t : kept) info.tensors.push_back({t.name, t.shape, PackedAs::FullPrecision, ""});
  info.tensors.push_back({"tokens.count", {1}, PackedAs::Omitted, "integer tensor"});
  return info;
}

// A small pack with three kinds of layers and a kept norm vector.
struct SmallPack {
  std::vector<SopLayerResult> layers;
  std::vector<Tensor> kept;
};

SmallPack small_pack_contents() {
  SmallPack p;
  SyntheticLayerSpec pair;  // 4-bit pair with a stolen select bit, residuals and c
  p.layers.push_back(make_synthetic_layer("blk.0.q", pair));
  SyntheticLayerSpec atoms;  // 6-bit E2M3-style atoms, unsigned UE4M4 scale, g16, no pair
  atoms.code_bits = 6;
  atoms.scale = golden::kScaleUE4M4;
  atoms.select = SelectBitPlacement::None;
  atoms.channel_factors = false;
  atoms.sparse_count = 0;
  atoms.rows = 5;
  atoms.cols = 37;
  atoms.seed = 2;
  p.layers.push_back(make_synthetic_layer("blk.0.v", atoms));
  SyntheticLayerSpec beside;  // select bit beside, g8, E8M0 scales
  beside.block = 8;
  beside.select = SelectBitPlacement::Beside;
  beside.scale = golden::kScaleE8M0;
  beside.seed = 3;
  p.layers.push_back(make_synthetic_layer("blk.0.o", beside));
  Tensor norm;
  norm.name = "blk.0.norm";
  norm.shape = {6};
  norm.values = {1.0f, -2.5f, 3.25f, 0.0f, 1e-7f, 65504.0f};
  p.kept.push_back(norm);
  return p;
}

void write_pack(const std::string& path, const SmallPack& p) {
  PackWriter writer(path, info_for(p.layers, p.kept));
  for (const auto& l : p.layers) writer.add_layer(l);
  for (const auto& t : p.kept) writer.add_tensor(t);
  writer.finish();
}

TEST(PackFile, RoundTripDecodesBitForBit) {
  TempDir dir;
  const SmallPack contents = small_pack_contents();
  const std::string path = dir.file("small.sop");
  write_pack(path, contents);

  const PackFile pack = PackFile::open(path);
  EXPECT_EQ(pack.version_major(), kPackVersionMajor);
  ASSERT_EQ(pack.layers().size(), contents.layers.size());
  for (std::size_t i = 0; i < contents.layers.size(); ++i) {
    const SopLayerResult& expected = contents.layers[i];
    const PackedLayerView& got = pack.layers()[i];
    EXPECT_EQ(got.name, expected.tensor_name);
    EXPECT_EQ(got.rows, expected.rows);
    EXPECT_EQ(got.cols, expected.cols);
    EXPECT_EQ(got.decode.code_bits, expected.decode.code_bits);
    EXPECT_EQ(got.decode.scale.bits(), expected.decode.scale.bits());
    EXPECT_EQ(got.scale_layout.select, expected.scale_layout.select);
    // A single-table layer carries the golden pair in memory and one table in the pack.
    const std::size_t tables = expected.scale_layout.select == SelectBitPlacement::None ? 1 : 2;
    ASSERT_EQ(got.table_count(), tables);
    for (std::size_t t = 0; t < tables; ++t) {
      EXPECT_EQ(got.codebooks[t].lut_codes, expected.codebooks[t].lut_codes);
      EXPECT_EQ(got.codebooks[t].values, expected.codebooks[t].values);
      EXPECT_EQ(got.codebooks[t].name, expected.codebooks[t].name);
    }
    ASSERT_EQ(got.block_count(), static_cast<int64_t>(expected.scale_codes.size()));
    for (int64_t b = 0; b < got.block_count(); ++b) {
      ASSERT_EQ(got.scale_code(b), expected.scale_codes[static_cast<std::size_t>(b)]) << "block " << b;
      ASSERT_EQ(got.table_of(b), expected.table_of_block(b)) << "block " << b;
    }
    ASSERT_EQ(got.sparse.size(), expected.sparse.size());
    EXPECT_EQ(got.channel_factors, expected.channel_factors);
    EXPECT_EQ(got.choice.option, expected.choice.option);
    EXPECT_EQ(got.choice.bits, expected.choice.bits);
    EXPECT_TRUE(same_bits(dequantize_layer(got), expected.dequant)) << expected.tensor_name;
  }
  ASSERT_EQ(pack.tensors().size(), 1u);
  EXPECT_TRUE(same_bits(tensor_values(pack.tensors()[0]), contents.kept[0].values));
  ASSERT_EQ(pack.info().tensors.size(), 5u);
  EXPECT_EQ(pack.info().tensors.back().stored, PackedAs::Omitted);
  EXPECT_EQ(pack.info().tensors.back().note, "integer tensor");
}

TEST(PackFile, CodesArePackedTwoPerByteAndSixBitsDense) {
  TempDir dir;
  const SmallPack contents = small_pack_contents();
  const std::string path = dir.file("small.sop");
  write_pack(path, contents);
  const PackFile pack = PackFile::open(path);
  EXPECT_EQ(pack.layers()[0].codes.size(), static_cast<std::size_t>(8 * 40 / 2));
  EXPECT_EQ(pack.layers()[1].codes.size(), static_cast<std::size_t>((5 * 37 * 6 + 7) / 8));
}

// Opening must throw sop::Error (never crash, never return garbage).
void expect_pack_error(const std::string& path, const std::string& what) {
  try {
    const PackFile pack = PackFile::open(path);
    // Opened: then every layer must still decode without crashing.
    for (const auto& l : pack.layers()) (void)dequantize_layer(l);
    ADD_FAILURE() << what << ": damaged pack opened without error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(PackFile, TruncationAtEveryByteIsAnError) {
  TempDir dir;
  const std::string path = dir.file("small.sop");
  write_pack(path, small_pack_contents());
  const std::vector<uint8_t> bytes = read_bytes(path);
  const std::string cut = dir.file("cut.sop");
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    write_bytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length)));
    expect_pack_error(cut, "truncated to " + std::to_string(length));
  }
}

TEST(PackFile, TruncationAtSectionBoundariesNamesTheSection) {
  TempDir dir;
  const std::string path = dir.file("small.sop");
  write_pack(path, small_pack_contents());
  const std::vector<uint8_t> bytes = read_bytes(path);
  const auto sections = testing::list_sections(bytes);
  ASSERT_EQ(sections.size(), 5u);  // MODL, 3 x LAYR, TENS
  const std::string cut = dir.file("cut.sop");
  for (std::size_t i = 0; i < sections.size(); ++i) {
    // Cut in the middle of section i's payload: the message names that section.
    write_bytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(sections[i].payload + sections[i].length / 2)));
    try {
      (void)PackFile::open(cut);
      ADD_FAILURE() << "cut in section " << i << " opened";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("section " + std::to_string(i)), std::string::npos) << msg;
      EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    }
    // Cut exactly at the section's start: the end marker is missing.
    write_bytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(sections[i].header)));
    EXPECT_THROW((void)PackFile::open(cut), Error);
  }
}

TEST(PackFile, EveryFlippedByteIsDetected) {
  TempDir dir;
  const std::string path = dir.file("small.sop");
  write_pack(path, small_pack_contents());
  const std::vector<uint8_t> bytes = read_bytes(path);
  const std::string bad = dir.file("flipped.sop");
  std::mt19937 rng(7);
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    std::vector<uint8_t> damaged = bytes;
    damaged[at] = static_cast<uint8_t>(damaged[at] ^ (1u + rng() % 255u));
    write_bytes(bad, damaged);
    expect_pack_error(bad, "byte " + std::to_string(at) + " flipped");
  }
}

// With checksums recomputed, damage reaches the field checks: they must refuse implausible values
// (or, for harmless edits such as a changed code, decode without crashing).
TEST(PackFile, FieldDamageWithValidChecksumsNeverCrashes) {
  TempDir dir;
  const std::string path = dir.file("small.sop");
  write_pack(path, small_pack_contents());
  const std::vector<uint8_t> bytes = read_bytes(path);
  const auto sections = testing::list_sections(bytes);
  const std::string bad = dir.file("edited.sop");
  std::mt19937 rng(11);
  int refused = 0;
  int accepted = 0;
  for (const auto& s : sections) {
    if (s.tag == "MODL") continue;
    // Every byte of the fixed-layout head of the payload, then random ones further in.
    const std::size_t head = std::min<std::size_t>(s.length, 140);
    for (std::size_t k = 0; k < head + 200; ++k) {
      const std::size_t at = s.payload + (k < head ? k : rng() % s.length);
      std::vector<uint8_t> damaged = bytes;
      damaged[at] = static_cast<uint8_t>(k % 3 == 0 ? 0xFF : damaged[at] ^ (1u << (rng() % 8)));
      testing::fix_checksums(damaged);
      write_bytes(bad, damaged);
      try {
        const PackFile pack = PackFile::open(bad);
        for (const auto& l : pack.layers()) {
          const std::vector<float> w = dequantize_layer(l);
          ASSERT_EQ(w.size(), static_cast<std::size_t>(l.rows * l.cols));
        }
        ++accepted;
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(accepted, 0);  // edits of codes and scales are legal values
}

// Issue 16: a MODL shape of 1e300 was converted to int64 (undefined behaviour) and accepted. Each
// bad dimension is now refused naming the file, the tensor and the allowed range.
TEST(PackFile, ModelSectionShapesMustBeIntegersInRange) {
  TempDir dir;
  const std::string path = dir.file("small.sop");
  const SmallPack p = small_pack_contents();
  PackModelInfo info = info_for(p.layers, p.kept);
  info.tensors.push_back({"huge.omitted", {12345678}, PackedAs::Omitted, "test"});
  {
    PackWriter writer(path, info);
    for (const auto& l : p.layers) writer.add_layer(l);
    for (const auto& t : p.kept) writer.add_tensor(t);
    writer.finish();
  }
  const std::vector<uint8_t> bytes = read_bytes(path);
  const std::string text(bytes.begin(), bytes.end());
  const std::size_t at = text.find("12345678");
  ASSERT_NE(at, std::string::npos);
  const std::string bad = dir.file("shape.sop");
  // Same length as the original digits, so only the checksums need fixing.
  for (const std::string replacement : {"1e300   ", "-1      ", "2.5     ", "\"4\"     ", "2e15    "}) {
    std::vector<uint8_t> damaged = bytes;
    std::copy(replacement.begin(), replacement.end(), damaged.begin() + static_cast<std::ptrdiff_t>(at));
    testing::fix_checksums(damaged);
    write_bytes(bad, damaged);
    const std::string message = sop::testing::error_of([&] { (void)PackFile::open(bad); });
    EXPECT_NE(message.find(bad + ": MODL: tensors: huge.omitted: shape[0]: must be an integer in [0, 281474976710656]"),
              std::string::npos)
        << replacement << " -> " << message;
  }
}

TEST(PackFile, BadMagicAndNewerMajorVersionAreNamed) {
  TempDir dir;
  const std::string path = dir.file("small.sop");
  write_pack(path, small_pack_contents());
  std::vector<uint8_t> bytes = read_bytes(path);
  std::vector<uint8_t> other = bytes;
  other[0] = 'X';
  write_bytes(path, other);
  try {
    (void)PackFile::open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad magic"), std::string::npos) << e.what();
  }
  other = bytes;
  other[8] = 4;
  testing::fix_checksums(other);
  write_bytes(path, other);
  // Both versions named: the file's and the newest this build reads.
  const std::string message = testing::error_of([&] { (void)PackFile::open(path); });
  EXPECT_NE(message.find("pack format version 4.0, this build reads versions 1.x to 3.x"), std::string::npos) << message;
  other[8] = 0;
  testing::fix_checksums(other);
  write_bytes(path, other);
  EXPECT_NE(testing::error_of([&] { (void)PackFile::open(path); }).find("version 0.0"), std::string::npos);
}

TEST(PackWriter, InvalidLayerLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.file("never.sop");
  SmallPack contents = small_pack_contents();
  contents.layers[1].codes.pop_back();
  try {
    write_pack(path, contents);
    FAIL() << "an inconsistent layer was written";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("blk.0.v"), std::string::npos) << msg;
    EXPECT_NE(msg.find("codes"), std::string::npos) << msg;
  }
  EXPECT_FALSE(testing::file_exists(path));
  EXPECT_EQ(std::system(("test -z \"$(ls -A '" + dir.path() + "')\"").c_str()), 0) << "temporary file left behind";
}

TEST(PackWriter, TableValuesMustMatchTheirLutCodes) {
  TempDir dir;
  SmallPack contents = small_pack_contents();
  contents.layers[0].codebooks[1].values[3] += 0.001f;
  const std::string message = testing::error_of([&] { write_pack(dir.file("x.sop"), contents); });
  EXPECT_NE(message.find("layer 'blk.0.q': codebooks[1]: value 3"), std::string::npos) << message;
}

TEST(PackFile, Crc32MatchesTheStandardCheckValue) {
  const char* text = "123456789";
  EXPECT_EQ(detail::crc32_update(0, reinterpret_cast<const uint8_t*>(text), 9), 0xCBF43926u);
}

}  // namespace
}  // namespace sop
