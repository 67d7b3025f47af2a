// Codebooks and the weighted Lloyd fit behind them.
#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "model/golden/decode.h"
#include "quantizer/codebooks/codebook_gen.h"
#include "quantizer/codebooks/codebooks.h"
#include "quantizer/codebooks/lloyd.h"

namespace sop {
namespace {

TEST(SopLloyd, UniformDistributionGivesCellMidpoints) {
  // For a uniform density on [0, 1], the k-level Lloyd optimum is (2i + 1) / (2k).
  WeightedPoints p;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    p.value.push_back((i + 0.5) / n);
    p.weight.push_back(1.0);
  }
  const auto c = weighted_lloyd_1d(p, weighted_quantile_centroids(p, 4), {});
  ASSERT_EQ(c.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(c[static_cast<std::size_t>(i)], (2 * i + 1) / 8.0, 1e-4);
}

TEST(SopLloyd, GaussianTwoLevelsAreConditionalMeans) {
  // Two levels for N(0, 1): +-E[|x|] = +-sqrt(2 / pi).
  WeightedHistogram h(-6, 6, 1 << 14);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (int i = 0; i < 400000; ++i) h.add(normal(rng), 1.0);
  const auto c = weighted_lloyd_1d(h.points(), {-0.1, 0.1}, {});
  EXPECT_NEAR(c[0], -std::sqrt(2 / M_PI), 5e-3);
  EXPECT_NEAR(c[1], std::sqrt(2 / M_PI), 5e-3);
}

TEST(SopLloyd, WeightsPullCentroidsAndPinnedStay) {
  // Points 0 (weight 1) and 1 (weight 3) in one cell: centroid at the weighted mean 0.75.
  WeightedPoints p{{0.0, 1.0, 10.0}, {1.0, 3.0, 1.0}};
  const auto c = weighted_lloyd_1d(p, {0.5, 10.0}, {false, true});
  EXPECT_NEAR(c[0], 0.75, 1e-12);
  EXPECT_EQ(c[1], 10.0);
}

TEST(SopCodebooks, FixedTablesMatchTheirDefinitions) {
  const auto nf4 = fixed_codebook("NF4").values;
  ASSERT_EQ(nf4.size(), 16u);
  EXPECT_EQ(nf4.front(), -1.0f);
  EXPECT_EQ(nf4[7], 0.0f);
  EXPECT_FLOAT_EQ(nf4[8], 0.07958029955625534f);
  const auto split = fixed_codebook("Split87").values;
  EXPECT_EQ(split.front(), -7.0f / 8);
  EXPECT_EQ(split.back(), 1.0f);
  EXPECT_EQ(split[7], 0.0f);
  const auto e2m1 = fixed_codebook("E2M1").values;
  ASSERT_EQ(e2m1.size(), 16u);
  EXPECT_EQ(e2m1[7], 6.0f);
  EXPECT_EQ(e2m1[15], -6.0f);
  EXPECT_EQ(fixed_codebook("E2M3").values.size(), 64u);
  EXPECT_EQ(fixed_codebook("E3M2").values[31], 28.0f);
  // SH4 lies between uniform and NF4-like spacing: its smallest positive step is below Split87's.
  const auto sh4 = fixed_codebook("SH4").values;
  EXPECT_GT(sh4_shape(), 0.1);
  EXPECT_LT(sh4[8], split[8]);
  EXPECT_EQ(sh4.back(), 1.0f);
}

TEST(SopCodebooks, SplitAndAtomsAreExactInHif) {
  golden::DecodeConfig cfg;
  for (const char* name : {"Split87", "E2M1", "E2M3", "E3M2"}) {
    for (float v : fixed_codebook(name).values) {
      EXPECT_EQ(golden::hif_decode(cfg.hif, golden::hif_encode(cfg.hif, v)), v) << name;
    }
  }
}

TEST(SopCodebooks, StoredBof4TablesAreReproducible) {
  // Regenerating with fewer samples lands close to the stored tables.
  for (const bool signed_max : {false, true}) {
    for (const int block : {16, 64}) {
      const auto samples = normalized_block_samples(BlockDistribution::Gaussian, block, signed_max, 60000,
                                                    1234 + static_cast<uint64_t>(block));
      const auto fresh = fit_bof4(samples, signed_max);
      const auto stored = fixed_codebook(signed_max ? "BOF4-S" : "BOF4", block).values;
      for (std::size_t k = 0; k < 16; ++k) EXPECT_NEAR(fresh[k], stored[k], 0.012) << block << " " << k;
    }
  }
}

TEST(SopCodebooks, Bof4SBeatsNf4OnSignedMaxGaussianBlocks) {
  const auto samples = normalized_block_samples(BlockDistribution::Gaussian, 64, true, 20000, 99);
  auto sorted = [](std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return std::vector<double>(v.begin(), v.end());
  };
  const double bof4s = weighted_quantization_error(samples, sorted(fixed_codebook("BOF4-S", 64).values));
  const double nf4 = weighted_quantization_error(samples, sorted(fixed_codebook("NF4").values));
  EXPECT_LT(bof4s, nf4);
}

}  // namespace
}  // namespace sop
