// End to end: sop quantize -> sop inspect -> sop dequant on the real stories260K checkpoint, reading
// the safetensors back; bad recipes and damaged packs fail cleanly and leave no output.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/llama_names.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "base/half.h"
#include "tests/cli/cli_support.h"

namespace sop {
namespace {

using testing::run_sop;
using testing::ScratchDir;

std::string recipe(const std::string& name) { return std::string(SOP_SOURCE_DIR) + "/configs/quant/" + name + ".yaml"; }

// A shipped recipe with the first `from` replaced by `to`, written to `path`.
void write_edited_recipe(const std::string& name, const std::string& from, const std::string& to,
                         const std::string& path) {
  std::ifstream in(recipe(name));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  std::ofstream(path) << text;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Only the files a test made itself (the captured stdout/stderr are dot files).
std::vector<std::string> visible_files(const ScratchDir& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    if (name.front() != '.') out.push_back(name);
  }
  return out;
}

double sqnr_db(const std::vector<float>& w, const std::vector<float>& q) {
  double signal = 0;
  double noise = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    signal += static_cast<double>(w[i]) * w[i];
    noise += (static_cast<double>(w[i]) - q[i]) * (static_cast<double>(w[i]) - q[i]);
  }
  return 10 * std::log10(signal / noise);
}

// Metadata values equal: type, element type, value (floats by their bits), recursively.
bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.element_type() != b.element_type() || a.items().size() != b.items().size()) return false;
    for (std::size_t i = 0; i < a.items().size(); ++i) {
      if (!same_value(a.items()[i], b.items()[i])) return false;
    }
    return true;
  }
  if (a.is_string()) return a.as_string() == b.as_string();
  if (a.type() == GgufType::Bool) return a.as_bool() == b.as_bool();
  if (a.is_float()) {
    const double x = a.as_float(), y = b.as_float();
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a.to_display() == b.to_display();
}

// GGUF out: a pack quantized from the safetensors copy (Hugging Face names), written as GGUF with
// stories260K.gguf's metadata, holds exactly the safetensors dequant's weights under llama.cpp's names.
TEST(PackCliGguf, DequantToGgufEqualsTheSafetensorsDequant) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  SOP_REQUIRE_MODEL(gguf_path, "stories260K.gguf");
  ScratchDir dir;
  const std::string pack_path = dir.file("model.sop");
  ASSERT_EQ(run_sop("quantize --model '" + model_path + "' --recipe '" + recipe("sop-4.5") + "' --out '" + pack_path + "'", dir)
                .exit_code, 0);
  ASSERT_EQ(run_sop("dequant '" + pack_path + "' --out '" + dir.file("w.safetensors") + "' -q", dir).exit_code, 0);
  const auto written = run_sop("dequant '" + pack_path + "' --out '" + dir.file("w.gguf") + "' --like '" + gguf_path + "' -q", dir);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  const auto st = open_model(dir.file("w.safetensors"));
  const GgufReader out(dir.file("w.gguf"));
  const GgufReader source(gguf_path);
  // Metadata: the source's, key by key, in order.
  ASSERT_EQ(out.metadata().size(), source.metadata().size());
  for (std::size_t i = 0; i < source.metadata().size(); ++i) {
    EXPECT_EQ(out.metadata()[i].first, source.metadata()[i].first);
    EXPECT_TRUE(same_value(out.metadata()[i].second, source.metadata()[i].second)) << source.metadata()[i].first;
  }
  // Tensors: every safetensors tensor, renamed, bit for bit (the safetensors copy ties the output to
  // the embedding, so there is no output.weight: llama.cpp then uses token_embd).
  ASSERT_EQ(out.tensors().size(), st->tensors().size());
  ASSERT_EQ(st->tensors().size(), 47u);
  for (std::size_t i = 0; i < st->tensors().size(); ++i) {
    const std::string hf = st->tensors()[i].name;
    const std::string name = out.tensors()[i].name;
    EXPECT_EQ(name, llama_cpp_tensor_name(hf));
    EXPECT_EQ(out.tensors()[i].dtype_label, "F32");
    EXPECT_TRUE(same_bits(out.read(name).values, st->read(hf).values)) << name;
  }
  EXPECT_EQ(out.tensors()[0].name, "token_embd.weight");
  // The llama.cpp names are the source GGUF's, with its shapes.
  for (const TensorInfo& t : out.tensors()) {
    bool found = false;
    for (const TensorInfo& s : source.tensors()) found = found || (s.name == t.name && s.shape == t.shape);
    EXPECT_TRUE(found) << t.name;
  }
  // F16: matrices F16 (the F32 weights rounded), norms F32.
  ASSERT_EQ(run_sop("dequant '" + pack_path + "' --out '" + dir.file("h.gguf") + "' --like '" + gguf_path + "' --dtype F16 -q", dir)
                .exit_code, 0);
  const GgufReader half(dir.file("h.gguf"));
  EXPECT_EQ(half.ggml_type("blk.0.attn_q.weight"), 1u);
  EXPECT_EQ(half.ggml_type("blk.0.attn_norm.weight"), 0u);
  const std::vector<float> q = out.read("blk.0.attn_q.weight").values;
  const std::vector<float> h = half.read("blk.0.attn_q.weight").values;
  for (std::size_t i = 0; i < q.size(); ++i) ASSERT_EQ(h[i], fp16_to_fp32(fp32_to_fp16(q[i]))) << i;

  // --permute-qk: q and k rows in llama.cpp's rotary order (8 heads, 4 KV heads from the metadata),
  // everything else unchanged.
  ASSERT_EQ(run_sop("dequant '" + pack_path + "' --out '" + dir.file("p.gguf") + "' --like '" + gguf_path + "' --permute-qk -q", dir)
                .exit_code, 0);
  const GgufReader permuted(dir.file("p.gguf"));
  for (const TensorInfo& t : out.tensors()) {
    const std::vector<float> plain = out.read(t.name).values;
    const std::vector<float> p = permuted.read(t.name).values;
    const bool q = t.name.find("attn_q") != std::string::npos, k = t.name.find("attn_k") != std::string::npos;
    if (q || k) {
      EXPECT_TRUE(same_bits(p, llama_cpp_rotary_rows(plain, t.shape[0], q ? 8 : 4, t.name))) << t.name;
      EXPECT_FALSE(same_bits(p, plain)) << t.name;
    } else {
      EXPECT_TRUE(same_bits(p, plain)) << t.name;
    }
  }
  // Without --like, a pack from safetensors has no GGUF to take metadata from: an error, no file.
  const auto refused = run_sop("dequant '" + pack_path + "' --out '" + dir.file("none.gguf") + "'", dir);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--like"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("none.gguf")));
  // A --like of another model is refused, naming the tensor whose shape differs.
  const std::string other = dir.file("other.gguf");
  ASSERT_EQ(run_sop("quantize --model 'synthetic:llm?dim=32&hidden=64&layers=1' --recipe '" + recipe("e2m3-ue4m4") +
                        "' --out '" + dir.file("small.sop") + "'", dir).exit_code, 0);
  const auto mismatched = run_sop("dequant '" + dir.file("small.sop") + "' --out '" + other + "' --like '" + gguf_path + "'", dir);
  EXPECT_EQ(mismatched.exit_code, 1);
  EXPECT_NE(mismatched.err.find("blk.0.attn_q.weight"), std::string::npos) << mismatched.err;
  EXPECT_FALSE(std::filesystem::exists(other));
}

// A pack quantized from a GGUF takes that GGUF's metadata without --like, and keeps its names.
TEST(PackCliGguf, GgufSourceNeedsNoLike) {
  SOP_REQUIRE_MODEL(gguf_path, "stories260K.gguf");
  ScratchDir dir;
  const std::string pack_path = dir.file("model.sop");
  ASSERT_EQ(run_sop("quantize --model '" + gguf_path + "' --recipe '" + recipe("sop-4.5") + "' --out '" + pack_path + "'", dir)
                .exit_code, 0);
  ASSERT_EQ(run_sop("dequant '" + pack_path + "' --out '" + dir.file("w.safetensors") + "' -q", dir).exit_code, 0);
  const auto r = run_sop("dequant '" + pack_path + "' --out '" + dir.file("w.gguf") + "' -q", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const GgufReader out(dir.file("w.gguf"));
  const GgufReader source(gguf_path);
  const auto st = open_model(dir.file("w.safetensors"));
  EXPECT_EQ(out.metadata().size(), source.metadata().size());
  ASSERT_EQ(out.tensors().size(), 48u);
  // Its q and k are in llama.cpp's order already: --permute-qk is refused.
  const auto refused = run_sop("dequant '" + pack_path + "' --out '" + dir.file("p.gguf") + "' --permute-qk", dir);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--permute-qk"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("p.gguf")));
  for (std::size_t i = 0; i < out.tensors().size(); ++i) {
    EXPECT_EQ(out.tensors()[i].name, source.tensors()[i].name);
    EXPECT_TRUE(same_bits(out.read(out.tensors()[i].name).values, st->read(out.tensors()[i].name).values));
  }
}

class PackCli : public ::testing::TestWithParam<const char*> {};

TEST_P(PackCli, QuantizeInspectDequantRoundTrip) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  ScratchDir dir;
  const std::string pack_path = dir.file("model.sop");
  const std::string out_path = dir.file("model.safetensors");

  const auto q = run_sop("quantize --model '" + model_path + "' --recipe '" + recipe(GetParam()) + "' --out '" +
                             pack_path + "' --threads 2",
                         dir);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_NE(q.out.find("quantized 36 matrices"), std::string::npos) << q.out;
  EXPECT_NE(q.err.find("[quantize "), std::string::npos) << "progress lines on stderr";

  const auto inspect = run_sop("inspect '" + pack_path + "' --recipe", dir);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("checksums OK"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("model.layers.4.mlp.down_proj.weight"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("kept in FP32: model.norm.weight"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("; stored: layer data "), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("format 3.0, checksums OK"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find(std::string("name: ") + GetParam()), std::string::npos) << "the embedded recipe";

  const auto dq = run_sop("dequant '" + pack_path + "' --out '" + out_path + "' -q", dir);
  ASSERT_EQ(dq.exit_code, 0) << dq.err;

  // Read back: the same tensors in the same order; norms exact; matrices equal to the golden decode of
  // the pack bit for bit and close to the original weights.
  const auto original = open_model(model_path);
  const auto restored = open_model(out_path);
  const PackFile pack = PackFile::open(pack_path);
  ASSERT_EQ(restored->tensors().size(), original->tensors().size());
  std::size_t layer = 0;
  for (std::size_t i = 0; i < original->tensors().size(); ++i) {
    const TensorInfo& info = original->tensors()[i];
    ASSERT_EQ(restored->tensors()[i].name, info.name);
    EXPECT_EQ(restored->tensors()[i].shape, info.shape) << info.name;
    EXPECT_EQ(restored->tensors()[i].dtype, DType::F32) << info.name;
    const Tensor w = original->read(info.name);
    const Tensor r = restored->read(info.name);
    if (!info.is_matrix()) {
      EXPECT_TRUE(same_bits(w.values, r.values)) << info.name;
      continue;
    }
    ASSERT_LT(layer, pack.layers().size());
    ASSERT_EQ(pack.layers()[layer].name, info.name);
    EXPECT_TRUE(same_bits(dequantize_layer(pack.layers()[layer]), r.values)) << info.name;
    ++layer;
    EXPECT_GT(sqnr_db(w.values, r.values), 15.0) << info.name;
  }
  EXPECT_EQ(layer, 36u);
}

INSTANTIATE_TEST_SUITE_P(Recipes, PackCli, ::testing::Values("e2m3-ue4m4", "sop-4.5"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(PackCliBudget, ReportedBitsStayWithinTheBudget) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  ScratchDir dir;
  const auto q = run_sop("quantize --model '" + model_path + "' --recipe '" + recipe("sop-5.0") + "' --out '" +
                             dir.file("m.sop") + "' -q",
                         dir);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const PackFile pack = PackFile::open(dir.file("m.sop"));
  double bits = 0;
  double weights = 0;
  for (const auto& l : pack.layers()) {
    bits += l.choice.bits;
    weights += static_cast<double>(l.rows * l.cols);
  }
  EXPECT_LE(bits / weights, 5.0 + 1e-9);
  EXPECT_GT(bits / weights, 4.5);  // the budget is used, not wasted
}

TEST(PackCliDequant, NarrowTypesRoundTheGoldenDecode) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  ScratchDir dir;
  const std::string pack_path = dir.file("m.sop");
  ASSERT_EQ(run_sop("quantize --model '" + model_path + "' --recipe '" + recipe("e2m3-ue4m4") + "' --out '" +
                        pack_path + "' -q",
                    dir)
                .exit_code,
            0);
  for (const char* dtype : {"F16", "BF16"}) {
    const std::string out = dir.file(std::string("m-") + dtype + ".safetensors");
    const auto dq = run_sop("dequant '" + pack_path + "' --out '" + out + "' --dtype " + dtype + " -q", dir);
    ASSERT_EQ(dq.exit_code, 0) << dq.err;
    const auto restored = open_model(out);
    const PackFile pack = PackFile::open(pack_path);
    const PackedLayerView& l = pack.layers().front();
    EXPECT_EQ(restored->tensors().front().dtype_label, dtype);
    const std::vector<float> exact = dequantize_layer(l);
    const std::vector<float> narrow = restored->read(l.name).values;
    ASSERT_EQ(exact.size(), narrow.size());
    for (std::size_t i = 0; i < exact.size(); ++i) {
      const float expected = std::string(dtype) == "F16" ? fp16_to_fp32(fp32_to_fp16(exact[i]))
                                                         : bf16_to_fp32(fp32_to_bf16(exact[i]));
      ASSERT_EQ(narrow[i], expected) << dtype << " weight " << i;
    }
  }
}

TEST(PackCliErrors, BadRecipeKeyNamesFileAndKeyAndWritesNothing) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  ScratchDir dir;
  const std::string bad = dir.file("bad.yaml");
  write_edited_recipe("sop-4.5", "scale_steps:", "scale_stepz:", bad);
  const auto q = run_sop("quantize --model '" + model_path + "' --recipe '" + bad + "' --out '" + dir.file("x.sop") + "'", dir);
  EXPECT_NE(q.exit_code, 0);
  EXPECT_NE(q.err.find(bad), std::string::npos) << q.err;
  EXPECT_NE(q.err.find("scale_stepz"), std::string::npos) << q.err;
  EXPECT_NE(q.err.find("unknown key"), std::string::npos) << q.err;
  EXPECT_EQ(visible_files(dir), std::vector<std::string>{"bad.yaml"});
}

// Issue 16: statistics of the wrong length were silently ignored, and a value above FLT_MAX became
// +Inf and crashed the search leaving OUT.partial-* behind. Both are refused, naming the statistics
// file and the tensor, before any output exists.
TEST(PackCliErrors, BadActivationStatisticsNameFileAndTensorAndWriteNothing) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  ScratchDir dir;
  const std::string with_stats = dir.file("with-stats.yaml");
  write_edited_recipe("e2m3-ue4m4", "activation_stats: null", "activation_stats: stats.json", with_stats);
  const std::string stats = dir.file("stats.json");
  const std::string tensor = "model.layers.0.self_attn.q_proj.weight";
  const std::pair<std::string, std::string> cases[] = {
      {"[1, 2, 3]", "has 3 values but the model's matrix has 64 input channels"},
      {"[1e39]", "at most FLT_MAX"},
  };
  for (const auto& [values, needle] : cases) {
    std::ofstream(stats) << R"({"format": "sop-activation-stats", "version": 1, "tensors": {")" + tensor + "\": " + values + "}}";
    const auto q = run_sop("quantize --model '" + model_path + "' --recipe '" + with_stats + "' --out '" +
                               dir.file("x.sop") + "'",
                           dir);
    EXPECT_EQ(q.exit_code, 1);
    EXPECT_NE(q.err.find(stats), std::string::npos) << q.err;
    EXPECT_NE(q.err.find(tensor), std::string::npos) << q.err;
    EXPECT_NE(q.err.find(needle), std::string::npos) << q.err;
    std::vector<std::string> files = visible_files(dir);
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files, (std::vector<std::string>{"stats.json", "with-stats.yaml"})) << values;
  }
}

TEST(PackCliErrors, DamagedPackIsRefusedByInspectAndDequant) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  ScratchDir dir;
  const std::string pack_path = dir.file("m.sop");
  ASSERT_EQ(run_sop("quantize --model '" + model_path + "' --recipe '" + recipe("e2m3-ue4m4") + "' --out '" +
                        pack_path + "' -q",
                    dir)
                .exit_code,
            0);
  std::vector<char> bytes;
  {
    std::ifstream in(pack_path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  std::ofstream(pack_path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const auto inspect = run_sop("inspect '" + pack_path + "'", dir);
  EXPECT_EQ(inspect.exit_code, 1);
  EXPECT_NE(inspect.err.find(pack_path), std::string::npos) << inspect.err;
  EXPECT_NE(inspect.err.find("checksum mismatch"), std::string::npos) << inspect.err;

  const auto dq = run_sop("dequant '" + pack_path + "' --out '" + dir.file("w.safetensors") + "'", dir);
  EXPECT_EQ(dq.exit_code, 1);
  EXPECT_NE(dq.err.find("checksum mismatch"), std::string::npos) << dq.err;
  EXPECT_EQ(visible_files(dir), std::vector<std::string>{"m.sop"});

  // Truncated (the flipped byte restored first): the message says so.
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  bytes.resize(bytes.size() * 2 / 3);
  std::ofstream(pack_path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const auto cut = run_sop("inspect '" + pack_path + "'", dir);
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_NE(cut.err.find("truncated"), std::string::npos) << cut.err;
}

TEST(PackCliHelp, EveryCommandHasHelp) {
  ScratchDir dir;
  for (const char* command : {"quantize", "inspect", "dequant"}) {
    const auto r = run_sop(std::string(command) + " --help", dir);
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.out.find("usage: sop " + std::string(command)), std::string::npos) << r.out;
  }
  const auto missing = run_sop("quantize --recipe x.yaml", dir);
  EXPECT_EQ(missing.exit_code, 2);
}


// sop codebook-gen writes its C++ source through base/atomic_file (issue 16: it wrote in place, so a
// killed or failed run left a truncated generated_codebooks.cc for the next build). The target is
// replaced by a rename: a hard link to the old file keeps the old text, which a write in place would
// have overwritten; no temporary is left; an unwritable folder is an error naming the file.
TEST(CodebookGenCli, TheSourceIsReplacedByARenameNotWrittenInPlace) {
  ScratchDir dir;
  const std::string out = dir.file("generated_codebooks.cc"), link = dir.file("old.cc");
  std::ofstream(out) << "// the old source\n";
  std::filesystem::create_hard_link(out, link);
  const auto r = run_sop("codebook-gen --sample-blocks 2000 --out " + out, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(testing::read_text(out).find("sop codebook-gen"), std::string::npos);
  EXPECT_EQ(testing::read_text(link), "// the old source\n");
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
    ++entries;
  }
  EXPECT_GE(entries, 2u);
  const std::string missing = dir.file("no/such/folder/generated_codebooks.cc");
  const auto bad = run_sop("codebook-gen --sample-blocks 2000 --out " + missing, dir);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find(missing), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(missing));
}

// Issue 16: --max-memory, a budget for one tensor's FP32 copy, on the commands that read checkpoints:
// over it, sop quantize and sop eval exit 1 naming the checkpoint, the tensor and the limit, and write
// nothing; a malformed size is a usage error.
// calibrate and generate hold the whole model, so their budget is the model's FP32 size (the
// tiny model: 7 matrices and norms, 73,856 FP32 values); bench and demo read one tensor at a time.
TEST(MaxMemoryCli, EveryCommandThatReadsACheckpointTakesTheBudget) {
  SOP_REQUIRE_MODEL(stories, "stories260K.safetensors");
  ScratchDir dir;
  const std::string model = "'synthetic:llm?layers=1&dim=64&hidden=128'";
  const std::string stats = dir.file("stats.json");
  // stories260K: 260,032 values, 1,040,128 bytes as FP32 (its tensor list), just above 1000K.
  const auto calibrate = run_sop("calibrate --model " + stories + " --out " + stats + " --sequences 1 --tokens 4 --max-memory 1000K", dir);
  EXPECT_EQ(calibrate.exit_code, 1) << calibrate.err;
  EXPECT_NE(calibrate.err.find(stories + ": --max-memory: sop calibrate holds every tensor as FP32"), std::string::npos)
      << calibrate.err;
  EXPECT_NE(calibrate.err.find("the model's 47 tensors need 1040128 bytes, more than the memory budget of 1024000 bytes"), std::string::npos) << calibrate.err;
  EXPECT_FALSE(std::filesystem::exists(stats));
  const auto calibrated = run_sop("calibrate --model " + stories + " --out " + stats + " --sequences 1 --tokens 4 --max-memory 2M", dir);
  EXPECT_EQ(calibrated.exit_code, 0) << calibrated.err;
  EXPECT_TRUE(std::filesystem::exists(stats));
  const auto generate = run_sop("generate --model " + stories + " --tokens 2 --max-memory 1000K", dir);
  EXPECT_EQ(generate.exit_code, 1) << generate.err;
  EXPECT_NE(generate.err.find("sop generate holds every tensor as FP32"), std::string::npos) << generate.err;
  const auto bench = run_sop("bench --rows 64 --cols 64 --repeat 1 --format E2M3sUE4M4 --max-memory 8K", dir);
  EXPECT_EQ(bench.exit_code, 1) << bench.err;
  EXPECT_NE(bench.err.find("more than the memory budget of 8192 bytes (--max-memory)"), std::string::npos) << bench.err;
  const auto demo = run_sop("demo --model " + model + " --out " + dir.file("demo") + " --quick --max-memory 8K", dir);
  EXPECT_EQ(demo.exit_code, 1) << demo.err;
  EXPECT_NE(demo.err.find("more than the memory budget of 8192 bytes (--max-memory)"), std::string::npos) << demo.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("demo")));
  const auto bad = run_sop("bench --rows 64 --cols 64 --max-memory 1X", dir);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST(MaxMemoryCli, ATensorOverTheBudgetIsRefusedNamingItAndNothingIsWritten) {
  ScratchDir dir;
  const std::string model = "'synthetic:llm?layers=1&dim=64&hidden=128'";
  const std::string out = dir.file("m.sop"), json = dir.file("eval.json");
  const auto q = run_sop("quantize --model " + model + " --recipe " + recipe("e2m3-ue4m4") + " --out " + out +
                             " --max-memory 16K",
                         dir);
  EXPECT_EQ(q.exit_code, 1) << q.err;
  EXPECT_NE(q.err.find("synthetic:llm?layers=1&dim=64&hidden=128: "), std::string::npos) << q.err;
  EXPECT_NE(q.err.find("more than the memory budget of 16384 bytes (--max-memory)"), std::string::npos) << q.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  const auto e = run_sop("eval --model " + model + " --json " + json + " --max-memory 16K", dir);
  EXPECT_EQ(e.exit_code, 1) << e.err;
  EXPECT_NE(e.err.find("more than the memory budget of 16384 bytes"), std::string::npos) << e.err;
  EXPECT_FALSE(std::filesystem::exists(json));
  const auto bad = run_sop("quantize --model " + model + " --recipe " + recipe("e2m3-ue4m4") + " --out " + out +
                               " --max-memory 16Q",
                           dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--max-memory: '16Q' is not a memory size"), std::string::npos) << bad.err;
  // A budget that holds every tensor changes nothing.
  const auto fits = run_sop("quantize --model " + model + " --recipe " + recipe("e2m3-ue4m4") + " --out " + out +
                                " --max-memory 1G",
                            dir);
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_TRUE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace sop
