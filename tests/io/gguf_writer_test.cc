// The GGUF writer: files read back by sop's GGUF reader with the same metadata (key by key) and the
// same tensors (bit for bit), alignment, F16, and failures that leave nothing behind.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "base/half.h"
#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/gguf_writer.h"
#include "quantizer/synthetic.h"
#include "tests/io/io_test_util.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using sop::testing::expect_error;
using sop::testing::ScratchDir;

// Two metadata values are the same: type, element type, and value (floats by their bits), recursively.
bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case GgufType::String: return a.as_string() == b.as_string();
    case GgufType::Bool: return a.as_bool() == b.as_bool();
    case GgufType::Float32: case GgufType::Float64: {
      const double x = a.as_float(), y = b.as_float();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    case GgufType::Array: {
      if (a.element_type() != b.element_type() || a.items().size() != b.items().size()) return false;
      for (std::size_t i = 0; i < a.items().size(); ++i) {
        if (!same_value(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case GgufType::Int8: case GgufType::Int16: case GgufType::Int32: case GgufType::Int64:
      return a.as_int() == b.as_int();
    default: return a.as_uint() == b.as_uint();
  }
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(GgufWriter, StoriesRoundTripsThroughTheReader) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const GgufReader source(path);
  ScratchDir dir;
  const std::string out = dir.file("copy.gguf");
  GgufWriteOptions options;
  options.metadata = source.metadata();
  const uint64_t bytes = write_gguf(source, out, options);
  EXPECT_EQ(bytes, std::filesystem::file_size(out));
  const GgufReader copy(out);
  EXPECT_EQ(copy.version(), 3u);
  ASSERT_EQ(copy.metadata().size(), source.metadata().size());
  for (std::size_t i = 0; i < source.metadata().size(); ++i) {
    EXPECT_EQ(copy.metadata()[i].first, source.metadata()[i].first);
    EXPECT_TRUE(same_value(copy.metadata()[i].second, source.metadata()[i].second)) << source.metadata()[i].first;
  }
  ASSERT_EQ(copy.tensors().size(), source.tensors().size());
  for (std::size_t i = 0; i < source.tensors().size(); ++i) {
    const TensorInfo& t = source.tensors()[i];
    EXPECT_EQ(copy.tensors()[i].name, t.name);
    EXPECT_EQ(copy.tensors()[i].shape, t.shape);
    EXPECT_EQ(copy.tensors()[i].dtype_label, "F32");
    const Tensor a = source.read(t.name), b = copy.read(t.name);
    EXPECT_EQ(std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)), 0) << t.name;
  }
  // llama.cpp's writer lays a GGUF out the same way (metadata, descriptions, tensors in order, each
  // at the next multiple of 32): the copy is the original file, byte for byte.
  EXPECT_TRUE(file_bytes(out) == file_bytes(path));
}

TEST(GgufWriter, F16MatricesF32VectorsAndAlignment) {
  ScratchDir dir;
  const auto model = open_model("synthetic:llm?dim=64&hidden=96&layers=1");
  GgufWriteOptions options;
  options.dtype = DType::F16;
  options.metadata.emplace_back("general.architecture", GgufValue::string("llama"));
  options.metadata.emplace_back("general.alignment", GgufValue::unsigned_integer(GgufType::UInt32, 64));
  options.rename = [](const std::string& name) { return "x." + name; };
  const std::string out = dir.file("f16.gguf");
  write_gguf(*model, out, options);
  const GgufReader back(out);
  EXPECT_EQ(back.alignment(), 64u);
  ASSERT_EQ(back.tensors().size(), model->tensors().size());
  for (const TensorInfo& t : model->tensors()) {
    const Tensor original = model->read(t.name);
    const Tensor read = back.read("x." + t.name);
    EXPECT_EQ(back.ggml_type("x." + t.name), t.shape.size() >= 2 ? 1u : 0u) << t.name;
    ASSERT_EQ(read.values.size(), original.values.size());
    for (std::size_t k = 0; k < read.values.size(); ++k) {
      const float want = t.shape.size() >= 2 ? fp16_to_fp32(fp32_to_fp16(original.values[k])) : original.values[k];
      ASSERT_EQ(read.values[k], want) << t.name << " " << k;
    }
  }
  // (The reader refuses tensor offsets that are not multiples of the file's alignment, so reading
  // every tensor back checks the 64-byte placement too.)
}

// A model that fails on its third read: the writer must leave nothing behind.
class FailingModel : public ModelReader {
 public:
  FailingModel() : inner_(open_model("synthetic:gaussian?rows=8&cols=8")) {
    for (int i = 0; i < 4; ++i) {
      TensorInfo t = inner_->tensors()[0];
      t.name = "t" + std::to_string(i);
      infos_.push_back(t);
    }
  }
  const std::string& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  Tensor read(const std::string& name) const override {
    if (name == "t2") throw Error(path_, name, "read failed on purpose");
    Tensor t = inner_->read("weight");
    t.name = name;
    return t;
  }

 private:
  std::unique_ptr<ModelReader> inner_;
  std::string path_ = "failing-model";
  std::vector<TensorInfo> infos_;
};

TEST(GgufWriter, FailuresLeaveNoFile) {
  ScratchDir dir;
  const std::string out = dir.file("out.gguf");
  FailingModel failing;
  expect_error([&] { write_gguf(failing, out, {}); }, {"failing-model", "t2", "on purpose"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "a temporary or partial file was left";

  const auto model = open_model("synthetic:gaussian?rows=8&cols=8");
  GgufWriteOptions options;
  options.dtype = DType::BF16;
  expect_error([&] { write_gguf(*model, out, options); }, {out, "dtype", "BF16", "F32 or F16"});
  options.dtype = DType::F32;
  options.metadata.emplace_back("general.alignment", GgufValue::unsigned_integer(GgufType::UInt32, 48));
  expect_error([&] { write_gguf(*model, out, options); }, {out, "general.alignment", "power of two"});
  options.metadata.clear();
  options.rename = [](const std::string&) { return std::string("same"); };
  FailingModel four;  // four tensors, all renamed to one name
  expect_error([&] { write_gguf(four, out, options); }, {"t1", "'same'", "already"});
  // F16 cannot hold 1e5.
  const auto big = open_model("synthetic:gaussian?rows=4&cols=4&scale=100000");
  GgufWriteOptions f16;
  f16.dtype = DType::F16;
  expect_error([&] { write_gguf(*big, out, f16); }, {"weight", "does not fit F16"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace sop
