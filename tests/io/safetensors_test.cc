// safetensors: real checkpoints (known values), corrupt files, sharded checkpoints and the writer.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <limits>

#include <gtest/gtest.h>

#include "base/mapped_file.h"

#include "base/half.h"
#include "quantizer/io/safetensors_reader.h"
#include "quantizer/io/safetensors_writer.h"
#include "quantizer/io/tensor_decode.h"
#include "quantizer/model_reader.h"
#include "quantizer/synthetic.h"
#include "tests/test_support.h"
#include "tests/io/io_test_util.h"

namespace sop {
namespace {

using sop::testing::expect_error;
using sop::testing::raw_bytes;
using sop::testing::safetensors_bytes;
using sop::testing::ScratchDir;
using sop::testing::write_file;

// ---- real checkpoints -----------------------------------------------------------------------------

TEST(SafetensorsReal, Gpt2QueryWeightsMatchPublishedValues) {
  SOP_REQUIRE_MODEL(path, "gpt2_attn_l0-4-8-11.safetensors");
  const auto model = SafetensorsReader::open_file(path);
  EXPECT_EQ(model->tensors().size(), 16u);
  const Tensor q = model->read("h.0.attn.q_proj.weight");
  ASSERT_EQ(q.shape, (std::vector<int64_t>{768, 768}));
  // GPT-2's Conv1D stores [in, out]; this file stores [out, in], so the original first input row is
  // column 0 here.
  const float expected[] = {-0.4738f, -0.2614f, -0.0978f, -0.3499f, 0.2243f};
  for (int out = 0; out < 5; ++out) {
    EXPECT_NEAR(q.values[static_cast<std::size_t>(out) * 768], expected[out], 5e-4) << "row " << out;
  }
  EXPECT_EQ(model->tensors().front().dtype, DType::F16);
}

TEST(SafetensorsReal, StoriesShapesAndMetadata) {
  SOP_REQUIRE_MODEL(path, "stories260K.safetensors");
  const auto model = open_model(path);
  const auto* st = dynamic_cast<const SafetensorsReader*>(model.get());
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(model->tensors().size(), 47u);
  const Tensor k = model->read("model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(k.shape, (std::vector<int64_t>{32, 64}));  // GQA: 4 kv heads of 8
  EXPECT_EQ(model->read("model.layers.4.mlp.down_proj.weight").shape, (std::vector<int64_t>{64, 172}));
  bool found_dim = false;
  for (const auto& [key, value] : st->metadata()) found_dim |= key == "dim" && value == "64";
  EXPECT_TRUE(found_dim);
  // tensors() is in data order.
  EXPECT_EQ(model->tensors().front().name, "model.embed_tokens.weight");
}

TEST(SafetensorsReal, EveryRealFileReadsCleanly) {
  for (const char* file : {"aidreams260K.safetensors", "bert_tiny_sst2.safetensors", "ppocrv4_rec_matmul.safetensors"}) {
    const std::string path = sop::testing::model_path(file);
    if (!sop::testing::file_exists(path)) {
      GTEST_SKIP() << "real model not found: " << path << " (set SOP_MODELS_DIR)";
    }
    const auto model = open_model(path);
    uint64_t elements = 0;
    for (const auto& info : model->tensors()) {
      const Tensor t = model->read(info.name);
      EXPECT_EQ(static_cast<int64_t>(t.values.size()), info.element_count()) << info.name;
      elements += t.values.size();
    }
    EXPECT_GT(elements, 100000u) << file;
  }
}

// Random damage to the length field and JSON header: sop::Error or a readable file, never a crash.
TEST(SafetensorsReal, RandomHeaderDamageIsCaught) {
  SOP_REQUIRE_MODEL(path, "stories260K.safetensors");
  std::ifstream in(path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ScratchDir dir;
  const std::string damaged_path = dir.file("damaged.safetensors");
  std::mt19937_64 random(99);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = original;
    const std::size_t where = static_cast<std::size_t>(random() % (trial % 3 == 0 ? 8 : 4936));
    bytes[where] = "0123456789{}[],:\"-eE.\x80"[random() % 22];
    write_file(damaged_path, bytes);
    try {
      const auto model = SafetensorsReader::open_file(damaged_path);
      for (const auto& t : model->tensors()) {
        try {
          model->read(t.name);
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

// ---- small hand-built files -----------------------------------------------------------------------

std::string one_tensor_header(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"w":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
}

class SafetensorsCorrupt : public ::testing::Test {
 protected:
  // Writes the file and requires open (or, with read_tensor, read) to fail naming the file and `field`.
  void expect_open_error(const std::string& bytes, std::vector<std::string> needles) {
    write_file(path_, bytes);
    needles.push_back(path_);
    expect_error([&] { SafetensorsReader::open_file(path_); }, needles);
  }
  ScratchDir dir_;
  std::string path_ = dir_.file("bad.safetensors");
};

TEST_F(SafetensorsCorrupt, FileShorterThanTheLengthField) {
  expect_open_error(std::string("\x10\x00\x00", 3), {"truncated"});
  expect_open_error("", {"truncated"});
}

TEST_F(SafetensorsCorrupt, HeaderLengthBeyondTheFile) {
  expect_open_error(sop::testing::le_u64(1000) + "{}", {"header length 1000", "beyond"});
  expect_open_error(sop::testing::le_u64(~uint64_t{0}) + "{}", {"beyond"});
}

TEST_F(SafetensorsCorrupt, MalformedJson) {
  expect_open_error(safetensors_bytes(R"({"w":{"dtype":"F32",)", ""), {"header", "not valid JSON"});
  expect_open_error(safetensors_bytes("[1,2,3]", ""), {"not an object"});
  expect_open_error(safetensors_bytes(R"({"w":[1]})", ""), {"w", "not an object"});
  expect_open_error(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1]}})", std::string(4, '\0')),
                    {"w", "data_offsets"});
  expect_open_error(safetensors_bytes(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                    {"w", "dtype"});
}

// Issue 16: a header nesting ~60k levels crashed (recursive dump of the shape into the message).
// It is refused at parse time, and a deep-but-allowed bad shape is quoted only as an excerpt.
TEST_F(SafetensorsCorrupt, DeepNestingIsRefusedBeforeAnyRecursiveWalk) {
  const int levels = 60000;
  const std::string deep_shape = std::string(levels, '[') + std::string(levels, ']');
  expect_open_error(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[)" + deep_shape + R"(],"data_offsets":[0,4]}})",
                                      std::string(4, '\0')),
                    {"header", "deeper than the limit of 64 levels"});
  // 60 levels pass the parse; the message about shape[0] quotes a bounded excerpt, not the whole value.
  const std::string wide = "[" + std::string(50, '[') + "\"" + std::string(5000, 'x') + "\"" + std::string(50, ']') + "]";
  write_file(path_, safetensors_bytes(one_tensor_header("F32", wide, "[0,4]"), std::string(4, '\0')));
  try {
    SafetensorsReader::open_file(path_);
    ADD_FAILURE() << "accepted a nested shape";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("shape[0] is not a number"), std::string::npos) << message;
    EXPECT_LT(message.size(), 400u) << message;
  }
}

TEST_F(SafetensorsCorrupt, OffsetsThatLie) {
  const std::string data(16, '\0');
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[2]", "[8,0]"), data), {"w", "end before begin"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[4]", "[8,24]"), data), {"w", "beyond the data section"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[3]", "[0,16]"), data), {"w", "needs 12"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[2]", "[-4,4]"), data), {"w", "negative"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[2]", "[0,1e40]"), data), {"w", "data_offsets[1]"});
  // A data section cut short by truncation looks the same as an offset beyond it.
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[4]", "[0,16]"), std::string(10, '\0')),
                    {"w", "beyond the data section"});
}

TEST_F(SafetensorsCorrupt, UnknownDtype) {
  expect_open_error(safetensors_bytes(one_tensor_header("F7", "[1]", "[0,1]"), std::string(1, '\0')),
                    {"w", "unknown dtype \"F7\""});
}

TEST_F(SafetensorsCorrupt, BadShapes) {
  const std::string data(16, '\0');
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[-1,4]", "[0,16]"), data), {"w", "shape[0]", "negative"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[2.5]", "[0,16]"), data), {"w", "shape[0]", "not an integer"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[1e30]", "[0,16]"), data), {"w", "shape[0]"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[18446744073709551615]", "[0,16]"), data),
                    {"w", "overflows"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[4294967296,4294967296,16]", "[0,16]"), data),
                    {"w", "overflows"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[70368744177664,70368744177664]", "[0,16]"), data),
                    {"w", "overflows"});  // element count fits, byte count does not
  // Issue 16: an empty tensor with an absurd dimension was quantized into a pack `sop inspect` refused.
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[0,9223372036854775807]", "[0,0]"), ""),
                    {"w", "shape[1] = 9223372036854775807 exceeds the limit of 2^48 per dimension"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[4611686018427387904]", "[0,16]"), data),
                    {"w", "exceeds the limit"});
  expect_open_error(safetensors_bytes(one_tensor_header("F32", "[\"4\"]", "[0,16]"), data), {"w", "not a number"});
}

TEST_F(SafetensorsCorrupt, NonFiniteValuesNameTheTensorAndIndex) {
  std::vector<float> values = {0.f, 1.f, 2.f, 3.f, std::numeric_limits<float>::quiet_NaN(), 5.f};
  write_file(path_, safetensors_bytes(one_tensor_header("F32", "[2,3]", "[0,24]"), raw_bytes(values)));
  const auto model = SafetensorsReader::open_file(path_);  // listing touches no weights
  expect_error([&] { model->read("w"); }, {path_, "w", "element 4", "[1, 1]", "NaN"});

  values[4] = 4.f;
  values[5] = -std::numeric_limits<float>::infinity();
  write_file(path_, safetensors_bytes(one_tensor_header("F32", "[2,3]", "[0,24]"), raw_bytes(values)));
  expect_error([&] { SafetensorsReader::open_file(path_)->read("w"); }, {"w", "element 5", "[1, 2]", "-Inf"});

  const std::vector<uint16_t> halves = {0x3C00, 0x7C00};
  write_file(path_, safetensors_bytes(one_tensor_header("F16", "[2]", "[0,4]"), raw_bytes(halves)));
  expect_error([&] { SafetensorsReader::open_file(path_)->read("w"); }, {"w", "element 1", "+Inf"});

  const std::vector<uint16_t> bf16 = {0x7FC0, 0x3F80};
  write_file(path_, safetensors_bytes(one_tensor_header("BF16", "[2]", "[0,4]"), raw_bytes(bf16)));
  expect_error([&] { SafetensorsReader::open_file(path_)->read("w"); }, {"w", "element 0", "NaN"});

  const std::vector<double> f64 = {1.0, 1e300};
  write_file(path_, safetensors_bytes(one_tensor_header("F64", "[2]", "[0,16]"), raw_bytes(f64)));
  expect_error([&] { SafetensorsReader::open_file(path_)->read("w"); }, {"w", "element 1", "FP32 range"});
}

// The conversion runs in chunks of 2^20 elements split between threads: the first bad element is
// named whatever the thread count, and read_into keeps a buffer that holds enough and gives read()'s
// values.
TEST_F(SafetensorsCorrupt, ChunkedConversionNamesTheFirstBadElementAndReusesStorage) {
  const int64_t count = 3 * (int64_t{1} << 20) + 5;
  std::vector<float> values(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[static_cast<std::size_t>(i)] = static_cast<float>(i % 1000) * 0.5f;
  const std::string shape = "[" + std::to_string(count) + "]";
  const std::string offsets = "[0," + std::to_string(4 * count) + "]";
  write_file(path_, safetensors_bytes(one_tensor_header("F32", shape, offsets), raw_bytes(values)));
  const auto good = SafetensorsReader::open_file(path_);
  Tensor reused;
  reused.values.assign(static_cast<std::size_t>(count) + 100, -1.0f);
  const float* storage = reused.values.data();
  good->read_into("w", reused, 4);
  EXPECT_EQ(reused.values.data(), storage) << "a buffer that holds enough is kept";
  EXPECT_EQ(reused.values, good->read("w").values);
  EXPECT_EQ(reused.shape, std::vector<int64_t>{count});
  // F32 is copied with pread (copy_out): the map's bytes, and a refusal past the end of the file.
  const detail::MappedFile map(path_);
  std::vector<uint8_t> copied(1000);
  ASSERT_TRUE(map.copy_out(13, copied.size(), copied.data()));
  EXPECT_EQ(std::memcmp(copied.data(), map.data() + 13, copied.size()), 0);
  EXPECT_FALSE(map.copy_out(map.size() - 10, 11, copied.data()));
  EXPECT_TRUE(map.copy_out(map.size(), 0, copied.data()));

  values[static_cast<std::size_t>(2 * (int64_t{1} << 20) + 7)] = std::numeric_limits<float>::infinity();  // chunk 2
  values[1500000] = std::numeric_limits<float>::quiet_NaN();                                              // chunk 1
  write_file(path_, safetensors_bytes(one_tensor_header("F32", shape, offsets), raw_bytes(values)));
  const auto bad = SafetensorsReader::open_file(path_);
  for (int threads : {1, 2, 4}) {
    expect_error([&] { bad->read_into("w", reused, threads); }, {"w", "element 1500000", "NaN"});
  }
}

TEST(Safetensors, ConvertsEachFloatType) {
  ScratchDir dir;
  const std::vector<uint16_t> halves = {0x3C00, 0xC000, 0x0001};
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040};
  const std::vector<double> f64 = {0.25, -1e-3};
  const std::vector<float> f32 = {1.5f, -2.5f};
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},)"
      R"("d":{"dtype":"F64","shape":[2],"data_offsets":[10,26]},)"
      R"("f":{"dtype":"F32","shape":[1,2],"data_offsets":[26,34]},)"
      R"("i":{"dtype":"I32","shape":[1],"data_offsets":[34,38]},)"
      R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[38,38]}})";
  const std::string path = dir.file("types.safetensors");
  write_file(path, safetensors_bytes(header, raw_bytes(halves) + raw_bytes(bf16) + raw_bytes(f64) + raw_bytes(f32) +
                                                 std::string(4, '\1')));
  const auto model = SafetensorsReader::open_file(path);
  ASSERT_EQ(model->tensors().size(), 6u);
  EXPECT_EQ(model->tensors()[0].name, "h");  // data order
  EXPECT_EQ(model->read("h").values, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}));
  EXPECT_EQ(model->read("b").values, (std::vector<float>{1.0f, -3.0f}));
  EXPECT_EQ(model->read("d").values, (std::vector<float>{0.25f, static_cast<float>(-1e-3)}));
  const Tensor f = model->read("f");
  EXPECT_EQ(f.values, f32);
  EXPECT_EQ(f.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(model->read("e").values.empty());
  expect_error([&] { model->read("i"); }, {path, "i", "I32", "not a floating-point"});
  expect_error([&] { model->read("missing"); }, {path, "missing", "no such tensor"});
}

// ---- sharded checkpoints --------------------------------------------------------------------------

void write_two_shards(const ScratchDir& dir, const std::string& index_json) {
  const std::vector<float> a = {1, 2, 3, 4};
  const std::vector<float> b = {5, 6};
  write_file(dir.file("model-00001-of-00002.safetensors"),
             safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", raw_bytes(a)));
  write_file(dir.file("model-00002-of-00002.safetensors"),
             safetensors_bytes(R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                               raw_bytes(b)));
  write_file(dir.file("model.safetensors.index.json"), index_json);
}

const char* kGoodIndex = R"({"metadata":{"total_size":24},"weight_map":{)"
                         R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";

TEST(SafetensorsSharded, ReadsAcrossShardsByIndexAndByDirectory) {
  ScratchDir dir;
  write_two_shards(dir, kGoodIndex);
  for (const std::string& path : {dir.file("model.safetensors.index.json"), dir.path()}) {
    const auto model = open_model(path);
    ASSERT_EQ(model->tensors().size(), 2u) << path;
    EXPECT_EQ(model->tensors()[0].name, "a");
    EXPECT_EQ(model->read("a").values, (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(model->read("b").values, (std::vector<float>{5, 6}));
    const auto* st = dynamic_cast<const SafetensorsReader*>(model.get());
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->shard_count(), 2u);
  }
}

TEST(SafetensorsSharded, IndexThatLies) {
  ScratchDir dir;
  write_two_shards(dir, R"({"weight_map":{"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); }, {"index.json", "c", "not found"});
  write_two_shards(dir, R"({"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors"}})");
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); }, {"a", "but the tensor is in"});
  write_two_shards(dir, R"({"weight_map":{"a":"model-00003-of-00002.safetensors"}})");
  // A missing shard names the index and the entry that listed it (issue 16).
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); },
               {"model.safetensors.index.json: weight_map shard 'model-00003-of-00002.safetensors'", "cannot open"});
  write_two_shards(dir, R"({"weight_map":[]})");
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); }, {"weight_map"});
  write_two_shards(dir, R"({"weight_map":{"a":"/etc/passwd"}})");
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); }, {"relative"});
  // Issue 16: a shard path climbing out of the index's folder is refused before anything is opened.
  for (const char* outside : {"../model-00001-of-00002.safetensors", "sub/../../x.safetensors", ".."}) {
    write_two_shards(dir, std::string(R"({"weight_map":{"a":")") + outside + "\"}}");
    expect_error([&] { open_model(dir.file("model.safetensors.index.json")); },
                 {"weight_map.a", outside, "inside the index's directory"});
  }
  write_two_shards(dir, R"({"weight_map":{"a":"model-00001-of-00002.safetensors..","b":"model-00002-of-00002.safetensors"}})");
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); }, {"cannot open"});  // '..' only as a component
  write_two_shards(dir, "{not json");
  expect_error([&] { open_model(dir.file("model.safetensors.index.json")); }, {"index.json", "not valid JSON"});
}

// Issue 16: a well-formed 100+ GB tensor ended as "error: std::bad_alloc", naming nothing. The
// conversion's allocation failure names the file and the tensor (the data is never touched).
TEST(TensorDecode, AnAllocationTooLargeNamesTheFileAndTensor) {
  TensorInfo huge;
  huge.name = "huge.weight";
  huge.dtype = DType::F32;
  // 2^62 values: past the vector's max_size, so no allocation is even tried (safe under sanitizers).
  huge.shape = {int64_t{1} << 40, int64_t{1} << 22};
  std::vector<float> out;
  expect_error([&] { detail::decode_to_fp32(nullptr, huge, "big.safetensors", out); },
               {"big.safetensors: huge.weight: needs 4611686018427387904 FP32 values", "more than could be allocated"});
}

// ---- the writer -----------------------------------------------------------------------------------

TEST(SafetensorsWriter, RoundTripsEachDtype) {
  ScratchDir dir;
  const auto source = open_synthetic("synthetic:llm?dim=64&hidden=96&layers=1&seed=3");
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const std::string path = dir.file(std::string("m_") + dtype_name(dtype) + ".safetensors");
    const uint64_t bytes = write_safetensors(*source, path, dtype, {{"source", source->path()}});
    EXPECT_EQ(bytes, std::filesystem::file_size(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
    const auto copy = SafetensorsReader::open_file(path);
    ASSERT_EQ(copy->tensors().size(), source->tensors().size());
    ASSERT_EQ(copy->metadata().size(), 1u);
    EXPECT_EQ(copy->metadata()[0].second, source->path());
    for (const auto& info : source->tensors()) {
      const Tensor original = source->read(info.name);
      const Tensor back = copy->read(info.name);
      ASSERT_EQ(back.shape, original.shape);
      EXPECT_EQ(copy->tensors()[0].dtype, dtype);
      for (std::size_t i = 0; i < original.values.size(); ++i) {
        const float expected = dtype == DType::F32   ? original.values[i]
                               : dtype == DType::F16 ? fp16_to_fp32(fp32_to_fp16(original.values[i]))
                                                     : bf16_to_fp32(fp32_to_bf16(original.values[i]));
        ASSERT_EQ(float_to_bits(back.values[i]), float_to_bits(expected)) << info.name << " " << i;
      }
    }
  }
}

TEST(SafetensorsWriter, FailureLeavesNoPartialFile) {
  ScratchDir dir;
  const auto source = open_synthetic("synthetic:gaussian?rows=4&cols=4");
  expect_error([&] { write_safetensors(*source, dir.file("no/such/dir/x.safetensors"), DType::F32); }, {"cannot create"});
  expect_error([&] { write_safetensors(*source, dir.file("x.safetensors"), DType::I8); }, {"I8"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace sop
