// Reconstruction error metrics, as pure functions over spans.
#pragma once

#include "base/span.h"

namespace sop {

struct ErrorMetrics {
  double sqnr_db = 0;   // 10 log10(sum w^2 / sum (w - q)^2); +inf when exact
  double rel_mse = 0;   // sum (w - q)^2 / sum w^2
  double cosine = 0;    // <w, q> / (|w| |q|)
  double acos = 0;      // activation-weighted cosine (== cosine with uniform importance)
  double max_abs_error = 0;
  double weighted_sq_error = 0;  // sum_j imp_j (w - q)^2: what the knapsack minimizes
};

// w, q: [rows, cols] row-major. importance: per-column E[x_j^2] (size cols) or empty for uniform.
// ACos = <W D, Q D>_F / (|W D| |Q D|) with D = diag(sqrt(importance)).
ErrorMetrics compute_metrics(Span<const float> w, Span<const float> q, long long cols,
                             Span<const float> importance);

}  // namespace sop
