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

// Issue 16: a memory budget for tensor bytes (--max-memory). A tensor whose FP32 copy needs more is
// refused naming the file, the tensor and the limit, before anything is allocated; smaller ones and the
// tensor list are the inner reader's.
TEST(MemoryBudget, ATensorOverTheBudgetIsRefusedBeforeItIsRead) {
  ScratchDir dir;
  // A 16 x 64 F32 tensor (4 KiB as FP32) and a 2 x 4 one.
  const std::string path = dir.file("m.safetensors");
  write_file(path, safetensors_bytes(R"({"big.weight": {"dtype": "F32", "shape": [16, 64], "data_offsets": [0, 4096]},
 "small.weight": {"dtype": "F32", "shape": [2, 4], "data_offsets": [4096, 4128]}})",
                                     std::string(4128, '\0')));
  const auto reader = with_memory_budget(open_model(path), 1024);
  EXPECT_EQ(reader->path(), path);
  EXPECT_EQ(reader->tensors().size(), 2u);
  EXPECT_EQ(reader->read("small.weight").values.size(), 8u);
  expect_error([&] { reader->read("big.weight"); },
               {path + ": big.weight: needs 1024 FP32 values (4096 bytes) in memory, more than the memory budget of 1024 "
                       "bytes (--max-memory)"});
  // Exactly the budget is allowed.
  EXPECT_EQ(with_memory_budget(open_model(path), 4096)->read("big.weight").values.size(), 1024u);
  // An 8 GiB tensor of a synthetic model is refused by its shape alone, in no time and no memory.
  const auto huge = with_memory_budget(open_model("synthetic:gaussian?rows=65536&cols=32768"), uint64_t{1} << 30);
  expect_error([&] { huge->read(huge->tensors().front().name); },
               {"synthetic:gaussian", "needs 2147483648 FP32 values (8192.0 MiB)", "more than the memory budget of 1024.0 MiB"});
}

TEST(MemoryBudget, SizesAreBytesOrBinaryUnits) {
  EXPECT_EQ(parse_memory_size("4096"), 4096u);
  EXPECT_EQ(parse_memory_size("64K"), 64u << 10);
  EXPECT_EQ(parse_memory_size("512M"), 512u << 20);
  EXPECT_EQ(parse_memory_size("8G"), uint64_t{8} << 30);
  EXPECT_EQ(parse_memory_size("2TiB"), uint64_t{2} << 40);
  for (const char* bad : {"", "0", "G", "8g", "1.5G", "-1", "99999999999999999999", "20000000T", "8GB"}) {
    EXPECT_THROW(parse_memory_size(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace sop
