// open_model(): choosing a reader from what the path is.
#include <filesystem>

#include <gtest/gtest.h>

#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/safetensors_reader.h"
#include "quantizer/model_reader.h"
#include "tests/io/io_test_util.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using sop::testing::expect_error;
using sop::testing::GgufBuilder;
using sop::testing::raw_bytes;
using sop::testing::safetensors_bytes;
using sop::testing::ScratchDir;
using sop::testing::write_file;

const char* kOneTensor = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST(OpenModel, DispatchesByContentExtensionAndDirectory) {
  ScratchDir dir;
  const std::vector<float> w = {1, 2};
  write_file(dir.file("a.safetensors"), safetensors_bytes(kOneTensor, raw_bytes(w)));
  write_file(dir.file("no_extension"), safetensors_bytes(kOneTensor, raw_bytes(w)));
  write_file(dir.file("tiny.bin"), GgufBuilder().header(3, 1, 0).tensor("w", {2}, 0, 0).finish(raw_bytes(w)));

  EXPECT_NE(dynamic_cast<const SafetensorsReader*>(open_model(dir.file("a.safetensors")).get()), nullptr);
  EXPECT_NE(dynamic_cast<const SafetensorsReader*>(open_model(dir.file("no_extension")).get()), nullptr);
  EXPECT_NE(dynamic_cast<const GgufReader*>(open_model(dir.file("tiny.bin")).get()), nullptr);  // by magic
  EXPECT_EQ(open_model(dir.file("tiny.bin"))->read("w").values, w);
  EXPECT_EQ(open_model("synthetic:gaussian?rows=3&cols=5")->tensors()[0].shape, (std::vector<int64_t>{3, 5}));

  // A directory holding a single model.safetensors.
  ScratchDir single;
  write_file(single.file("model.safetensors"), safetensors_bytes(kOneTensor, raw_bytes(w)));
  EXPECT_EQ(open_model(single.path())->read("w").values, w);

  // A directory holding one GGUF.
  ScratchDir gguf_dir;
  write_file(gguf_dir.file("m.gguf"), GgufBuilder().header(3, 1, 0).tensor("w", {2}, 0, 0).finish(raw_bytes(w)));
  EXPECT_NE(dynamic_cast<const GgufReader*>(open_model(gguf_dir.path()).get()), nullptr);
}

TEST(OpenModel, RefusesWhatItCannotRead) {
  ScratchDir dir;
  expect_error([&] { open_model(dir.file("missing.safetensors")); }, {"missing.safetensors", "no such file"});
  expect_error([&] { open_model(dir.path()); }, {dir.path(), "0 .safetensors"});
  write_file(dir.file("notes.txt"), "hello, world");
  expect_error([&] { open_model(dir.file("notes.txt")); }, {"notes.txt", "unrecognized checkpoint"});
  write_file(dir.file("bad.gguf"), "GGUX....");
  expect_error([&] { open_model(dir.file("bad.gguf")); }, {"bad.gguf", "magic"});
  write_file(dir.file("x.safetensors"), "");
  write_file(dir.file("y.safetensors"), "");
  expect_error([&] { open_model(dir.path()); }, {"2 .safetensors"});
}

TEST(OpenModel, RealCheckpointsByPath) {
  SOP_REQUIRE_MODEL(gguf, "stories260K.gguf");
  SOP_REQUIRE_MODEL(st, "stories260K.safetensors");
  EXPECT_EQ(open_model(gguf)->tensors().size(), 48u);
  EXPECT_EQ(open_model(st)->tensors().size(), 47u);
  EXPECT_EQ(open_model(gguf)->path(), gguf);
}

}  // namespace
}  // namespace sop
