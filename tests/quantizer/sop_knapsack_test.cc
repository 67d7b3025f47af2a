// Layer promotion: the multiple-choice knapsack against brute force.
#include <random>

#include <gtest/gtest.h>

#include "quantizer/sop/knapsack.h"

namespace sop {
namespace {

std::vector<std::vector<KnapsackOption>> random_instance(std::mt19937& rng, int groups, int options) {
  std::uniform_real_distribution<double> bits(100, 1000), error(0, 10);
  std::vector<std::vector<KnapsackOption>> g(static_cast<std::size_t>(groups));
  for (auto& group : g) {
    for (int o = 0; o < options; ++o) group.push_back({bits(rng), error(rng)});
  }
  return g;
}

TEST(SopKnapsack, DpMatchesBruteForceOnRandomInstances) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const auto g = random_instance(rng, 2 + trial % 4, 2 + trial % 3);
    double lo = 0, hi = 0;
    for (const auto& group : g) {
      double mn = 1e30, mx = 0;
      for (const auto& o : group) { mn = std::min(mn, o.bits); mx = std::max(mx, o.bits); }
      lo += mn;
      hi += mx;
    }
    const double budget = lo + (hi - lo) * std::uniform_real_distribution<double>(0, 1)(rng);
    const auto exact = solve_knapsack_brute_force(g, budget);
    // A fine grid is exact unless two selections' costs sit within a grid unit of the budget.
    const auto dp = solve_knapsack_dp(g, budget, 200000);
    ASSERT_TRUE(exact.feasible);
    ASSERT_TRUE(dp.feasible);
    EXPECT_LE(dp.bits, budget + 1e-9);
    EXPECT_NEAR(dp.error, exact.error, 1e-9) << "trial " << trial;
    EXPECT_LE(dp.lower_bound, exact.error + 1e-9);
    const auto lag = solve_knapsack_lagrangian(g, budget);
    EXPECT_LE(lag.bits, budget + 1e-9);
    EXPECT_GE(lag.error, exact.error - 1e-9);
    EXPECT_LE(lag.lower_bound, exact.error + 1e-9);
  }
}

TEST(SopKnapsack, InfeasibleBudgetIsReported) {
  const std::vector<std::vector<KnapsackOption>> g = {{{10, 1}, {20, 0}}, {{10, 1}}};
  EXPECT_FALSE(solve_knapsack_dp(g, 15).feasible);
  EXPECT_FALSE(solve_knapsack_lagrangian(g, 15).feasible);
  const auto s = solve_knapsack_dp(g, 30);
  EXPECT_TRUE(s.feasible);
  EXPECT_EQ(s.choice[0], 1);
  EXPECT_DOUBLE_EQ(s.error, 1.0);
}

}  // namespace
}  // namespace sop
