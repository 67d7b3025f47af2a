// Layer promotion as a multiple-choice knapsack: every layer (group) has a menu of options with a
// cost in bits and an error; pick exactly one per layer to minimize the total error with the total bits
// within a budget.
#pragma once

#include <string>
#include <vector>

namespace sop {

struct KnapsackOption {
  double bits = 0;
  double error = 0;
};

struct KnapsackSolution {
  bool feasible = false;
  std::vector<int> choice;     // option index per group
  double bits = 0;
  double error = 0;
  double lower_bound = 0;      // no selection within the budget has a smaller total error
  double gap() const { return error - lower_bound; }
};

// Exact dynamic program over the budget cut into `resolution` equal units. Option costs round up to
// whole units, so the answer is always within the true budget, and optimal for the rounded costs.
// lower_bound is the Lagrangian bound (see below).
KnapsackSolution solve_knapsack_dp(const std::vector<std::vector<KnapsackOption>>& groups, double budget_bits,
                                   int resolution = 20000);

// Lagrangian relaxation: minimize sum(error + lambda * bits) per group, bisecting lambda until the
// bits fit. The answer is feasible (when any selection is) and lies on the lower convex hull; the
// dual value max_lambda [sum_g min_o (error + lambda bits) - lambda budget] is a lower bound on the optimum.
KnapsackSolution solve_knapsack_lagrangian(const std::vector<std::vector<KnapsackOption>>& groups,
                                           double budget_bits);

// Tries every combination (for tests on small instances).
KnapsackSolution solve_knapsack_brute_force(const std::vector<std::vector<KnapsackOption>>& groups,
                                            double budget_bits);

}  // namespace sop
