#include "quantizer/codebooks/lloyd.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sop {

WeightedHistogram::WeightedHistogram(double lo, double hi, int bins)
    : lo_(lo), hi_(hi), bins_per_unit_(bins / (hi - lo)), weight_(static_cast<std::size_t>(bins), 0.0),
      weighted_sum_(static_cast<std::size_t>(bins), 0.0) {
  if (!(hi > lo) || bins < 1) throw std::invalid_argument("WeightedHistogram: empty range");
}

BinnedPoint WeightedHistogram::locate(double x, double w) const {
  const double clamped = std::clamp(x, lo_, hi_);
  auto bin = static_cast<long long>((clamped - lo_) * bins_per_unit_);
  bin = std::clamp<long long>(bin, 0, static_cast<long long>(weight_.size()) - 1);
  return {static_cast<uint32_t>(bin), clamped, w};
}

void WeightedHistogram::merge(const WeightedHistogram& other) {
  if (other.weight_.size() != weight_.size()) throw std::invalid_argument("WeightedHistogram: bin mismatch");
  for (std::size_t i = 0; i < weight_.size(); ++i) {
    weight_[i] += other.weight_[i];
    weighted_sum_[i] += other.weighted_sum_[i];
  }
}

WeightedPoints WeightedHistogram::points() const {
  WeightedPoints p;
  for (std::size_t i = 0; i < weight_.size(); ++i) {
    if (weight_[i] <= 0) continue;
    p.value.push_back(weighted_sum_[i] / weight_[i]);
    p.weight.push_back(weight_[i]);
  }
  return p;
}

std::vector<double> weighted_quantile_centroids(const WeightedPoints& points, int k) {
  double total = 0;
  for (double w : points.weight) total += w;
  std::vector<double> c;
  if (points.value.empty()) return std::vector<double>(static_cast<std::size_t>(k), 0.0);
  double cumulative = 0;
  std::size_t i = 0;
  for (int q = 0; q < k; ++q) {
    const double target = total * (q + 0.5) / k;
    while (i + 1 < points.value.size() && cumulative + points.weight[i] < target) cumulative += points.weight[i++];
    c.push_back(points.value[i]);
  }
  // Duplicates (a heavy point mass) would leave two centroids sharing a cell: spread them minimally.
  for (std::size_t q = 1; q < c.size(); ++q) {
    if (c[q] <= c[q - 1]) c[q] = std::nextafter(c[q - 1], INFINITY) + 1e-9;
  }
  return c;
}

namespace {

// Prefix sums make each cell's weight and weighted sum two subtractions.
struct PrefixSums {
  std::vector<double> weight, weighted_value;
  explicit PrefixSums(const WeightedPoints& p) : weight(p.value.size() + 1, 0.0), weighted_value(p.value.size() + 1, 0.0) {
    for (std::size_t i = 0; i < p.value.size(); ++i) {
      weight[i + 1] = weight[i] + p.weight[i];
      weighted_value[i + 1] = weighted_value[i] + p.weight[i] * p.value[i];
    }
  }
};

// Index of the first point above each midpoint between consecutive centroids.
std::vector<std::size_t> cell_edges(const WeightedPoints& p, const std::vector<double>& c) {
  std::vector<std::size_t> edges(c.size() + 1);
  edges.front() = 0;
  edges.back() = p.value.size();
  for (std::size_t k = 1; k < c.size(); ++k) {
    const double mid = 0.5 * (c[k - 1] + c[k]);
    edges[k] = static_cast<std::size_t>(std::upper_bound(p.value.begin(), p.value.end(), mid) - p.value.begin());
  }
  return edges;
}

}  // namespace

std::vector<double> weighted_lloyd_1d(const WeightedPoints& points, std::vector<double> c,
                                      const std::vector<bool>& pinned, const LloydOptions& options) {
  if (c.empty()) return c;
  std::vector<bool> pin = pinned.empty() ? std::vector<bool>(c.size(), false) : pinned;
  if (pin.size() != c.size()) throw std::invalid_argument("weighted_lloyd_1d: pinned size mismatch");
  // Keep the pinned flags attached to their centroids while sorting.
  auto sort_together = [&] {
    std::vector<std::pair<double, bool>> both(c.size());
    for (std::size_t k = 0; k < c.size(); ++k) both[k] = {c[k], pin[k]};
    std::sort(both.begin(), both.end());
    for (std::size_t k = 0; k < c.size(); ++k) { c[k] = both[k].first; pin[k] = both[k].second; }
  };
  sort_together();
  const PrefixSums sums(points);
  for (int it = 0; it < options.max_iterations; ++it) {
    const auto edges = cell_edges(points, c);
    double largest_move = 0;
    for (std::size_t k = 0; k < c.size(); ++k) {
      if (pin[k]) continue;
      const double w = sums.weight[edges[k + 1]] - sums.weight[edges[k]];
      if (w <= 0) continue;
      const double next = (sums.weighted_value[edges[k + 1]] - sums.weighted_value[edges[k]]) / w;
      largest_move = std::max(largest_move, std::fabs(next - c[k]));
      c[k] = next;
    }
    // A free centroid may cross a pinned one only if the pinned one's cell was empty; keep order.
    sort_together();
    if (largest_move <= options.tolerance) break;
  }
  return c;
}

double weighted_quantization_error(const WeightedPoints& points, Span<const double> centroids) {
  double total = 0;
  for (std::size_t i = 0; i < points.value.size(); ++i) {
    const double x = points.value[i];
    auto it = std::lower_bound(centroids.begin(), centroids.end(), x);
    double best = INFINITY;
    if (it != centroids.end()) best = std::min(best, std::fabs(*it - x));
    if (it != centroids.begin()) best = std::min(best, std::fabs(*(it - 1) - x));
    total += points.weight[i] * best * best;
  }
  return total;
}

}  // namespace sop
