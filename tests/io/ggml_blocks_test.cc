// GGUF's quantized block types, dequantized by sop: one hand-built block of each type with expected
// weights worked out by hand from ggml's block definitions (FACTS.md, ggml-common.h); llama.cpp's own
// Q4_0 file of stories260K against sop's Q4_0 on the F32 weights; sizes that do not match the data.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "quantizer/io/gguf_reader.h"
#include "quantizer/metrics.h"
#include "quantizer/sop/anchors.h"
#include "tests/io/io_test_util.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using sop::testing::expect_error;
using sop::testing::GgufBuilder;
using sop::testing::ScratchDir;
using sop::testing::write_file;

// FP16 bit patterns used below.
constexpr uint16_t kHalf1 = 0x3C00;        // 1.0
constexpr uint16_t kHalf0_5 = 0x3800;      // 0.5
constexpr uint16_t kHalf0_25 = 0x3400;     // 0.25
constexpr uint16_t kHalf0_125 = 0x3000;    // 0.125
constexpr uint16_t kHalfMinus1 = 0xBC00;   // -1.0

std::string half(uint16_t bits) { return std::string{static_cast<char>(bits & 0xFF), static_cast<char>(bits >> 8)}; }

std::string bytes_of(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v & 0xFF);
  return s;
}

// A one-tensor GGUF holding `block` as a [n] tensor of ggml type `type`, read back through GgufReader.
std::vector<float> read_one(const ScratchDir& dir, uint32_t type, uint64_t n, const std::string& block) {
  const std::string path = dir.file("block.gguf");
  write_file(path, GgufBuilder().header(3, 1, 0).tensor("w", {n}, type, 0).finish(block));
  return GgufReader(path).read("w").values;
}

// Bytes j | (15 - j) << 4 for j = 0..15: the low nibbles count up, the high nibbles down, so every
// weight of a 32-weight block has its own code and a swapped half shows.
std::string counting_nibbles() {
  std::string qs;
  for (int j = 0; j < 16; ++j) qs += static_cast<char>(j | ((15 - j) << 4));
  return qs;
}

TEST(GgmlBlocks, Q4_0) {
  ScratchDir dir;
  const auto w = read_one(dir, 2, 32, half(kHalf0_5) + counting_nibbles());
  // w[j] = (code - 8) * d, d = 0.5: low nibbles j give (j - 8) / 2 = -4, -3.5, ..., 3.5;
  // high nibbles 15 - j give (7 - j) / 2 = 3.5, 3, ..., -4.
  const std::vector<float> expected = {-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5,
                                       3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4};
  EXPECT_EQ(w, expected);
}

TEST(GgmlBlocks, Q4_1) {
  ScratchDir dir;
  const auto w = read_one(dir, 3, 32, half(kHalf0_25) + half(kHalfMinus1) + counting_nibbles());
  // w = code * d + m, d = 0.25, m = -1: low codes 0..15 give -1, -0.75, ..., 2.75; high 15..0 back down.
  const std::vector<float> expected = {-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75,
                                       2.75, 2.5, 2.25, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1};
  EXPECT_EQ(w, expected);
}

TEST(GgmlBlocks, Q5_0) {
  ScratchDir dir;
  // qs[j] = j | j << 4: low and high nibble both j. qh = 0x80010101 (bytes 01 01 01 80): fifth bits on
  // weights 0, 8, 16 and 31. w = (code - 16) * d with d = 0.5:
  //   w0 = (0+16-16)/2 = 0; w1..w7 = (j-16)/2 = -7.5..-4.5; w8 = (8+16-16)/2 = 4; w9..w15 = -3.5..-0.5;
  //   w16 = (0+16-16)/2 = 0; w17..w30 = (j-16)/2 for j = 1..14 = -7.5..-1; w31 = (15+16-16)/2 = 7.5.
  std::string qs;
  for (int j = 0; j < 16; ++j) qs += static_cast<char>(j | (j << 4));
  const auto w = read_one(dir, 6, 32, half(kHalf0_5) + bytes_of({0x01, 0x01, 0x01, 0x80}) + qs);
  const std::vector<float> expected = {0,    -7.5, -7,   -6.5, -6, -5.5, -5, -4.5, 4,  -3.5, -3,   -2.5, -2, -1.5, -1, -0.5,
                                       0,    -7.5, -7,   -6.5, -6, -5.5, -5, -4.5, -4, -3.5, -3,   -2.5, -2, -1.5, -1, 7.5};
  EXPECT_EQ(w, expected);
}

TEST(GgmlBlocks, Q5_1) {
  ScratchDir dir;
  // qs[j] = (15 - j) | j << 4; qh = 0xFFFF0000: fifth bits on weights 16..31. w = code * d + m,
  // d = 0.5, m = 1: w[j] = (15 - j)/2 + 1 = 8.5, 8, ..., 1; w[16 + j] = (j + 16)/2 + 1 = 9, 9.5, ..., 16.5.
  std::string qs;
  for (int j = 0; j < 16; ++j) qs += static_cast<char>((15 - j) | (j << 4));
  const auto w = read_one(dir, 7, 32, half(kHalf0_5) + half(kHalf1) + bytes_of({0, 0, 0xFF, 0xFF}) + qs);
  const std::vector<float> expected = {8.5, 8,  7.5,  7,  6.5,  6,  5.5,  5,  4.5,  4,  3.5,  3,  2.5,  2,  1.5,  1,
                                       9,   9.5, 10, 10.5, 11, 11.5, 12, 12.5, 13, 13.5, 14, 14.5, 15, 15.5, 16, 16.5};
  EXPECT_EQ(w, expected);
}

TEST(GgmlBlocks, Q8_0) {
  ScratchDir dir;
  // qs[j] = 8j - 128 as int8 (-128, -120, ..., 120), d = 0.125: w[j] = j - 16.
  std::string qs;
  for (int j = 0; j < 32; ++j) qs += static_cast<char>(8 * j - 128);
  const auto w = read_one(dir, 8, 32, half(kHalf0_125) + qs);
  std::vector<float> expected;
  for (int j = 0; j < 32; ++j) expected.push_back(static_cast<float>(j - 16));
  EXPECT_EQ(w, expected);
}

TEST(GgmlBlocks, IQ4_NL) {
  ScratchDir dir;
  const auto w = read_one(dir, 20, 32, half(kHalf0_5) + counting_nibbles());
  // d * kvalues_iq4nl[code], d = 0.5; kvalues -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38,
  // 53, 69, 89, 113 halved; the high nibbles run the table backwards.
  const std::vector<float> expected = {-63.5, -52,  -41.5, -32.5, -24.5, -17.5, -11,   -5,    0.5,   6.5,   12.5,
                                       19,    26.5, 34.5,  44.5,  56.5,  56.5,  44.5,  34.5,  26.5,  19,    12.5,
                                       6.5,   0.5,  -5,    -11,   -17.5, -24.5, -32.5, -41.5, -52,   -63.5};
  EXPECT_EQ(w, expected);
}

// Q4_K and Q5_K share the 12 bytes of 6-bit sub-block scales and mins. Sub-blocks 0..7 get
// scales 1, 2, 3, 4, 33, 34, 50, 63 and mins 0, 1, 2, 3, 17, 40, 5, 63. Packed by hand:
//   bytes 0-3: scale j | (top 2 bits of scale j+4) << 6: 1|2<<6 = 0x81, 2|2<<6 = 0x82, 3|3<<6 = 0xC3, 4|3<<6 = 0xC4
//   bytes 4-7: min j | (top 2 bits of min j+4) << 6:     0|1<<6 = 0x40, 1|2<<6 = 0x81, 2|0<<6 = 0x02, 3|3<<6 = 0xC3
//   bytes 8-11: low 4 bits of scale j+4 | low 4 bits of min j+4 << 4: 1|1<<4 = 0x11, 2|8<<4 = 0x82,
//               2|5<<4 = 0x52, 15|15<<4 = 0xFF
// (33 = 0b10'0001, 34 = 0b10'0010, 50 = 0b11'0010, 63 = 0b11'1111; 17 = 0b01'0001, 40 = 0b10'1000.)
const std::string kKScales = bytes_of({0x81, 0x82, 0xC3, 0xC4, 0x40, 0x81, 0x02, 0xC3, 0x11, 0x82, 0x52, 0xFF});
const int kKScale[8] = {1, 2, 3, 4, 33, 34, 50, 63};
const int kKMin[8] = {0, 1, 2, 3, 17, 40, 5, 63};

// 128 code bytes: 0x52 (low nibble 2, high 5) except the first byte of each 32, 0x0F (low 15, high 0).
// Sub-block s (weights 32s..32s+31) reads the low nibbles of bytes 32(s/2)..+31 for even s, the high
// ones for odd s: codes 2 (even s) or 5 (odd s), and 15 or 0 at the sub-block's first weight.
std::string k_codes() {
  std::string qs(128, static_cast<char>(0x52));
  for (int g = 0; g < 4; ++g) qs[static_cast<std::size_t>(32 * g)] = 0x0F;
  return qs;
}

TEST(GgmlBlocks, Q4_K) {
  ScratchDir dir;
  // d = 1, dmin = 0.5: w = scale * code - 0.5 * min. Sub-block by sub-block (first weight; the rest):
  //   s0: 1*15 - 0 = 15;       1*2 - 0 = 2          s1: 2*0 - 0.5 = -0.5;   2*5 - 0.5 = 9.5
  //   s2: 3*15 - 1 = 44;       3*2 - 1 = 5          s3: 4*0 - 1.5 = -1.5;   4*5 - 1.5 = 18.5
  //   s4: 33*15 - 8.5 = 486.5; 33*2 - 8.5 = 57.5    s5: 0 - 20 = -20;       34*5 - 20 = 150
  //   s6: 50*15 - 2.5 = 747.5; 50*2 - 2.5 = 97.5    s7: 0 - 31.5 = -31.5;   63*5 - 31.5 = 283.5
  const auto w = read_one(dir, 12, 256, half(kHalf1) + half(kHalf0_5) + kKScales + k_codes());
  const float first[8] = {15, -0.5f, 44, -1.5f, 486.5f, -20, 747.5f, -31.5f};
  const float rest[8] = {2, 9.5f, 5, 18.5f, 57.5f, 150, 97.5f, 283.5f};
  ASSERT_EQ(w.size(), 256u);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[static_cast<std::size_t>(i)], i % 32 == 0 ? first[i / 32] : rest[i / 32]) << i;
}

TEST(GgmlBlocks, Q5_K) {
  ScratchDir dir;
  // As Q4_K, plus fifth bits: bit s of qh[l] adds 16 to the code of weight 32s + l. qh[1] = 0x81 sets
  // it for weights 1 (s0) and 225 (s7); qh[31] = 0x04 for weight 95 (s2). Those three:
  //   w1 = 1*(2+16) - 0 = 18;  w225 = 63*(5+16) - 31.5 = 1291.5;  w95 = 3*(2+16) - 1 = 53.
  std::string qh(32, '\0');
  qh[1] = static_cast<char>(0x81);
  qh[31] = 0x04;
  const auto w = read_one(dir, 13, 256, half(kHalf1) + half(kHalf0_5) + kKScales + qh + k_codes());
  const float first[8] = {15, -0.5f, 44, -1.5f, 486.5f, -20, 747.5f, -31.5f};
  const float rest[8] = {2, 9.5f, 5, 18.5f, 57.5f, 150, 97.5f, 283.5f};
  const std::map<int, float> high = {{1, 18}, {225, 1291.5f}, {95, 53}};
  ASSERT_EQ(w.size(), 256u);
  for (int i = 0; i < 256; ++i) {
    const float want = high.count(i) ? high.at(i) : (i % 32 == 0 ? first[i / 32] : rest[i / 32]);
    EXPECT_EQ(w[static_cast<std::size_t>(i)], want) << i;
  }
  // The scale table decodes as described (a cross-check of the hand packing, through Q4_K with all
  // codes 1 and dmin 0: w = scale).
  const auto scales = read_one(dir, 12, 256, half(kHalf1) + half(0) + kKScales + std::string(128, 0x11));
  for (int s = 0; s < 8; ++s) EXPECT_EQ(scales[static_cast<std::size_t>(32 * s)], kKScale[s]) << s;
  const auto mins = read_one(dir, 12, 256, half(0) + half(kHalfMinus1) + kKScales + std::string(128, 0));
  for (int s = 0; s < 8; ++s) EXPECT_EQ(mins[static_cast<std::size_t>(32 * s)], kKMin[s]) << s;  // 0 - (-1)*min
}

TEST(GgmlBlocks, Q6_K) {
  ScratchDir dir;
  // 16 int8 scales, one per 16 weights: sc[k] = (k + 1) * (-1)^k = 1, -2, 3, -4, ... -16. d = 0.5.
  // Codes q = (4 low bits from ql | 2 high bits from qh << 4) - 32. All ql and qh zero (q = -32)
  // except:
  //   ql[0] = 0x3A, qh[0] = 0xE4 (bits 00, 01, 10, 11 from the bottom):
  //     w0  = low nibble of ql[0] 10, qh bits 0-1 = 0: q = -22; sc[0] = 1:   0.5 * 1 * -22 = -11
  //     w32 = low nibble of ql[32] 0, qh bits 2-3 = 1: q = -16; sc[2] = 3:   0.5 * 3 * -16 = -24
  //     w64 = high nibble of ql[0] 3, qh bits 4-5 = 2: q = 3;   sc[4] = 5:   0.5 * 5 * 3 = 7.5
  //     w96 = high nibble of ql[32] 0, qh bits 6-7 = 3: q = 16; sc[6] = 7:   0.5 * 7 * 16 = 56
  //   second half (weights 128..255 from ql[64..127], qh[32..63]): ql[69] = 0xF0, qh[37] = 0x30:
  //     w133 = low nibble 0, qh bits 0-1 = 0: q = -32; sc[8] = 9:            0.5 * 9 * -32 = -144
  //     w197 = high nibble 15, qh bits 4-5 = 3: q = 31; sc[12] = 13:         0.5 * 13 * 31 = 201.5
  //   every other weight i: 0.5 * sc[i / 16] * -32 = -16 * sc[i / 16].
  std::string ql(128, '\0'), qh(64, '\0'), sc;
  ql[0] = 0x3A;
  qh[0] = static_cast<char>(0xE4);
  ql[69] = static_cast<char>(0xF0);
  qh[37] = 0x30;
  for (int k = 0; k < 16; ++k) sc += static_cast<char>(k % 2 ? -(k + 1) : k + 1);
  const auto w = read_one(dir, 14, 256, ql + qh + sc + half(kHalf0_5));
  const std::map<int, float> special = {{0, -11}, {32, -24}, {64, 7.5f}, {96, 56}, {133, -144}, {197, 201.5f}};
  ASSERT_EQ(w.size(), 256u);
  for (int i = 0; i < 256; ++i) {
    const int k = i / 16;
    const float want = special.count(i) ? special.at(i) : -16.0f * static_cast<float>(k % 2 ? -(k + 1) : k + 1);
    EXPECT_EQ(w[static_cast<std::size_t>(i)], want) << i;
  }
}

// Rows of several blocks come out in order, and a 2-D tensor's rows too.
TEST(GgmlBlocks, BlocksAndRowsInOrder) {
  ScratchDir dir;
  const std::string path = dir.file("rows.gguf");
  // Q8_0 [2 rows, 64 cols] = 4 blocks; block b has d = 1 and every code b + 1.
  std::string data;
  for (int b = 0; b < 4; ++b) data += half(kHalf1) + std::string(32, static_cast<char>(b + 1));
  write_file(path, GgufBuilder().header(3, 1, 0).tensor("w", {64, 2}, 8, 0).finish(data));
  const Tensor t = GgufReader(path).read("w");
  ASSERT_EQ(t.shape, (std::vector<int64_t>{2, 64}));
  for (int i = 0; i < 128; ++i) EXPECT_EQ(t.values[static_cast<std::size_t>(i)], static_cast<float>(i / 32 + 1)) << i;
}

TEST(GgmlBlocks, NonFiniteScaleIsAnError) {
  ScratchDir dir;
  const std::string path = dir.file("inf.gguf");
  write_file(path, GgufBuilder().header(3, 1, 0).tensor("w", {32}, 2, 0).finish(half(0x7C00) + counting_nibbles()));
  expect_error([&] { GgufReader(path).read("w"); }, {path, "w", "non-finite", "element 0"});
}

// GGUF stores no byte sizes: a type or shape that does not match the data shows as a tensor running
// into the next one or past the end of the file.
TEST(GgmlBlocks, SizeThatDoesNotMatchTheData) {
  ScratchDir dir;
  const std::string path = dir.file("bad.gguf");
  // "a" claims Q4_K [256] (144 bytes) where only 64 bytes lie before "b" (the file is long enough).
  write_file(path, GgufBuilder().header(3, 2, 0).tensor("a", {256}, 12, 0).tensor("b", {32}, 2, 64)
                       .finish(std::string(160, '\0')));
  expect_error([&] { GgufReader reader(path); },
               {path, "a", "Q4_K [256] needs 144 bytes", "tensor 'b' starts at", "does not match"});
  // Truncated: a Q6_K block cut short by the end of the file.
  write_file(path, GgufBuilder().header(3, 1, 0).tensor("c", {256}, 14, 0).finish(std::string(209, '\0')));
  expect_error([&] { GgufReader reader(path); }, {path, "c", "210 bytes", "beyond the end of the file"});
  // A row that is not a whole number of blocks.
  write_file(path, GgufBuilder().header(3, 1, 0).tensor("d", {128}, 13, 0).finish(std::string(176, '\0')));
  expect_error([&] { GgufReader reader(path); }, {path, "d", "multiple of the Q5_K block of 256"});
  // Types sop lists but does not decode are refused by name.
  write_file(path, GgufBuilder().header(3, 1, 0).tensor("e", {256}, 10, 0).finish(std::string(84, '\0')));
  expect_error([&] { GgufReader(path).read("e"); }, {path, "e", "Q2_K", "does not decode"});
}

// llama.cpp's own Q4_0 file of stories260K (llama-quantize, no imatrix) against the F32 original.
// Its Q4_0 quantizer (quantize_row_q4_0_ref) is the rule sop's Q4_0 anchor implements: d = signed
// max / -8 rounded to FP16, codes min(15, trunc(x / d + 8.5)) with 1/d taken before the rounding.
// Every Q4_0 tensor here has rows of 64 = two whole blocks, so the block rules agree everywhere and
// the weights must match bit for bit.
TEST(GgmlBlocks, LlamaCppQ4_0EqualsSopQ4_0OnTheSameWeights) {
  SOP_REQUIRE_MODEL(q4_path, "stories260K-Q4_0.gguf");
  SOP_REQUIRE_MODEL(f32_path, "stories260K.gguf");
  const GgufReader quantized(q4_path);
  const GgufReader original(f32_path);
  const auto q4_0 = make_anchor_format("Q4_0");
  ASSERT_NE(q4_0, nullptr);
  int compared = 0;
  double sqnr_low = 1e9, sqnr_high = 0;
  for (const TensorInfo& info : quantized.tensors()) {
    const Tensor q = quantized.read(info.name);
    const Tensor w = original.read(info.name);
    ASSERT_EQ(q.shape, w.shape) << info.name;
    const ErrorMetrics m = compute_metrics(w.values, q.values, w.cols(), {});
    if (info.dtype_label == "Q4_0") {
      ASSERT_EQ(w.cols() % 32, 0) << info.name;
      const QuantResult mine = q4_0->quantize(w, QuantOptions{});
      ASSERT_EQ(mine.dequant.size(), q.values.size());
      EXPECT_EQ(std::memcmp(mine.dequant.data(), q.values.data(), q.values.size() * sizeof(float)), 0) << info.name;
      // What 4-bit absmax blocks of 32 give on these weights (measured 20.4 to 22.8 dB).
      EXPECT_GT(m.sqnr_db, 17) << info.name;
      EXPECT_LT(m.sqnr_db, 24) << info.name;
      sqnr_low = std::min(sqnr_low, m.sqnr_db);
      sqnr_high = std::max(sqnr_high, m.sqnr_db);
      ++compared;
    } else if (info.dtype_label == "Q8_0") {
      EXPECT_GT(m.sqnr_db, 38) << info.name;  // 8-bit codes: about 24 dB more than Q4_0
    } else if (info.dtype_label == "F16") {
      EXPECT_GT(m.sqnr_db, 60) << info.name;
    } else {
      EXPECT_EQ(q.values, w.values) << info.name;  // F32 norms, copied
    }
  }
  EXPECT_EQ(compared, 31);
  std::printf("Q4_0 tensors: SQNR %.2f to %.2f dB\n", sqnr_low, sqnr_high);
}

}  // namespace
}  // namespace sop
