// The paper's headline, measured on real weights: FP6 E2M3 with a UE4M4 block scale (6.5 bpw) has a
// higher SQNR than FP8 E4M3 with one power-of-two scale per tensor (8.0 bpw), by at least 1.5 dB on
// average over a model's matrices.
#include <gtest/gtest.h>

#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"
#include "tests/test_support.h"

namespace sop {
namespace {

void expect_fp6_beats_fp8(const std::string& path) {
  const auto model = open_model(path);
  const EvalReport report = evaluate_model(*model, {"E2M3sUE4M4", "E4M3-POT"}, {});
  ASSERT_EQ(report.summary.size(), 2u);
  const FormatSummary& fp6 = report.summary[0];
  const FormatSummary& fp8 = report.summary[1];
  EXPECT_GT(fp6.tensors, 0u);
  // bpw with everything counted: 6 + 8/16 plus one FP32 per-tensor factor; 8 plus one exponent byte.
  EXPECT_NEAR(fp6.bpw, 6.5, 0.01);
  EXPECT_NEAR(fp8.bpw, 8.0, 0.01);
  EXPECT_GE(fp6.mean_sqnr_db - fp8.mean_sqnr_db, 1.5)
      << path << ": E2M3sUE4M4 " << fp6.mean_sqnr_db << " dB vs E4M3-POT " << fp8.mean_sqnr_db << " dB";
  // Not only on average: per tensor, too, on these models.
  for (std::size_t i = 0; i + 1 < report.rows.size(); i += 2) {
    EXPECT_GT(report.rows[i].metrics.sqnr_db, report.rows[i + 1].metrics.sqnr_db) << report.rows[i].tensor;
  }
}

TEST(Headline, Fp6BeatsPotFp8OnStories260K) {
  SOP_REQUIRE_MODEL(path, "stories260K.safetensors");
  expect_fp6_beats_fp8(path);
}

TEST(Headline, Fp6BeatsPotFp8OnGpt2Attention) {
  SOP_REQUIRE_MODEL(path, "gpt2_attn_l0-4-8-11.safetensors");
  expect_fp6_beats_fp8(path);
}

}  // namespace
}  // namespace sop
