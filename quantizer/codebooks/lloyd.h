// Weighted one-dimensional Lloyd iterations (k-means on the real line), the fitting step behind the
// BOF4/BOF4-S codebooks and the per-layer DD4 codebooks.
//
// The data is a set of weighted points. Large sample sets are first binned into a fine histogram that
// keeps, per bin, the total weight and the weighted sum, so each bin acts as one point at its weighted
// mean: the centroids come out of exact sums, only the assignment is at bin resolution.
#pragma once

#include <cstdint>
#include <vector>

#include "base/span.h"

namespace sop {

// Points sorted by value, with non-negative weights.
struct WeightedPoints {
  std::vector<double> value;
  std::vector<double> weight;
};

// One weighted point as a histogram files it: its bin and its value clamped to the range. Callers
// that add the same points many times (the DD4 refits) locate them once.
struct BinnedPoint {
  uint32_t bin = 0;
  double value = 0;
  double weight = 0;
};

// A fine histogram over [lo, hi]; values outside are clamped into the edge bins.
class WeightedHistogram {
 public:
  WeightedHistogram(double lo, double hi, int bins);
  void add(double x, double w) { add(locate(x, w)); }
  BinnedPoint locate(double x, double w) const;
  void add(const BinnedPoint& p) {
    weight_[p.bin] += p.weight;
    weighted_sum_[p.bin] += p.weight * p.value;
  }
  void merge(const WeightedHistogram& other);  // same range and bin count
  WeightedPoints points() const;               // non-empty bins as points at their weighted means

 private:
  double lo_, hi_, bins_per_unit_;
  std::vector<double> weight_;
  std::vector<double> weighted_sum_;
};

struct LloydOptions {
  int max_iterations = 200;
  double tolerance = 1e-9;  // stop when no centroid moves more than this
};

// Starting centroids at the weighted quantiles (i + 0.5) / k of the points.
std::vector<double> weighted_quantile_centroids(const WeightedPoints& points, int k);

// Runs Lloyd iterations from `initial` (sorted ascending). Centroids whose `pinned` flag is set never
// move (pinned may be empty: none pinned). A centroid whose cell is empty keeps its place. Returns the
// sorted centroids.
std::vector<double> weighted_lloyd_1d(const WeightedPoints& points, std::vector<double> initial,
                                      const std::vector<bool>& pinned, const LloydOptions& options = {});

// sum_i w_i min_k (x_i - c_k)^2 for sorted centroids.
double weighted_quantization_error(const WeightedPoints& points, Span<const double> centroids);

}  // namespace sop
