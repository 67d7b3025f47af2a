#include "quantizer/sop/knapsack.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace sop {
namespace {

struct Relaxed {
  std::vector<int> choice;
  double bits = 0, error = 0, dual = 0;
};

Relaxed relax(const std::vector<std::vector<KnapsackOption>>& groups, double lambda, double budget) {
  Relaxed r;
  r.dual = -lambda * budget;
  for (const auto& g : groups) {
    int best = 0;
    double best_value = INFINITY;
    for (std::size_t o = 0; o < g.size(); ++o) {
      const double v = g[o].error + lambda * g[o].bits;
      // Ties go to fewer bits so that a large lambda reaches the cheapest selection.
      if (v < best_value || (v == best_value && g[o].bits < g[static_cast<std::size_t>(best)].bits)) {
        best_value = v;
        best = static_cast<int>(o);
      }
    }
    r.choice.push_back(best);
    r.bits += g[static_cast<std::size_t>(best)].bits;
    r.error += g[static_cast<std::size_t>(best)].error;
    r.dual += best_value;
  }
  return r;
}

double sum_min_bits(const std::vector<std::vector<KnapsackOption>>& groups) {
  double bits = 0;
  for (const auto& g : groups) {
    double b = INFINITY;
    for (const auto& o : g) b = std::min(b, o.bits);
    bits += b;
  }
  return bits;
}

void check(const std::vector<std::vector<KnapsackOption>>& groups) {
  for (const auto& g : groups) {
    if (g.empty()) throw std::invalid_argument("knapsack: a group has no options");
  }
}

}  // namespace

KnapsackSolution solve_knapsack_lagrangian(const std::vector<std::vector<KnapsackOption>>& groups,
                                           double budget_bits) {
  check(groups);
  KnapsackSolution s;
  if (sum_min_bits(groups) > budget_bits) return s;
  Relaxed at_zero = relax(groups, 0, budget_bits);
  if (at_zero.bits <= budget_bits) {
    s.feasible = true;
    s.choice = at_zero.choice;
    s.bits = at_zero.bits;
    s.error = at_zero.error;
    s.lower_bound = at_zero.error;
    return s;
  }
  double lo = 0, hi = 1;
  while (relax(groups, hi, budget_bits).bits > budget_bits && hi < 1e300) hi *= 4;
  double best_dual = at_zero.dual;
  Relaxed feasible = relax(groups, hi, budget_bits);
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    const Relaxed r = relax(groups, mid, budget_bits);
    best_dual = std::max(best_dual, r.dual);
    if (r.bits <= budget_bits) {
      hi = mid;
      feasible = r;
    } else {
      lo = mid;
    }
  }
  best_dual = std::max(best_dual, feasible.dual);
  s.feasible = true;
  s.choice = feasible.choice;
  s.bits = feasible.bits;
  s.error = feasible.error;
  s.lower_bound = best_dual;
  return s;
}

KnapsackSolution solve_knapsack_dp(const std::vector<std::vector<KnapsackOption>>& groups, double budget_bits,
                                   int resolution) {
  check(groups);
  const KnapsackSolution lagrangian = solve_knapsack_lagrangian(groups, budget_bits);
  KnapsackSolution s;
  s.lower_bound = lagrangian.lower_bound;
  if (!lagrangian.feasible) return s;
  // Subtract each group's cheapest option first: only the extra bits above the minimum compete for
  // the budget, so the resolution is spent where the choices are.
  const double floor_bits = sum_min_bits(groups);
  const double spare = budget_bits - floor_bits;
  const double unit = spare > 0 ? spare / resolution : 1.0;
  const auto capacity = static_cast<std::size_t>(spare > 0 ? resolution : 0);
  std::vector<std::vector<int>> cost(groups.size());
  for (std::size_t g = 0; g < groups.size(); ++g) {
    double min_bits = INFINITY;
    for (const auto& o : groups[g]) min_bits = std::min(min_bits, o.bits);
    for (const auto& o : groups[g]) {
      const double extra = o.bits - min_bits;
      cost[g].push_back(extra <= 0 ? 0 : static_cast<int>(std::min<double>(std::ceil(extra / unit - 1e-9), 1e9)));
    }
  }
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(capacity + 1, 0.0), next(capacity + 1);
  std::vector<std::vector<uint8_t>> pick(groups.size(), std::vector<uint8_t>(capacity + 1, 0));
  for (const auto& g : groups) {
    if (g.size() > 255) throw std::invalid_argument("knapsack: at most 255 options per group");
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::fill(next.begin(), next.end(), inf);
    for (std::size_t o = 0; o < groups[g].size(); ++o) {
      const auto c = static_cast<std::size_t>(cost[g][o]);
      if (c > capacity) continue;
      for (std::size_t b = c; b <= capacity; ++b) {
        const double v = best[b - c] + groups[g][o].error;
        if (v < next[b]) {
          next[b] = v;
          pick[g][b] = static_cast<uint8_t>(o);
        }
      }
    }
    best.swap(next);
  }
  std::size_t b = capacity;
  for (std::size_t k = 0; k <= capacity; ++k) if (best[k] < best[b]) b = k;
  if (!std::isfinite(best[b])) return lagrangian;
  s.feasible = true;
  s.choice.assign(groups.size(), 0);
  for (std::size_t g = groups.size(); g-- > 0;) {
    const int o = pick[g][b];
    s.choice[g] = o;
    b -= static_cast<std::size_t>(cost[g][static_cast<std::size_t>(o)]);
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    s.bits += groups[g][static_cast<std::size_t>(s.choice[g])].bits;
    s.error += groups[g][static_cast<std::size_t>(s.choice[g])].error;
  }
  // The rounded DP can lose to the Lagrangian point on coarse budgets; keep the better of the two.
  if (lagrangian.error < s.error) {
    s.choice = lagrangian.choice;
    s.bits = lagrangian.bits;
    s.error = lagrangian.error;
  }
  return s;
}

KnapsackSolution solve_knapsack_brute_force(const std::vector<std::vector<KnapsackOption>>& groups,
                                            double budget_bits) {
  check(groups);
  KnapsackSolution s;
  std::vector<int> idx(groups.size(), 0);
  s.error = INFINITY;
  while (true) {
    double bits = 0, error = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      bits += groups[g][static_cast<std::size_t>(idx[g])].bits;
      error += groups[g][static_cast<std::size_t>(idx[g])].error;
    }
    if (bits <= budget_bits && error < s.error) {
      s.feasible = true;
      s.error = error;
      s.bits = bits;
      s.choice = idx;
    }
    std::size_t g = 0;
    for (; g < groups.size(); ++g) {
      if (++idx[g] < static_cast<int>(groups[g].size())) break;
      idx[g] = 0;
    }
    if (g == groups.size()) break;
  }
  if (!s.feasible) s.error = 0;
  s.lower_bound = s.error;
  return s;
}

}  // namespace sop
