#include "quantizer/sop/block_quant.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quantizer/parallel.h"

namespace sop {

LutCodebook::LutCodebook(std::string name, const golden::DecodeConfig& cfg, Span<const float> real_values)
    : name_(std::move(name)) {
  for (float v : real_values) {
    const uint32_t entry = golden::encode_entry(cfg, v);
    entries_.push_back(entry);
    const golden::IntFloat e = golden::entry_unpack(cfg, entry);
    values_.push_back(std::ldexp(static_cast<float>(e.mant), e.exp));
  }
  // Distinct sorted values (E2M1 has +0 and -0; a rounded table may collapse two entries): the
  // lowest code wins a duplicate.
  std::vector<int> order(values_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return values_[a] < values_[b]; });
  for (int code : order) {
    if (!code_of_sorted_.empty() && values_[code] == values_[code_of_sorted_.back()]) continue;
    code_of_sorted_.push_back(code);
  }
  for (std::size_t i = 1; i < code_of_sorted_.size(); ++i) {
    midpoints_.push_back(0.5f * (values_[code_of_sorted_[i - 1]] + values_[code_of_sorted_[i]]));
  }
  max_positive_ = *std::max_element(values_.begin(), values_.end());
}

ScaleGrid::ScaleGrid(const golden::ScaleFormat& format, float tensor_scale)
    : format_(format), tensor_scale_(tensor_scale) {
  const uint32_t all_ones = (1u << (format.exp_bits + format.man_bits)) - 1u;
  // OCP E4M3 reserves S.1111.111 for NaN and E8M0 reserves 0xFF: never emit them, so the scale
  // stays meaningful to any reader of the format, not only to the golden decode.
  const bool e4m3_like = format.exp_bits == 4 && format.man_bits == 3;
  const bool e8m0_like = format.exp_bits == 8 && format.man_bits == 0;
  max_magnitude_code_ = (e4m3_like || e8m0_like) ? all_ones - 1u : all_ones;
  magnitudes_.resize(max_magnitude_code_ + 1);
  for (uint32_t c = 0; c <= max_magnitude_code_; ++c) {
    magnitudes_[c] = static_cast<float>(golden::scale_decode(format, c));
  }
}

uint32_t ScaleGrid::nearest_magnitude_code(float a) const {
  // Magnitudes increase with the code: binary search, then the nearer neighbour.
  const auto it = std::lower_bound(magnitudes_.begin(), magnitudes_.end(), a);
  if (it == magnitudes_.end()) return max_magnitude_code_;
  auto code = static_cast<uint32_t>(it - magnitudes_.begin());
  if (code > 0 && (a - magnitudes_[code - 1]) <= (*it - a)) --code;
  return code;
}

uint32_t ScaleGrid::scale_code(uint32_t magnitude_code, bool negative) const {
  const uint32_t sign_bit = 1u << (format_.exp_bits + format_.man_bits);
  return magnitude_code | ((negative && format_.has_sign) ? sign_bit : 0u);
}

float per_tensor_scale(Span<const float> weights, float cb_max, const golden::ScaleFormat& format) {
  float amax = 0;
  for (float v : weights) amax = std::max(amax, std::fabs(v));
  if (amax == 0 || cb_max <= 0) return 1.0f;
  const ScaleGrid grid(format, 1.0f);
  return amax / (cb_max * grid.max_magnitude());
}

namespace {

struct SignedMax {
  float value = 0;  // the element with the largest magnitude (first one on ties)
};

inline SignedMax signed_max(const float* x, int n) {
  SignedMax m;
  float best = -1;
  for (int j = 0; j < n; ++j) {
    const float a = std::fabs(x[j]);
    if (a > best) { best = a; m.value = x[j]; }
  }
  return m;
}

// Weighted error of a block at one signed scale (scale_value already includes the tensor scale).
inline float block_error(const float* x, const float* w, int n, const LutCodebook& cb, float entry_scale,
                         float tensor_scale) {
  const float inv = 1.0f / (entry_scale * tensor_scale);
  float err = 0;
  for (int j = 0; j < n; ++j) {
    const int code = cb.nearest_code(x[j] * inv);
    const float q = (cb.value(code) * entry_scale) * tensor_scale;
    const float d = x[j] - q;
    err += w[j] * d * d;
  }
  return err;
}

}  // namespace

BlockFit fit_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   const ScaleSearch& search) {
  const SignedMax m = signed_max(x, n);
  BlockFit best;
  if (m.value == 0) {
    best.scale_code = 0;
    best.error = 0;
    return best;
  }
  const bool negative = search.is_signed && grid.format().has_sign && m.value < 0;
  // Signed: the extreme element lands on the table's largest positive entry. Unsigned: on the entry
  // of largest magnitude with the element's sign (a symmetric table such as E2M1 or NF4).
  const float target = std::fabs(m.value) / (cb.max_positive() * grid.tensor_scale());
  const auto center = static_cast<int64_t>(grid.nearest_magnitude_code(target));
  const auto lo = std::max<int64_t>(1, center - search.steps);
  const auto hi = std::min<int64_t>(grid.max_magnitude_code(), center + search.steps);
  best.error = INFINITY;
  for (int64_t c = lo; c <= std::max(hi, lo); ++c) {
    const float mag = grid.magnitude(static_cast<uint32_t>(c));
    if (mag == 0) continue;
    const float err = block_error(x, w, n, cb, negative ? -mag : mag, grid.tensor_scale());
    if (err < best.error) {
      best.error = err;
      best.scale_code = grid.scale_code(static_cast<uint32_t>(c), negative);
    }
  }
  return best;
}

float encode_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   uint32_t scale_code, uint8_t* codes, float* q) {
  const uint32_t sign_bit = 1u << (grid.format().exp_bits + grid.format().man_bits);
  const uint32_t magnitude_code = scale_code & (sign_bit - 1u);
  const bool negative = grid.format().has_sign && (scale_code & sign_bit);
  const float mag = grid.magnitude(magnitude_code);
  const float entry_scale = negative ? -mag : mag;
  float err = 0;
  const int zero_code = cb.nearest_code(0.0f);
  // The same arithmetic as block_error, so the codes are the ones the search measured.
  const float inv = mag == 0 ? 0.0f : 1.0f / (entry_scale * grid.tensor_scale());
  for (int j = 0; j < n; ++j) {
    const int code = mag == 0 ? zero_code : cb.nearest_code(x[j] * inv);
    const float qj = (cb.value(code) * entry_scale) * grid.tensor_scale();
    codes[j] = static_cast<uint8_t>(code);
    if (q) q[j] = qj;
    const float d = x[j] - qj;
    err += w[j] * d * d;
  }
  return err;
}

void fit_all_blocks(const BlockedMatrix& m, const LutCodebook& cb, const ScaleGrid& grid,
                    const ScaleSearch& search, Span<BlockFit> out, int threads) {
  parallel_for_ranges(m.block_count(), threads, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      out[static_cast<std::size_t>(b)] =
          fit_block(m.block_values(b), m.block_weights(b), m.block_length(b), cb, grid, search);
    }
  });
}

}  // namespace sop
