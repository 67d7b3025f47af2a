// The synthetic model generator: seeding, shapes, statistics of each distribution, spec errors.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "base/half.h"
#include "quantizer/model_reader.h"
#include "quantizer/synthetic.h"
#include "tests/io/io_test_util.h"

namespace sop {
namespace {

using sop::testing::expect_error;

struct Moments {
  double mean = 0;
  double variance = 0;
  double excess_kurtosis = 0;
};

Moments moments(const std::vector<float>& v) {
  Moments m;
  for (float x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  double m2 = 0;
  double m4 = 0;
  for (float x : v) {
    const double d = x - m.mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= static_cast<double>(v.size());
  m4 /= static_cast<double>(v.size());
  m.variance = m2;
  m.excess_kurtosis = m4 / (m2 * m2) - 3.0;
  return m;
}

TEST(Synthetic, SameSpecSameValuesInAnyReadOrder) {
  const auto a = open_model("synthetic:llm?seed=7&dim=64&hidden=128&layers=2");
  const auto b = open_model("synthetic:llm?seed=7&dim=64&hidden=128&layers=2");
  const std::string first = a->tensors().front().name;
  const std::string last = a->tensors().back().name;
  const Tensor b_last = b->read(last);  // b reads in the opposite order
  const Tensor b_first = b->read(first);
  EXPECT_EQ(a->read(first).values, b_first.values);
  EXPECT_EQ(a->read(last).values, b_last.values);
  const auto c = open_model("synthetic:llm?seed=8&dim=64&hidden=128&layers=2");
  EXPECT_NE(c->read(first).values, b_first.values);
  // Different tensors of one model are different draws.
  EXPECT_NE(a->read("model.layers.0.self_attn.q_proj.weight").values,
            a->read("model.layers.0.self_attn.k_proj.weight").values);
}

// These exact values pin the generator down: any platform or refactoring that changes them changes
// every synthetic result the project reports.
TEST(Synthetic, GoldenValuesAreStable) {
  const Tensor g = open_model("synthetic:gaussian?rows=2&cols=3&seed=1&scale=1")->read("weight");
  const std::vector<uint32_t> expected_bits = {3206966338u, 3220442245u, 1069101758u,
                                               3189623864u, 3203766985u, 3209761747u};
  ASSERT_EQ(g.values.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(float_to_bits(g.values[i]), expected_bits[i]) << i << " " << g.values[i];
}

TEST(Synthetic, RowsDoNotDependOnMatrixSizeOrThreading) {
  // 2048 x 1024 is generated on several threads, 2 x 1024 on one; shared rows must match.
  const Tensor small = open_model("synthetic:laplace?rows=2&cols=1024&seed=5")->read("weight");
  const Tensor large = open_model("synthetic:laplace?rows=2048&cols=1024&seed=5")->read("weight");
  EXPECT_TRUE(std::equal(small.values.begin(), small.values.end(), large.values.begin()));
}

TEST(Synthetic, DefaultShapes) {
  const auto llm = open_model("synthetic:llm");
  ASSERT_EQ(llm->tensors().size(), 28u);  // 4 layers x 7 projections
  uint64_t total = 0;
  for (const auto& t : llm->tensors()) total += static_cast<uint64_t>(t.element_count());
  EXPECT_EQ(total, 4u * (4 * 256 * 256 + 3 * 256 * 688));
  EXPECT_EQ(llm->tensors()[0].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(llm->tensors()[4].shape, (std::vector<int64_t>{688, 256}));   // gate
  EXPECT_EQ(llm->tensors()[6].shape, (std::vector<int64_t>{256, 688}));   // down
  EXPECT_EQ(llm->tensors()[6].name, "model.layers.0.mlp.down_proj.weight");

  const auto start = std::chrono::steady_clock::now();
  const auto seven_b = open_model("synthetic:7b");  // listing only: nothing is generated
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  ASSERT_EQ(seven_b->tensors().size(), 32u * 7);
  EXPECT_EQ(seven_b->tensors().back().name, "model.layers.31.mlp.down_proj.weight");
  EXPECT_EQ(seven_b->tensors().back().shape, (std::vector<int64_t>{4096, 11008}));
  EXPECT_EQ(open_model("synthetic:7b?layers=2")->tensors().size(), 14u);

  const auto one = open_model("synthetic:gaussian?rows=40&cols=24");
  ASSERT_EQ(one->tensors().size(), 1u);
  EXPECT_EQ(one->read("weight").shape, (std::vector<int64_t>{40, 24}));
  EXPECT_EQ(open_model("synthetic:llm?seed=7&dim=512&layers=2")->tensors()[0].shape, (std::vector<int64_t>{512, 512}));
}

TEST(Synthetic, GaussianStatistics) {
  const Tensor t = open_model("synthetic:gaussian?rows=512&cols=512&scale=2")->read("weight");
  const Moments m = moments(t.values);
  EXPECT_NEAR(m.mean, 0.0, 0.02);
  EXPECT_NEAR(m.variance, 4.0, 4.0 * 0.02);       // standard error of the variance is ~0.3%
  EXPECT_NEAR(m.excess_kurtosis, 0.0, 0.05);
}

TEST(Synthetic, LaplaceAndStudentTStatistics) {
  const Moments laplace = moments(open_model("synthetic:laplace?rows=512&cols=512&scale=1")->read("weight").values);
  EXPECT_NEAR(laplace.variance, 1.0, 0.03);
  EXPECT_NEAR(laplace.excess_kurtosis, 3.0, 0.3);
  const Moments t10 = moments(open_model("synthetic:student-t?rows=512&cols=512&scale=1&dof=10")->read("weight").values);
  EXPECT_NEAR(t10.variance, 1.0, 0.03);
  EXPECT_NEAR(t10.excess_kurtosis, 1.0, 0.3);  // 6 / (dof - 4)
}

TEST(Synthetic, GammaMeanAndVariance) {
  for (double shape : {0.5, 2.5, 9.0}) {
    synthetic::SyntheticRandom random(11);
    std::vector<float> draws(200000);
    for (auto& d : draws) d = static_cast<float>(random.gamma(shape));
    const Moments m = moments(draws);
    EXPECT_NEAR(m.mean, shape, 0.02 * shape + 0.01) << shape;
    EXPECT_NEAR(m.variance, shape, 0.05 * shape) << shape;
  }
}

std::vector<double> column_rms(const Tensor& t) {
  std::vector<double> rms(static_cast<std::size_t>(t.cols()), 0.0);
  for (int64_t r = 0; r < t.rows(); ++r) {
    for (int64_t c = 0; c < t.cols(); ++c) {
      const double v = t.values[static_cast<std::size_t>(r * t.cols() + c)];
      rms[static_cast<std::size_t>(c)] += v * v;
    }
  }
  for (auto& v : rms) v = std::sqrt(v / static_cast<double>(t.rows()));
  return rms;
}

std::vector<std::size_t> outlier_columns(const Tensor& t) {
  const std::vector<double> rms = column_rms(t);
  std::vector<double> sorted = rms;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(sorted.size() / 2), sorted.end());
  const double median = sorted[sorted.size() / 2];
  std::vector<std::size_t> columns;
  for (std::size_t c = 0; c < rms.size(); ++c) {
    if (rms[c] > 5 * median) columns.push_back(c);
  }
  return columns;
}

TEST(Synthetic, LlmHasSharedOutlierChannelsAndRowSpread) {
  const auto model = open_model("synthetic:llm?seed=3");
  const Tensor q = model->read("model.layers.0.self_attn.q_proj.weight");
  const Tensor gate = model->read("model.layers.2.mlp.gate_proj.weight");
  const Tensor down = model->read("model.layers.0.mlp.down_proj.weight");
  const auto q_outliers = outlier_columns(q);
  EXPECT_EQ(q_outliers.size(), 2u);                 // 256 / 128 = 2
  EXPECT_EQ(outlier_columns(gate), q_outliers);     // same residual-stream width, same channels
  EXPECT_EQ(outlier_columns(down).size(), 5u);      // 688 / 128 = 5
  const std::vector<double> rms = column_rms(q);
  const double typical = rms[(q_outliers[0] + 1) % rms.size()];
  for (std::size_t c : q_outliers) {
    EXPECT_GT(rms[c] / typical, 7.0);
    EXPECT_LT(rms[c] / typical, 30.0);
  }
  EXPECT_EQ(outlier_columns(open_model("synthetic:llm?outliers=6&dim=512&layers=1")->read(
                                "model.layers.0.self_attn.v_proj.weight")).size(), 6u);

  // Row scales are log-normal with sigma 0.3: the std dev of log(row rms) over non-outlier columns.
  const auto down_outliers = outlier_columns(down);
  std::vector<double> log_row_rms;
  for (int64_t r = 0; r < down.rows(); ++r) {
    double sum = 0;
    int64_t used = 0;
    for (int64_t c = 0; c < down.cols(); ++c) {
      if (std::count(down_outliers.begin(), down_outliers.end(), static_cast<std::size_t>(c))) continue;
      const double v = down.values[static_cast<std::size_t>(r * down.cols() + c)];
      sum += v * v;
      ++used;
    }
    log_row_rms.push_back(0.5 * std::log(sum / static_cast<double>(used)));
  }
  const double mean = std::accumulate(log_row_rms.begin(), log_row_rms.end(), 0.0) / static_cast<double>(log_row_rms.size());
  double var = 0;
  for (double v : log_row_rms) var += (v - mean) * (v - mean);
  EXPECT_NEAR(std::sqrt(var / static_cast<double>(log_row_rms.size())), 0.3, 0.06);

  // A heavier tail than Gaussian, even without the outlier columns.
  const Tensor plain = open_model("synthetic:llm?outliers=0&row_spread=0&rows=512&cols=512")->read("weight");
  const Moments m = moments(plain.values);
  EXPECT_NEAR(m.variance, 0.02 * 0.02, 0.02 * 0.02 * 0.05);  // tail is normalized away
  EXPECT_GT(m.excess_kurtosis, 1.0);
}

TEST(Synthetic, SpecErrorsNameTheKey) {
  expect_error([] { open_model("synthetic:nope"); }, {"synthetic:nope", "kind", "unknown kind 'nope'"});
  expect_error([] { open_model("synthetic:"); }, {"missing kind"});
  expect_error([] { open_model("synthetic:llm?colour=red"); }, {"colour", "unknown key"});
  expect_error([] { open_model("synthetic:llm?dim=abc"); }, {"dim", "not an integer"});
  expect_error([] { open_model("synthetic:llm?dim=0"); }, {"dim", "out of range"});
  expect_error([] { open_model("synthetic:llm?layers=-2"); }, {"layers", "out of range"});
  expect_error([] { open_model("synthetic:gaussian?rows=4&dim=8"); }, {"cannot be combined"});
  expect_error([] { open_model("synthetic:student-t?dof=x"); }, {"dof", "not a finite number"});
  expect_error([] { open_model("synthetic:llm?seed=1&seed=2"); }, {"seed", "twice"});
  expect_error([] { open_model("synthetic:llm?seed"); }, {"key=value"});
  expect_error([] { open_model("synthetic:gaussian?rows=100000&cols=100000"); }, {"2^32"});
  expect_error([] { open_model("synthetic:llm?dist=uniform"); }, {"dist", "unknown distribution"});
  expect_error([] { open_model("synthetic:llm")->read("nope"); }, {"synthetic:llm", "nope", "no such tensor"});
  EXPECT_NO_THROW(open_synthetic("gaussian?rows=2&cols=2"));  // prefix optional here
  EXPECT_EQ(open_synthetic("gaussian")->path(), "synthetic:gaussian");
  EXPECT_GE(synthetic_kinds().size(), 5u);
}

}  // namespace
}  // namespace sop
