// GGUF: the real stories260K files (metadata, tensors identical to the safetensors copy, tensor types)
// and hand-built files for every header field that can lie.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <regex>

#include <gtest/gtest.h>

#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/llama_names.h"
#include "quantizer/model_reader.h"
#include "tests/io/io_test_util.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using sop::testing::expect_error;
using sop::testing::GgufBuilder;
using sop::testing::raw_bytes;
using sop::testing::ScratchDir;
using sop::testing::write_file;

// ---- the real files -------------------------------------------------------------------------------

TEST(GgufReal, StoriesMetadata) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const GgufReader gguf(path);
  EXPECT_EQ(gguf.version(), 3u);
  EXPECT_EQ(gguf.alignment(), 32u);
  EXPECT_EQ(gguf.get_string("general.architecture"), "llama");
  EXPECT_EQ(gguf.get_uint("llama.block_count"), 5u);
  EXPECT_EQ(gguf.get_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_NEAR(gguf.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(gguf.get_array("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(gguf.get("tokenizer.ggml.token_type").element_type(), GgufType::Int32);
  EXPECT_EQ(gguf.get("tokenizer.ggml.tokens").to_display(2), "[string x 512] \"<unk>\", \"<s>\", ...");
  expect_error([&] { gguf.get_uint("general.architecture"); }, {path, "general.architecture", "string", "integer"});
  expect_error([&] { gguf.get_string("no.such.key"); }, {path, "no.such.key", "no such metadata key"});
  EXPECT_EQ(gguf.tensors().size(), 48u);
  EXPECT_EQ(gguf.tensors()[3].name, "blk.0.attn_q.weight");
  EXPECT_EQ(gguf.tensors()[4].shape, (std::vector<int64_t>{32, 64}));  // GGUF ne [64, 32] -> [out, in]
}

// Hugging Face name of a GGUF llama tensor. output.weight maps to the embedding: stories260K ties them.
std::string hf_name(const std::string& gguf_name) {
  static const std::map<std::string, std::string> per_layer = {
      {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},     {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}};
  if (gguf_name == "token_embd.weight" || gguf_name == "output.weight") return "model.embed_tokens.weight";
  if (gguf_name == "output_norm.weight") return "model.norm.weight";
  std::smatch m;
  static const std::regex layer_pattern(R"(blk\.(\d+)\.(\w+)\.weight)");
  if (std::regex_match(gguf_name, m, layer_pattern)) {
    return "model.layers." + m[1].str() + "." + per_layer.at(m[2].str()) + ".weight";
  }
  return "";
}

// llama.cpp's HF-to-GGUF converter reorders the rows of q and k within each head (interleaving the two
// rotary halves). This applies that reordering, to show the comparison below would notice it.
std::vector<float> rotary_permute_rows(const Tensor& t, int64_t heads) {
  const int64_t rows = t.rows();
  const int64_t cols = t.cols();
  const int64_t head_dim = rows / heads;
  const int64_t half = head_dim / 2;
  std::vector<float> out(t.values.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < half; ++j) {
        const int64_t from = h * head_dim + i * half + j;
        const int64_t to = h * head_dim + 2 * j + i;
        std::copy_n(t.values.begin() + from * cols, cols, out.begin() + to * cols);
      }
    }
  }
  return out;
}

// Both files were exported from the same llama2.c checkpoint. Their q/k rows are in the same order
// (neither holds the converter's rotary permutation relative to the other), so every tensor compares
// bit-identical without un-permuting anything.
TEST(GgufReal, StoriesGgufAndSafetensorsHoldIdenticalWeights) {
  SOP_REQUIRE_MODEL(gguf_path, "stories260K.gguf");
  SOP_REQUIRE_MODEL(st_path, "stories260K.safetensors");
  const auto gguf = open_model(gguf_path);
  const auto st = open_model(st_path);
  int compared = 0;
  for (const TensorInfo& info : gguf->tensors()) {
    const std::string other = hf_name(info.name);
    ASSERT_FALSE(other.empty()) << info.name;
    const Tensor a = gguf->read(info.name);
    const Tensor b = st->read(other);
    ASSERT_EQ(a.shape, b.shape) << info.name;
    ASSERT_EQ(std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)), 0) << info.name;
    ++compared;
  }
  EXPECT_EQ(compared, 48);
  // The comparison is sensitive to the permutation: q with llama.cpp's reordering applied differs.
  const Tensor q = st->read("model.layers.0.self_attn.q_proj.weight");
  EXPECT_NE(rotary_permute_rows(q, 8), gguf->read("blk.0.attn_q.weight").values);
  const Tensor k = st->read("model.layers.0.self_attn.k_proj.weight");
  EXPECT_NE(rotary_permute_rows(k, 4), gguf->read("blk.0.attn_k.weight").values);
  // The library's reordering (sop dequant --permute-qk) is the same as this one.
  EXPECT_EQ(llama_cpp_rotary_rows(q.values, q.rows(), 8, q.name), rotary_permute_rows(q, 8));
  EXPECT_EQ(llama_cpp_rotary_rows(k.values, k.rows(), 4, k.name), rotary_permute_rows(k, 4));
}

TEST(GgufReal, QuantizedFileListsTensorTypes) {
  SOP_REQUIRE_MODEL(path, "stories260K-Q4_0.gguf");
  SOP_REQUIRE_MODEL(f32_path, "stories260K.gguf");
  const GgufReader gguf(path);
  ASSERT_EQ(gguf.tensors().size(), 48u);
  std::map<std::string, int> labels;
  for (const auto& t : gguf.tensors()) ++labels[t.dtype_label];
  EXPECT_EQ(labels["Q8_0"], 1);   // output
  EXPECT_EQ(labels["F16"], 5);    // ffn_down, one per layer
  EXPECT_EQ(labels["Q4_0"], 31);
  EXPECT_EQ(labels["F32"], 11);   // norms
  EXPECT_EQ(gguf.ggml_type("blk.0.attn_q.weight"), 2u);
  for (const auto& t : gguf.tensors()) {
    if (t.name == "blk.0.attn_q.weight") {
      EXPECT_EQ(t.dtype, DType::Quantized);
      EXPECT_EQ(t.shape, (std::vector<int64_t>{64, 64}));
    }
  }
  // The quantized tensors read, dequantized (their values: tests/io/ggml_blocks_test.cc).
  EXPECT_EQ(gguf.read("blk.0.attn_q.weight").values.size(), 64u * 64u);
  EXPECT_EQ(gguf.read("output.weight").values.size(), 512u * 64u);
  // The F16 tensor it kept reads, and equals the F32 original to FP16 precision.
  const GgufReader original(f32_path);
  const Tensor half = gguf.read("blk.2.ffn_down.weight");
  const Tensor full = original.read("blk.2.ffn_down.weight");
  ASSERT_EQ(half.shape, full.shape);
  for (std::size_t i = 0; i < full.values.size(); ++i) {
    ASSERT_NEAR(half.values[i], full.values[i], std::fabs(full.values[i]) * 0x1p-11 + 0x1p-24) << i;
  }
}

// Random byte damage anywhere in the header must give sop::Error or a readable file, never a crash,
// another exception type, or (under the sanitizers) an out-of-bounds read.
TEST(GgufReal, RandomHeaderDamageIsCaught) {
  SOP_REQUIRE_MODEL(path, "stories260K-Q4_0.gguf");
  std::ifstream in(path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const GgufReader intact(path);
  const std::size_t header_end = 14229;  // end of the tensor descriptions in this file
  ASSERT_GT(original.size(), header_end);
  ScratchDir dir;
  const std::string damaged_path = dir.file("damaged.gguf");
  std::mt19937_64 random(2024);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = original;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      // Half the damage goes to the 24-byte file header and the first key, where lengths live.
      const std::size_t where = static_cast<std::size_t>(random() % (trial % 2 ? header_end : 64));
      bytes[where] = static_cast<char>(random() & 0xFF);
    }
    write_file(damaged_path, bytes);
    try {
      const GgufReader gguf(damaged_path);
      for (const auto& t : gguf.tensors()) {
        try {
          gguf.read(t.name);
        } catch (const Error&) {
        }
      }
    } catch (const Error& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find(damaged_path), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 50);
}

// ---- hand-built files -----------------------------------------------------------------------------

// A valid file: two metadata keys, an F32 [2, 3] tensor at offset 0 and an F16 [4] tensor at 32.
GgufBuilder valid_header() {
  GgufBuilder b;
  b.header(3, 2, 2).kv_string("general.architecture", "llama").kv_u32("test.count", 7);
  b.tensor("t.f32", {3, 2}, 0, 0).tensor("t.f16", {4}, 1, 32);
  return b;
}

std::string valid_data() {
  const std::vector<float> f32 = {0, 1, 2, 3, 4, 5};
  const std::vector<uint16_t> f16 = {0x3C00, 0x4000, 0x4200, 0x4400};
  return raw_bytes(f32) + std::string(8, '\0') + raw_bytes(f16);
}

class GgufCorrupt : public ::testing::Test {
 protected:
  void expect_open_error(const std::string& bytes, std::vector<std::string> needles) {
    write_file(path_, bytes);
    needles.push_back(path_);
    expect_error([&] { GgufReader reader(path_); }, needles);
  }
  ScratchDir dir_;
  std::string path_ = dir_.file("bad.gguf");
};

TEST_F(GgufCorrupt, ValidFileReads) {
  write_file(path_, valid_header().finish(valid_data()));
  const GgufReader gguf(path_);
  EXPECT_EQ(gguf.get_uint("test.count"), 7u);
  ASSERT_EQ(gguf.tensors().size(), 2u);
  EXPECT_EQ(gguf.tensors()[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(gguf.read("t.f32").values, (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(gguf.read("t.f16").values, (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(GgufCorrupt, EveryTruncationIsAnError) {
  const std::string full = valid_header().finish(valid_data());
  for (std::size_t length = 0; length < full.size(); ++length) {
    write_file(path_, full.substr(0, length));
    try {
      GgufReader reader(path_);
      ADD_FAILURE() << "a file cut to " << length << " of " << full.size() << " bytes opened";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    }
  }
}

TEST_F(GgufCorrupt, BadMagicAndVersions) {
  std::string bytes = valid_header().finish(valid_data());
  bytes[3] = 'X';
  expect_open_error(bytes, {"magic", "not a GGUF file"});
  expect_open_error(GgufBuilder().header(1, 0, 0).finish(""), {"version", "unsupported GGUF version 1"});
  expect_open_error(GgufBuilder().header(4, 0, 0).finish(""), {"unsupported GGUF version 4"});
  expect_open_error(GgufBuilder().header(0x03000000u, 0, 0).finish(""), {"big-endian"});
  EXPECT_NO_THROW(write_file(path_, GgufBuilder().header(2, 0, 0).finish("")); GgufReader reader(path_););
}

TEST_F(GgufCorrupt, StringLengthsBeyondTheFile) {
  expect_open_error(GgufBuilder().header(3, 0, 1).u64(1000000).raw(std::string(40, 'a')).finish(""),
                    {"metadata[0] key", "string length 1000000", "beyond the end"});
  expect_open_error(GgufBuilder().header(3, 0, 1).key("k", 8).u64(~uint64_t{0}).raw(std::string(40, 'x')).finish(""),
                    {"metadata 'k'", "beyond the end"});
  expect_open_error(GgufBuilder().header(3, 1, 0).u64(500).raw(std::string(40, 't')).finish(""), {"tensor[0] name", "beyond"});
}

TEST_F(GgufCorrupt, CountsTheFileCannotHold) {
  expect_open_error(GgufBuilder().header(3, 0, uint64_t{1} << 60).finish(""), {"metadata count", "cannot fit"});
  expect_open_error(GgufBuilder().header(3, ~uint64_t{0}, 0).finish(""), {"tensor count", "cannot fit"});
  expect_open_error(GgufBuilder().header(3, 0, 1).key("arr", 9).u32(4).u64(uint64_t{1} << 62).raw("xxxx").finish(""),
                    {"metadata 'arr'", "array of", "beyond the end"});
}

TEST_F(GgufCorrupt, UnknownTypes) {
  expect_open_error(GgufBuilder().header(3, 0, 1).key("k", 13).u32(0).finish(""), {"metadata 'k'", "unknown value type 13"});
  expect_open_error(GgufBuilder().header(3, 0, 1).key("k", 9).u32(77).u64(0).finish(""), {"unknown array element type 77"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("t", {4}, 99, 0).finish(std::string(32, '\0')),
                    {"t", "unknown ggml tensor type 99"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("t", {4}, 4, 0).finish(std::string(32, '\0')),
                    {"t", "unknown ggml tensor type 4"});  // Q4_2, removed from llama.cpp
  expect_open_error(GgufBuilder().header(3, 0, 1).key("b", 7).u8(2).finish(""), {"metadata 'b'", "bool"});
}

TEST_F(GgufCorrupt, TensorOffsetsAndShapesThatLie) {
  const std::string data(64, '\0');
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("far", {4}, 0, 4096).finish(data), {"far", "beyond the end"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("odd", {4}, 0, 4).finish(data),
                    {"odd", "offset 4", "not a multiple of the alignment 32"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("big", {16, 16}, 0, 0).finish(data), {"big", "beyond the end"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("wrap", {4}, 0, ~uint64_t{0} - 31).finish(data), {"wrap"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("huge", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0).finish(data),
                    {"huge", "overflows"});
  // Issue 16: no dimension beyond what a pack file holds, even in an empty tensor.
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("absurd", {(uint64_t{1} << 63) - 1, 0}, 0, 0).finish(data),
                    {"absurd", "dimension 0 = 9223372036854775807 exceeds the limit of 2^48 per dimension"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("neg", {~uint64_t{0}}, 0, 0).finish(data), {"neg", "overflows"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("r5", {1, 1, 1, 1, 1}, 0, 0).finish(data), {"r5", "rank 5"});
  expect_open_error(GgufBuilder().header(3, 1, 0).tensor("q", {48}, 2, 0).finish(data), {"q", "multiple of the Q4_0 block"});
  expect_open_error(GgufBuilder().header(3, 2, 0).tensor("d", {4}, 0, 0).tensor("d", {4}, 0, 32).finish(data),
                    {"d", "duplicate"});
  expect_open_error(GgufBuilder().header(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2).finish(""), {"metadata 'k'", "duplicate"});
}

TEST_F(GgufCorrupt, AlignmentKey) {
  // general.alignment = 64 moves the data section and the legal offsets.
  GgufBuilder b;
  b.header(3, 2, 1).kv_u32("general.alignment", 64).tensor("a", {2}, 0, 0).tensor("b", {2}, 0, 64);
  const std::vector<float> a = {1, 2};
  const std::vector<float> bv = {3, 4};
  write_file(path_, b.finish(raw_bytes(a) + std::string(56, '\0') + raw_bytes(bv), 64));
  const GgufReader gguf(path_);
  EXPECT_EQ(gguf.alignment(), 64u);
  EXPECT_EQ(gguf.read("b").values, (std::vector<float>{3, 4}));

  GgufBuilder misaligned;
  misaligned.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("m", {2}, 0, 32);
  expect_open_error(misaligned.finish(std::string(128, '\0'), 64), {"m", "alignment 64"});
  expect_open_error(GgufBuilder().header(3, 0, 1).kv_u32("general.alignment", 48).finish(""),
                    {"general.alignment", "power of two"});
  expect_open_error(GgufBuilder().header(3, 0, 1).kv_u32("general.alignment", 0).finish(""), {"general.alignment"});
  expect_open_error(GgufBuilder().header(3, 0, 1).kv_string("general.alignment", "32").finish(""),
                    {"general.alignment", "string"});
}

TEST_F(GgufCorrupt, NonFiniteAndQuantizedTensors) {
  std::vector<float> values = {1, 2, std::numeric_limits<float>::infinity(), 4};
  GgufBuilder b;
  b.header(3, 2, 0).tensor("w", {2, 2}, 0, 0).tensor("q2", {256}, 10, 32);
  write_file(path_, b.finish(raw_bytes(values) + std::string(16, '\0') + std::string(84, '\0')));
  const GgufReader gguf(path_);
  expect_error([&] { gguf.read("w"); }, {path_, "w", "element 2", "[1, 0]", "+Inf"});
  EXPECT_EQ(gguf.tensors()[1].dtype, DType::Quantized);
  EXPECT_EQ(gguf.tensors()[1].dtype_label, "Q2_K");
  expect_error([&] { gguf.read("q2"); }, {path_, "q2", "Q2_K", "does not decode"});
}

TEST_F(GgufCorrupt, EveryMetadataValueType) {
  GgufBuilder b;
  b.header(3, 0, 14);
  b.key("u8", 0).u8(200).key("i8", 1).u8(0xFB).key("u16", 2).u16(60000).key("i16", 3).u16(static_cast<uint16_t>(-300));
  b.key("u32", 4).u32(4000000000u).key("i32", 5).u32(static_cast<uint32_t>(-70000)).key("f32", 6).f32(1.5f);
  b.key("bool", 7).u8(1).key("str", 8).string("h\xC3\xA9llo").key("u64", 10).u64(uint64_t{1} << 40);
  b.key("i64", 11).u64(static_cast<uint64_t>(-(int64_t{1} << 40))).key("f64", 12).f64(2.25);
  b.key("strings", 9).u32(8).u64(3).string("a").string("").string("c");
  b.key("nested", 9).u32(9).u64(2).u32(5).u64(2).u32(1).u32(2).u32(5).u64(1).u32(static_cast<uint32_t>(-3));
  write_file(path_, b.finish(""));
  const GgufReader gguf(path_);
  EXPECT_EQ(gguf.get_uint("u8"), 200u);
  EXPECT_EQ(gguf.get_int("i8"), -5);
  EXPECT_EQ(gguf.get_uint("u16"), 60000u);
  EXPECT_EQ(gguf.get_int("i16"), -300);
  EXPECT_EQ(gguf.get_uint("u32"), 4000000000u);
  EXPECT_EQ(gguf.get_int("i32"), -70000);
  EXPECT_EQ(gguf.get_float("f32"), 1.5);
  EXPECT_TRUE(gguf.get_bool("bool"));
  EXPECT_EQ(gguf.get_string("str"), "h\xC3\xA9llo");
  EXPECT_EQ(gguf.get_uint("u64"), uint64_t{1} << 40);
  EXPECT_EQ(gguf.get_int("i64"), -(int64_t{1} << 40));
  EXPECT_EQ(gguf.get_float("f64"), 2.25);
  EXPECT_EQ(gguf.get_float("u32"), 4e9);  // any number reads as float
  EXPECT_EQ(gguf.get_string_array("strings"), (std::vector<std::string>{"a", "", "c"}));
  const auto& nested = gguf.get_array("nested");
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[0].items()[1].as_int(), 2);
  EXPECT_EQ(nested[1].items()[0].as_int(), -3);
  EXPECT_EQ(gguf.get("nested").to_display(), "[array x 2] [int32 x 2] 1, 2, [int32 x 1] -3");
  expect_error([&] { gguf.get_uint("i8"); }, {path_, "i8", "negative"});
  expect_error([&] { gguf.get_bool("u8"); }, {path_, "u8", "not a bool"});
  expect_error([&] { gguf.get_string_array("nested"); }, {"nested", "not an array of strings"});
  EXPECT_EQ(gguf.metadata()[0].first, "u8");  // file order
}

// Issue 16: a uint8 metadata array cost over 100x its size in memory (a 10 MB file took 1.46 GB) and a
// long key with a long array was quadratic (the key was copied into a name for every element).
// Elements are 32 bytes now, the file's metadata arrays are bounded, and keys are bounded by the spec.
TEST_F(GgufCorrupt, MetadataArraysAreCompactAndBounded) {
  static_assert(sizeof(GgufValue) <= 32, "a metadata array holds one GgufValue per element");
  const uint64_t ten_mb = uint64_t{10} << 20;
  expect_open_error(GgufBuilder().header(3, 0, 1).key("big", 9).u32(0).u64(ten_mb).raw(std::string(ten_mb, '\1')).finish(""),
                    {"metadata 'big'", "array of 10485760 values exceeds the limit of 4194304 metadata array elements per file"});
  // The limit counts every array of the file.
  const uint64_t half = uint64_t{1} << 21;
  expect_open_error(GgufBuilder()
                        .header(3, 0, 2)
                        .key("a", 9).u32(0).u64(half).raw(std::string(half, '\1'))
                        .key("b", 9).u32(0).u64(half + 1).raw(std::string(half + 1, '\1'))
                        .finish(""),
                    {"metadata 'b'", "exceeds the limit"});
  // A key of the spec's maximum length with a million-element array reads (was 64 K x 1 M chars copied).
  const std::string long_key(65535, 'k');
  const uint64_t count = uint64_t{1} << 20;
  write_file(path_, GgufBuilder().header(3, 0, 1).key(long_key, 9).u32(0).u64(count).raw(std::string(count, '\7')).finish(""));
  const GgufReader gguf(path_);
  ASSERT_EQ(gguf.get_array(long_key).size(), count);
  EXPECT_EQ(gguf.get_array(long_key).back().as_uint(), 7u);
  expect_open_error(GgufBuilder().header(3, 0, 1).kv_u32(long_key + "k", 1).finish(""),
                    {"metadata[0] key", "65536 bytes, over GGUF's limit of 65535"});
}

}  // namespace
}  // namespace sop
