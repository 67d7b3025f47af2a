// Block-scaled and power-of-two formats on small matrices whose results were worked out by hand.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "quantizer/block_fp.h"
#include "base/error.h"
#include "quantizer/metrics.h"
#include "quantizer/weight_format.h"

namespace sop {
namespace {

Tensor matrix(std::vector<float> values, int64_t rows, int64_t cols) {
  Tensor t;
  t.name = "test.weight";
  t.shape = {rows, cols};
  t.values = std::move(values);
  return t;
}

TEST(BlockScaled, E2M3WithE8M0ScaleByHand) {
  // Block 1: amax 3, ideal scale 3/7.5 = 0.4, nearest power of two 0.5. Candidates 0.125..2:
  //   s=0.5 -> 6, 3, -1.5, 0.6->0.625 (5/8): error (0.3-0.3125)^2 = 1.5625e-4
  //   s=1   -> 3, 1.5, -0.75, 0.3->0.25:     error 0.0025
  //   s=0.25 saturates 12 -> 7.5. So s = 0.5 and the block becomes 3, 1.5, -0.75, 0.3125.
  // Block 2 is all zeros.
  const Tensor w = matrix({3.0f, 1.5f, -0.75f, 0.3f, 0, 0, 0, 0}, 1, 8);
  const auto f = make_weight_format("E2M3sE8M0@g4");
  const QuantResult q = f->quantize(w, {});
  const std::vector<float> expected = {3.0f, 1.5f, -0.75f, 0.3125f, 0, 0, 0, 0};
  EXPECT_EQ(q.dequant, expected);
  EXPECT_EQ(q.total_bits, 8 * 6 + 2 * 8);  // no per-tensor factor for E8M0
}

TEST(BlockScaled, UE4M4CountsTheTensorFactorAndHitsTheBlockMax) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> v(64 * 64);
  for (float& x : v) x = g(rng);
  const Tensor w = matrix(v, 64, 64);
  const QuantResult q = make_weight_format("E2M3sUE4M4")->quantize(w, {});
  EXPECT_DOUBLE_EQ(q.total_bits, 64.0 * 64 * 6 + 64.0 * 4 * 8 + 32);
  // A block's largest element sits at the top of the element range (7.5 x scale) within the scale
  // format's 1/16-octave rounding, so its relative error is at most about 2^-5.
  for (int b = 0; b < 64 * 4; ++b) {
    int arg = b * 16;
    for (int i = b * 16; i < b * 16 + 16; ++i) {
      if (std::fabs(v[i]) > std::fabs(v[arg])) arg = i;
    }
    EXPECT_NEAR(q.dequant[arg], v[arg], std::fabs(v[arg]) * 0.035f) << "block " << b;
  }
  // Gaussian at 3 mantissa bits with a block scale: SQNR lands in the high 20s dB.
  const ErrorMetrics m = compute_metrics(v, q.dequant, 64, {});
  EXPECT_GT(m.sqnr_db, 25.0);
  EXPECT_LT(m.sqnr_db, 35.0);
}

TEST(BlockScaled, PartialLastBlockIsQuantizedAndCounted) {
  const Tensor w = matrix({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1, 10);
  const QuantResult q = make_weight_format("INT8sFP16@g4")->quantize(w, {});
  EXPECT_EQ(q.total_bits, 10 * 8 + 3 * 16);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(q.dequant[i], float(i + 1), 0.05f);
}

TEST(PowerOfTwo, E4M3ByHand) {
  // amax 448 fits with 2^0; 0.3 lies in [0.25, 0.5) where E4M3 steps by 1/32: 9.6 -> 10 -> 0.3125.
  // 2^1 would turn 0.3 into 0.15 -> step 1/64: 9.6 -> 10 -> 0.3125 as well, but its first candidate
  // (2^0) is kept on a tie; 2^-1 and 2^-2 saturate 448.
  const Tensor w = matrix({448.0f, 0.3f, -1.0f, 0.0f}, 1, 4);
  const QuantResult q = make_weight_format("E4M3-POT")->quantize(w, {});
  const std::vector<float> expected = {448.0f, 0.3125f, -1.0f, 0.0f};
  EXPECT_EQ(q.dequant, expected);
  EXPECT_EQ(q.total_bits, 4 * 8 + 8);
}

TEST(WeightFormats, NamesParseAndUnknownNamesFailClearly) {
  EXPECT_EQ(make_weight_format("E2M3sUE4M4")->name(), "E2M3sUE4M4");
  EXPECT_EQ(make_weight_format("E2M3sUE4M4@g32")->name(), "E2M3sUE4M4@g32");
  try {
    make_weight_format("E2M3sXYZ");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("E2M3sXYZ"), std::string::npos);
  }
  EXPECT_THROW(make_weight_format("E2M3sUE4M4@g0"), Error);
  EXPECT_THROW(make_weight_format("E2M3sUE4M4@g99999"), Error);
}

TEST(WeightFormats, NaNWeightsAreRefusedWithTheTensorName) {
  const Tensor w = matrix({1.0f, NAN, 2.0f, 3.0f}, 1, 4);
  for (const char* name : {"E2M3sUE4M4", "E4M3-POT"}) {
    try {
      make_weight_format(name)->quantize(w, {});
      FAIL() << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("test.weight"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("element 1"), std::string::npos) << e.what();
    }
  }
}

TEST(Metrics, HandComputed) {
  const std::vector<float> w = {1, 2, 3, 4};
  const std::vector<float> q = {1, 2, 3, 3};
  const ErrorMetrics m = compute_metrics(w, q, 2, {});
  EXPECT_DOUBLE_EQ(m.rel_mse, 1.0 / 30.0);
  EXPECT_NEAR(m.sqnr_db, 10 * std::log10(30.0), 1e-12);
  EXPECT_NEAR(m.cosine, 26.0 / std::sqrt(30.0 * 23.0), 1e-12);
  EXPECT_DOUBLE_EQ(m.max_abs_error, 1.0);
  // Importance 0 on column 1 hides the error completely in the weighted metrics.
  const std::vector<float> imp = {1.0f, 0.0f};
  const ErrorMetrics mw = compute_metrics(w, q, 2, imp);
  EXPECT_DOUBLE_EQ(mw.weighted_sq_error, 0.0);
  EXPECT_DOUBLE_EQ(mw.acos, 1.0);
}

}  // namespace
}  // namespace sop
