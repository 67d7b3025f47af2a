// What both synthetic generators share (quantizer/synthetic_spec.h): random sources, the spec parser
// and its errors, the model-shape table. Expected values are worked out independently of the code:
// shapes by hand from the published model sizes, random values from the published splitmix64
// reference and a separate re-implementation of the counter streams.
#include <gtest/gtest.h>

#include "quantizer/synthetic_spec.h"
#include "tests/io/io_test_util.h"

namespace sop {
namespace {

using sop::testing::expect_error;
using synthetic::SpecQuery;

// ---- random sources -------------------------------------------------------------------------------

TEST(SyntheticSpec, Splitmix64MatchesTheReferenceSequence) {
  // Vigna's splitmix64.c seeded with 0 outputs e220a8397b1dcdaf, 6e789e6aa1b965f4, 06c45d188009454f:
  // output i is the finalizer of (i + 1) x the golden gamma, i.e. splitmix64(i x gamma) here.
  const uint64_t gamma = 0x9E3779B97F4A7C15ull;
  EXPECT_EQ(synthetic::splitmix64(0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(synthetic::splitmix64(gamma), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(synthetic::splitmix64(2 * gamma), 0x06c45d188009454full);
  EXPECT_EQ(synthetic::mix_seed(0, 0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(synthetic::mix_seed(0, 2), 0x06c45d188009454full);
}

TEST(SyntheticSpec, CounterStreamsArePinned) {
  // The decode unit's synthetic workload draws codes, scales and residuals from these streams, and
  // `sop simulate --shapes` reports cycles from them: a change here changes published numbers.
  auto first = synthetic::CounterRandom::for_row(1, 0, 0);
  EXPECT_EQ(first.next(), 0x44e5b98100c67fb0ull);
  EXPECT_EQ(first.next(), 0x465391958fc61f13ull);
  EXPECT_EQ(first.next(), 0xfd7a8b00efefa600ull);
  auto other = synthetic::CounterRandom::for_row(7, 3, 5);
  EXPECT_EQ(other.next(), 0x3e68d65746c94985ull);
  EXPECT_EQ(other.next(), 0x6a1bff8362b505c6ull);
  EXPECT_EQ(other.next(), 0xaeda01c90f22411aull);
}

// ---- specs ----------------------------------------------------------------------------------------

TEST(SyntheticSpec, ReadsKindAndTypedKeys) {
  SpecQuery q("synthetic:llm?seed=18446744073709551615&dim=64&&scale=0.5&on=1", "synthetic:");
  EXPECT_EQ(q.kind(), "llm");
  EXPECT_EQ(q.spec(), "synthetic:llm?seed=18446744073709551615&dim=64&&scale=0.5&on=1");
  EXPECT_TRUE(q.has("dim"));
  EXPECT_FALSE(q.has("rows"));
  EXPECT_EQ(q.seed("seed", 1), UINT64_MAX);  // exact, not through a double
  EXPECT_EQ(q.integer("dim", 7, 1, 100), 64);
  EXPECT_EQ(q.integer("rows", 7, 1, 100), 7);  // absent: the fallback
  EXPECT_DOUBLE_EQ(q.real("scale", 1.0, 0.0, 1.0), 0.5);
  EXPECT_TRUE(q.flag("on", false));
  EXPECT_NO_THROW(q.reject_unknown("seed, dim, scale, on"));

  EXPECT_EQ(SpecQuery("llama2-7b").kind(), "llama2-7b");
  EXPECT_EQ(SpecQuery("llama2-7b?layers=1").kind(), "llama2-7b");
  EXPECT_EQ(SpecQuery("gaussian?rows=2", "synthetic:").kind(), "gaussian");  // prefix optional
}

TEST(SyntheticSpec, ErrorsNameTheSpecAndTheKey) {
  expect_error([] { SpecQuery("llama2-7b?layers"); }, {"llama2-7b?layers", "layers", "expected key=value"});
  expect_error([] { SpecQuery("llama2-7b?seed=1&seed=2"); }, {"llama2-7b?seed=1&seed=2", "seed", "given twice"});
  expect_error([] { SpecQuery("k?layers=1.5").integer("layers", 0, 0, 32); },
               {"k?layers=1.5", "layers", "value '1.5' is not an integer"});
  expect_error([] { SpecQuery("k?layers=33").integer("layers", 0, 0, 32); },
               {"k?layers=33", "layers", "value 33 is out of range [0, 32]"});
  expect_error([] { SpecQuery("k?seed=-1").seed("seed", 1); }, {"seed", "not an unsigned 64-bit integer"});
  expect_error([] { SpecQuery("k?sparse=nan").real("sparse", 0, 0, 1); }, {"sparse", "not a finite number"});
  expect_error([] { SpecQuery("k?sparse=2").real("sparse", 0, 0, 1); }, {"sparse", "value 2 is out of range"});
  expect_error([] { SpecQuery("k?values=2").flag("values", true); }, {"values", "out of range [0, 1]"});
  expect_error(
      [] {
        SpecQuery q("k?layers=1&colour=red&size=3");
        q.integer("layers", 0, 0, 32);
        q.reject_unknown("layers, seed");
      },
      {"k?layers=1&colour=red&size=3", "colour", "unknown key (layers, seed)"});
}

// ---- model shapes ---------------------------------------------------------------------------------

TEST(SyntheticSpec, Llama2SevenBShapes) {
  // Llama 2 7B: hidden size 4096, MLP 11008, 32 layers, vocabulary 32000 (the paper, config.json).
  const synthetic::ModelShape& s = synthetic::model_shape("llama2-7b", "test");
  EXPECT_EQ(s.dim, 4096);
  EXPECT_EQ(s.hidden, 11008);
  EXPECT_EQ(s.layers, 32);
  EXPECT_EQ(s.vocab, 32000);
  // Per layer: 4 x 4096 x 4096 = 67,108,864 (q, k, v, o) + 3 x 11008 x 4096 = 135,266,304 (gate, up,
  // down) = 202,375,168, the "weights checked" of one 7B layer in docs/simulate.md.
  EXPECT_EQ(s.weights_per_layer(), 202375168u);
  // Whole model: 32 x 202,375,168 = 6,476,005,376 + lm_head 32000 x 4096 = 131,072,000.
  uint64_t total = 0;
  const auto matrices = synthetic::llama_matrices(s, s.layers, true);
  for (const auto& m : matrices) total += static_cast<uint64_t>(m.rows * m.cols);
  EXPECT_EQ(total, 6607077376u);
  ASSERT_EQ(matrices.size(), 32u * 7 + 1);  // 225 layers of the docs' whole-model pass
  EXPECT_EQ(s.summary(), "dim 4096, hidden 11008, 32 layers");
}

TEST(SyntheticSpec, MatrixNamesAndOrder) {
  const synthetic::ModelShape& small = synthetic::model_shape(synthetic::kLlamaSmall, "test");
  EXPECT_EQ(small.weights_per_layer(), 4u * 256 * 256 + 3u * 688 * 256);  // 790,528
  const auto m = synthetic::llama_matrices(small, 2, false);
  ASSERT_EQ(m.size(), 14u);
  const char* expected[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(m[i].name, std::string("model.layers.0.") + expected[i] + ".weight");
    EXPECT_EQ(m[7 + i].name, std::string("model.layers.1.") + expected[i] + ".weight");
  }
  EXPECT_EQ(m[0].rows, 256);
  EXPECT_EQ(m[4].rows, 688);  // gate [hidden, dim]
  EXPECT_EQ(m[4].cols, 256);
  EXPECT_EQ(m[6].rows, 256);  // down [dim, hidden]
  EXPECT_EQ(m[6].cols, 688);
  const auto seven_b = synthetic::llama_matrices(synthetic::model_shape("llama2-7b", "test"), 1, true);
  EXPECT_EQ(seven_b.back().name, "lm_head.weight");
  EXPECT_EQ(seven_b.back().rows, 32000);
  EXPECT_EQ(seven_b.back().cols, 4096);

  expect_error([&] { synthetic::llama_matrices(small, 1, true); }, {"lm_head", "no output head"});
  expect_error([] { synthetic::model_shape("gpt", "gpt?layers=1"); },
               {"gpt?layers=1", "unknown shape list 'gpt'", "llama2-7b", "llama-small"});
}

}  // namespace
}  // namespace sop
