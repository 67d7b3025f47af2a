// The reference forward pass on the real stories260K weights: greedy decoding from BOS must tell the
// story the model was trained to tell (PROVENANCE.md), from the GGUF and from the safetensors copy.
#include <gtest/gtest.h>

#include "quantizer/calibrate/downstream.h"
#include "quantizer/calibrate/llama.h"
#include "quantizer/calibrate/vocabulary.h"
#include "quantizer/model_reader.h"
#include "quantizer/weight_format.h"
#include "tests/test_support.h"

namespace sop {
namespace {

const char* const kStory = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park";

std::string greedy_text(const LlamaModel& model, const Vocabulary& vocab, int tokens) {
  TextSampling greedy;
  greedy.sequences = 1;
  greedy.tokens = tokens;
  greedy.temperature = 0;
  greedy.bos = vocab.bos();
  return vocab.decode(sample_sequences(model, greedy).front());
}

TEST(LlamaForward, Stories260KGgufTellsTheStory) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto reader = open_model(path);
  const LlamaModel model(*reader);
  EXPECT_EQ(model.shape().heads, 8);
  EXPECT_EQ(model.shape().kv_heads, 4);
  const std::string text = greedy_text(model, Vocabulary::from_model(*reader), 40);
  EXPECT_EQ(text.rfind(kStory, 0), 0u) << text;
}

TEST(LlamaForward, Stories260KSafetensorsTellsTheSameStory) {
  SOP_REQUIRE_MODEL(st_path, "stories260K.safetensors");
  SOP_REQUIRE_MODEL(gguf_path, "stories260K.gguf");
  const auto reader = open_model(st_path);
  const LlamaModel model(*reader);  // heads from the safetensors metadata (nh, nkv)
  const std::string text = greedy_text(model, Vocabulary::from_model(*open_model(gguf_path)), 40);
  EXPECT_EQ(text.rfind(kStory, 0), 0u) << text;
}

TEST(LlamaForward, ActivationStatsCoverEveryMatmulAndAreMeanSquares) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto reader = open_model(path);
  const LlamaModel model(*reader);
  TextSampling sampling;
  sampling.sequences = 2;
  sampling.tokens = 16;
  const auto sequences = sample_sequences(model, sampling);
  const ActivationStats stats = collect_activation_stats(model, sequences);
  for (const std::string& name : model.matmul_names()) {
    const auto* v = stats.find(name);
    ASSERT_NE(v, nullptr) << name;
    // One value per input channel of the matrix.
    int64_t cols = 0;
    for (const TensorInfo& t : reader->tensors()) {
      if (t.name == name) cols = t.shape.at(1);
    }
    EXPECT_EQ(static_cast<int64_t>(v->size()), cols) << name;
    for (float x : *v) ASSERT_GE(x, 0.0f) << name;
  }
  // The q, k and v projections read the same normalized input: identical statistics.
  const auto& l0 = model.names().layers[0];
  EXPECT_EQ(*stats.find(l0.q), *stats.find(l0.k));
  EXPECT_EQ(*stats.find(l0.q), *stats.find(l0.v));
  // A hand-computed mean square over the same inputs, observed directly, agrees.
  std::vector<double> sum(static_cast<std::size_t>(model.shape().hidden), 0.0);
  int64_t count = 0;
  for (const auto& seq : sequences) {
    LlamaModel::Session session(model);
    for (std::size_t t = 0; t + 1 < seq.size(); ++t) {
      session.forward(seq[t], [&](const std::string& m, Span<const float> x) {
        if (m != l0.down) return;
        for (std::size_t j = 0; j < x.size(); ++j) sum[j] += double(x[j]) * x[j];
        ++count;
      });
    }
  }
  EXPECT_EQ(count, 2 * 16);
  const auto& down = *stats.find(l0.down);
  for (std::size_t j = 0; j < sum.size(); ++j) EXPECT_FLOAT_EQ(down[j], static_cast<float>(sum[j] / static_cast<double>(count))) << j;
}

TEST(LlamaForward, QuantizationMovesTheOutputsInOrderOfPrecision) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto reader = open_model(path);
  const LlamaModel reference(*reader);
  TextSampling sampling;
  sampling.sequences = 2;
  sampling.tokens = 48;
  const auto sequences = sample_sequences(reference, sampling);
  auto kl_of = [&](const std::string& format) {
    LlamaModel q(*reader);
    const auto f = make_weight_format(format);
    for (const std::string& name : q.matmul_names()) q.set_matrix(name, f->quantize(reader->read(name), {}).dequant);
    return compare_models(reference, q, sequences);
  };
  const DownstreamMetrics same = compare_models(reference, reference, sequences);
  EXPECT_NEAR(same.kl_divergence, 0.0, 1e-12);
  EXPECT_EQ(same.top1_agreement, 1.0);
  const DownstreamMetrics fp6 = kl_of("E2M3sUE4M4");
  const DownstreamMetrics fp4 = kl_of("E2M1sUE4M4");
  EXPECT_GT(fp6.kl_divergence, 0.0);
  EXPECT_LT(fp6.kl_divergence, fp4.kl_divergence);
  EXPECT_GT(fp6.top1_agreement, 0.9);
}

}  // namespace
}  // namespace sop
