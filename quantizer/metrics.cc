#include "quantizer/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace sop {

ErrorMetrics compute_metrics(Span<const float> w, Span<const float> q, long long cols,
                             Span<const float> importance) {
  if (w.size() != q.size()) throw std::invalid_argument("compute_metrics: size mismatch");
  if (cols <= 0 || w.size() % static_cast<std::size_t>(cols) != 0) {
    throw std::invalid_argument("compute_metrics: cols does not divide the tensor");
  }
  if (!importance.empty() && importance.size() != static_cast<std::size_t>(cols)) {
    throw std::invalid_argument("compute_metrics: importance must have one value per column");
  }
  // Sums in double: a 100M-element tensor loses digits in float.
  double ww = 0, qq = 0, wq = 0, ee = 0, max_err = 0;
  double weighted_ww = 0, weighted_qq = 0, weighted_wq = 0, weighted_ee = 0;
  const std::size_t n = w.size();
  const std::size_t c = static_cast<std::size_t>(cols);
  for (std::size_t i = 0; i < n; ++i) {
    const double a = w[i], b = q[i], e = a - b;
    ww += a * a;
    qq += b * b;
    wq += a * b;
    ee += e * e;
    max_err = std::max(max_err, std::fabs(e));
    const double imp = importance.empty() ? 1.0 : importance[i % c];
    weighted_ww += imp * a * a;
    weighted_qq += imp * b * b;
    weighted_wq += imp * a * b;
    weighted_ee += imp * e * e;
  }
  ErrorMetrics m;
  m.rel_mse = ww > 0 ? ee / ww : (ee > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  m.sqnr_db = ee > 0 ? 10.0 * std::log10(ww / ee) : std::numeric_limits<double>::infinity();
  m.cosine = (ww > 0 && qq > 0) ? wq / std::sqrt(ww * qq) : (ww == qq ? 1.0 : 0.0);
  m.acos = (weighted_ww > 0 && weighted_qq > 0) ? weighted_wq / std::sqrt(weighted_ww * weighted_qq)
                                                : (weighted_ww == weighted_qq ? 1.0 : 0.0);
  m.max_abs_error = max_err;
  m.weighted_sq_error = weighted_ee;
  return m;
}

}  // namespace sop
