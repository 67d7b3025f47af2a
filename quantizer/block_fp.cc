#include "quantizer/block_fp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <regex>
#include <sstream>

#include "base/error.h"
#include "base/parallel.h"

namespace sop {
namespace {

// Scale formats up to 16 bits are tabulated so the search reads values instead of decoding.
constexpr int kMaxTabulatedScaleBits = 16;

std::vector<float> tabulate_scale_values(const NumberFormat& scale) {
  std::vector<float> values;
  if (scale.bits() > kMaxTabulatedScaleBits) return values;
  values.resize(scale.code_count());
  for (uint32_t c = 0; c < scale.code_count(); ++c) values[c] = static_cast<float>(decode(scale, c));
  return values;
}

// Squared error of one block at scale s. Accumulated in float inside the block (at most a few
// thousand terms) so the loop vectorizes; callers sum blocks in double.
template <bool kWeighted, class Rounder>
float block_error_impl(float s, const Rounder& rounder, const float* w, const float* importance, std::size_t n) {
  const float inv = 1.0f / s;
  float err = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float e = w[i] - s * rounder.round(w[i] * inv);
    err += kWeighted ? importance[i] * e * e : e * e;
  }
  return err;
}

template <class Rounder>
double block_error_with(float s, const Rounder& rounder, Span<const float> w, Span<const float> importance) {
  return importance.empty() ? block_error_impl<false>(s, rounder, w.data(), nullptr, w.size())
                            : block_error_impl<true>(s, rounder, w.data(), importance.data(), w.size());
}

// One dispatch per block on the grid's kind, so the element loop has no branch on it.
double block_error(float s, const ElementGrid& grid, Span<const float> w, Span<const float> importance) {
  if (grid.is_integer()) return block_error_with(s, grid, w, importance);
  return block_error_with(s, grid.float_rounder(), w, importance);
}

template <class Rounder>
void reconstruct_with(float s, const Rounder& rounder, Span<const float> w, Span<float> out) {
  const float inv = 1.0f / s;
  for (std::size_t i = 0; i < w.size(); ++i) out[i] = s * rounder.round(w[i] * inv);
}

void reconstruct(float s, const ElementGrid& grid, Span<const float> w, Span<float> out) {
  if (grid.is_integer()) {
    reconstruct_with(s, grid, w, out);
  } else {
    reconstruct_with(s, grid.float_rounder(), w, out);
  }
}

float max_abs(Span<const float> w) {
  float m = 0;
  for (float v : w) m = std::max(m, std::fabs(v));
  return m;
}

void require_finite(const Tensor& w) {
  for (std::size_t i = 0; i < w.values.size(); ++i) {
    if (!std::isfinite(w.values[i])) {
      throw Error(w.name, "element " + std::to_string(i), "weight is NaN or Inf: refusing to quantize");
    }
  }
}

void require_importance(const Tensor& w, const QuantOptions& opts) {
  if (!opts.channel_importance.empty() && static_cast<int64_t>(opts.channel_importance.size()) != w.cols()) {
    throw Error(w.name, "channel_importance",
                "has " + std::to_string(opts.channel_importance.size()) + " values for " +
                    std::to_string(w.cols()) + " input channels");
  }
}

}  // namespace

ElementGrid::ElementGrid(const NumberFormat& element)
    : is_integer_(element.kind == FormatKind::Integer),
      float_rounder_(is_integer_ ? number_format("E2M1") : element),
      bits_(element.bits()) {
  if (is_integer_) {
    // Symmetric use of two's complement: amax maps to +(2^(n-1) - 1), -2^(n-1) stays reachable.
    max_ = static_cast<float>(max_finite(element));
    int_lo_ = -max_ - 1.0f;
  } else {
    max_ = float_rounder_.max_value();
  }
}

float ElementGrid::round(float x) const {
  if (!is_integer_) return float_rounder_.round(x);
  constexpr float kRoundShift = 8388608.0f;  // 2^23: integer rounding, ties to even
  const float c = std::clamp(x, int_lo_, max_);
  return c >= 0 ? (c + kRoundShift) - kRoundShift : -((-c + kRoundShift) - kRoundShift);
}

bool scale_needs_tensor_factor(const NumberFormat& scale) {
  return scale.kind == FormatKind::Float && scale.exp_bits <= 4;
}

uint32_t quantize_block(const BlockScaledSpec& spec, const ElementGrid& grid, Span<const float> scale_values,
                        double tensor_factor, Span<const float> w, Span<const float> importance, Span<float> out) {
  const float amax = max_abs(w);
  const NumberFormat& sf = *spec.scale;
  if (amax == 0.0f) {
    std::fill(out.begin(), out.end(), 0.0f);
    return 0;
  }
  const double ideal = static_cast<double>(amax) / grid.max_value() / tensor_factor;
  if (scale_values.empty()) {  // FP32 scale: store the ideal scale itself
    const float s = static_cast<float>(ideal * tensor_factor);
    reconstruct(s, grid, w, out);
    return encode(sf, ideal);
  }
  const int64_t max_code = static_cast<int64_t>(encode(sf, max_finite(sf)));
  const int64_t nearest = static_cast<int64_t>(encode(sf, ideal));
  int64_t best_code = -1;
  double best_err = std::numeric_limits<double>::infinity();
  for (int64_t c = nearest - spec.scale_neighbours; c <= nearest + spec.scale_neighbours; ++c) {
    if (c < 0 || c > max_code) continue;
    const float s = static_cast<float>(scale_values[static_cast<std::size_t>(c)] * tensor_factor);
    if (!(s > 0.0f) || !std::isfinite(s)) continue;
    const double err = block_error(s, grid, w, importance);
    if (err < best_err) {
      best_err = err;
      best_code = c;
    }
  }
  if (best_code < 0) {  // every candidate underflowed: the block is below the scale's range
    std::fill(out.begin(), out.end(), 0.0f);
    return 0;
  }
  const float s = static_cast<float>(scale_values[static_cast<std::size_t>(best_code)] * tensor_factor);
  reconstruct(s, grid, w, out);
  return static_cast<uint32_t>(best_code);
}

BlockScaledFormat::BlockScaledFormat(std::string name, BlockScaledSpec spec) : name_(std::move(name)), spec_(spec) {
  if (spec_.block < 1 || spec_.block > 4096) {
    throw Error("format", name_, "block size " + std::to_string(spec_.block) + " is out of range 1..4096");
  }
}

double BlockScaledFormat::nominal_bpw() const {
  return spec_.element->bits() + static_cast<double>(spec_.scale->bits()) / spec_.block;
}

QuantResult BlockScaledFormat::quantize(const Tensor& w, const QuantOptions& opts) const {
  require_finite(w);
  require_importance(w, opts);
  const int64_t rows = w.rows(), cols = w.cols();
  const ElementGrid grid(*spec_.element);
  const std::vector<float> scale_values = tabulate_scale_values(*spec_.scale);
  const int64_t blocks_per_row = (cols + spec_.block - 1) / spec_.block;

  // The tensor factor maps the largest ideal block scale onto the scale format's largest value.
  double tensor_factor = 1.0;
  const bool uses_factor = scale_needs_tensor_factor(*spec_.scale);
  if (uses_factor) {
    const float amax = max_abs(Span<const float>(w.values));
    if (amax > 0) tensor_factor = static_cast<double>(amax) / grid.max_value() / max_finite(*spec_.scale);
    tensor_factor = static_cast<double>(static_cast<float>(tensor_factor));  // stored as FP32
  }

  QuantResult result;
  result.dequant.resize(w.values.size());
  parallel_for_ranges(rows, opts.threads, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t b = 0; b < blocks_per_row; ++b) {
        const int64_t c0 = b * spec_.block;
        const std::size_t len = static_cast<std::size_t>(std::min<int64_t>(spec_.block, cols - c0));
        const std::size_t at = static_cast<std::size_t>(r * cols + c0);
        Span<const float> imp;
        if (!opts.channel_importance.empty()) imp = Span<const float>(opts.channel_importance.data() + c0, len);
        quantize_block(spec_, grid, scale_values, tensor_factor, Span<const float>(w.values.data() + at, len), imp,
                       Span<float>(result.dequant.data() + at, len));
      }
    }
  });
  result.total_bits = static_cast<double>(rows * cols) * spec_.element->bits() +
                      static_cast<double>(rows * blocks_per_row) * spec_.scale->bits() + (uses_factor ? 32.0 : 0.0);
  std::ostringstream detail;
  detail << "block " << spec_.block << ", tensor factor " << tensor_factor;
  result.detail = detail.str();
  return result;
}

PowerOfTwoTensorFormat::PowerOfTwoTensorFormat(std::string name, const NumberFormat& element)
    : name_(std::move(name)), element_(&element) {}

QuantResult PowerOfTwoTensorFormat::quantize(const Tensor& w, const QuantOptions& opts) const {
  require_finite(w);
  require_importance(w, opts);
  const ElementGrid grid(*element_);
  const int64_t rows = w.rows(), cols = w.cols();
  const float amax = max_abs(Span<const float>(w.values));
  QuantResult result;
  result.dequant.assign(w.values.size(), 0.0f);
  // One exponent byte per tensor, counted in the bits.
  result.total_bits = static_cast<double>(w.values.size()) * element_->bits() + 8.0;
  if (amax == 0.0f) return result;

  // The exponent that just avoids saturation, and its neighbours: keep the one with the lowest error.
  const int k_fit = static_cast<int>(std::ceil(std::log2(static_cast<double>(amax) / grid.max_value())));
  int best_k = k_fit;
  double best_err = std::numeric_limits<double>::infinity();
  for (int k = k_fit - 2; k <= k_fit + 1; ++k) {
    const float s = std::ldexp(1.0f, k);
    std::mutex sum_mutex;
    double err = 0;
    parallel_for_ranges(rows, opts.threads, 64, [&](int64_t r0, int64_t r1) {
      double local = 0;
      for (int64_t r = r0; r < r1; ++r) {
        const std::size_t at = static_cast<std::size_t>(r * cols);
        Span<const float> imp;
        if (!opts.channel_importance.empty()) imp = Span<const float>(opts.channel_importance);
        local += block_error(s, grid, Span<const float>(w.values.data() + at, static_cast<std::size_t>(cols)), imp);
      }
      std::lock_guard<std::mutex> lock(sum_mutex);
      err += local;
    });
    if (err < best_err) {
      best_err = err;
      best_k = k;
    }
  }
  const float s = std::ldexp(1.0f, best_k);
  parallel_for_ranges(rows, opts.threads, 64, [&](int64_t r0, int64_t r1) {
    const std::size_t at = static_cast<std::size_t>(r0 * cols);
    const std::size_t len = static_cast<std::size_t>((r1 - r0) * cols);
    reconstruct(s, grid, Span<const float>(w.values.data() + at, len), Span<float>(result.dequant.data() + at, len));
  });
  result.detail = "scale 2^" + std::to_string(best_k);
  return result;
}

std::unique_ptr<WeightFormat> parse_block_scaled_name(const std::string& name) {
  static const std::regex pattern(R"(^([A-Za-z0-9]+)s([A-Za-z0-9]+)(?:@g([0-9]+))?$)");
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return nullptr;
  const NumberFormat* element = nullptr;
  const NumberFormat* scale = nullptr;
  try {
    element = &number_format(m[1].str());
    scale = &number_format(m[2].str());
  } catch (const Error&) {
    return nullptr;
  }
  if (element->kind == FormatKind::PowerOfTwo || element->bits() > 8) {
    throw Error("format", name, std::string(element->name) + " is not an element format");
  }
  BlockScaledSpec spec;
  spec.element = element;
  spec.scale = scale;
  if (m[3].matched) {
    const std::string g = m[3].str();
    if (g.size() > 4) throw Error("format", name, "block size " + g + " is out of range 1..4096");
    spec.block = std::stoi(g);
  }
  return std::make_unique<BlockScaledFormat>(name, spec);
}

}  // namespace sop
