#include "quantizer/sop/block_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "base/parallel.h"

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
  // Vectorized-search tables (see the header). A step is a difference of two table values; the
  // running sum is checked against every value so an inexact table falls back to the scalar search.
  const std::size_t padded = midpoints_.size() <= 15 ? 15 : std::max<std::size_t>(63, midpoints_.size());
  smallest_value_ = values_[static_cast<std::size_t>(code_of_sorted_.front())];
  steps_exact_ = true;
  float running = smallest_value_;
  for (std::size_t k = 0; k < padded; ++k) {
    const bool real = k < midpoints_.size();
    const float step = real ? values_[code_of_sorted_[k + 1]] - values_[code_of_sorted_[k]] : 0.0f;
    if (real) {
      running += step;
      steps_exact_ = steps_exact_ && running == values_[code_of_sorted_[k + 1]];
    }
    for (int lane = 0; lane < kSearchLanes; ++lane) {
      search_midpoints_.push_back(real ? midpoints_[k] : INFINITY);
      search_steps_.push_back(step);
    }
  }
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

// Weighted error of a block at one signed scale (entry_scale excludes the tensor scale), one weight
// at a time: the reference the vectorized search is tested against.
inline float block_error_scalar(const float* x, const float* w, int n, const LutCodebook& cb, float entry_scale,
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

// Four weights at a time with GCC/Clang vector extensions, one SSE2 register on the baseline x86-64
// target (wider generic vectors are split into scalar code there). Only compares, masks, adds and
// multiplies: no gathers, no branches.
constexpr int kLanes = LutCodebook::kSearchLanes;
typedef float FloatLanes __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t IntLanes __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline FloatLanes splat(float v) { return FloatLanes{} + v; }

inline FloatLanes load_lanes(const float* p) {
  FloatLanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float lane_sum(FloatLanes v) {
  float s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// signed_max() with the magnitude search in lanes: the largest |x| first, then the first element
// that has it (the same element the scalar scan picks).
inline SignedMax signed_max_lanes(const float* x, int n) {
  const IntLanes magnitude_bits = IntLanes{} + 0x7fffffff;
  FloatLanes largest = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const FloatLanes a = reinterpret_cast<FloatLanes>(reinterpret_cast<IntLanes>(load_lanes(x + j)) & magnitude_bits);
    largest = a > largest ? a : largest;
  }
  float amax = 0;
  for (int i = 0; i < kLanes; ++i) amax = std::max(amax, largest[i]);
  for (; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  SignedMax m;
  for (j = 0; j < n; ++j) {
    if (std::fabs(x[j]) == amax) {
      m.value = x[j];
      break;
    }
  }
  return m;
}

// Weighted errors of one block at up to kCandidates signed scales at once, so each midpoint and step
// is loaded once for all of them. entry_scales exclude the tensor scale. A last partial group of
// lanes is padded with x = 0 and weight 0, which adds no error.
template <int kMidpoints, int kCandidates>
void lane_block_errors(const float* x, const float* w, int n, const LutCodebook& cb, const float* entry_scales,
                       float tensor_scale, float* errors) {
  const float* midpoints = cb.search_midpoints();
  const float* steps = cb.search_steps();
  FloatLanes inv[kCandidates], scale[kCandidates], acc[kCandidates];
  for (int c = 0; c < kCandidates; ++c) {
    // The same FP32 operations as nearest_code() and encode_block(), so the chosen values agree.
    inv[c] = splat(1.0f / (entry_scales[c] * tensor_scale));
    scale[c] = splat(entry_scales[c]);
    acc[c] = FloatLanes{};
  }
  const FloatLanes smallest = splat(cb.smallest_value());
  const FloatLanes ts = splat(tensor_scale);
  for (int j = 0; j < n; j += kLanes) {
    FloatLanes xv, wv;
    if (j + kLanes <= n) {
      xv = load_lanes(x + j);
      wv = load_lanes(w + j);
    } else {
      xv = FloatLanes{};
      wv = FloatLanes{};
      for (int i = 0; j + i < n; ++i) {
        xv[i] = x[j + i];
        wv[i] = w[j + i];
      }
    }
    FloatLanes y[kCandidates], v[kCandidates];
    for (int c = 0; c < kCandidates; ++c) {
      y[c] = xv * inv[c];
      v[c] = smallest;
    }
    for (int k = 0; k < kMidpoints; ++k) {
      const FloatLanes midpoint = load_lanes(midpoints + k * kLanes);
      const IntLanes step = reinterpret_cast<IntLanes>(load_lanes(steps + k * kLanes));
      for (int c = 0; c < kCandidates; ++c) {
        // y > midpoint is all ones in a lane: add that lane's step.
        v[c] += reinterpret_cast<FloatLanes>(step & (y[c] > midpoint));
      }
    }
    for (int c = 0; c < kCandidates; ++c) {
      const FloatLanes d = xv - (v[c] * scale[c]) * ts;
      acc[c] += wv * d * d;
    }
  }
  for (int c = 0; c < kCandidates; ++c) errors[c] = lane_sum(acc[c]);
}

// For every weight, how many sorted midpoints lie below x * inv: the rank of its nearest value.
template <int kMidpoints>
void lane_ranks(const float* x, int n, const LutCodebook& cb, float inv, int* ranks) {
  const float* midpoints = cb.search_midpoints();
  for (int j = 0; j < n; j += kLanes) {
    FloatLanes xv = {};
    if (j + kLanes <= n) {
      xv = load_lanes(x + j);
    } else {
      for (int i = 0; j + i < n; ++i) xv[i] = x[j + i];
    }
    const FloatLanes y = xv * inv;
    IntLanes rank = {};
    for (int k = 0; k < kMidpoints; ++k) rank -= y > load_lanes(midpoints + k * kLanes);  // true is -1
    for (int i = 0; i < kLanes && j + i < n; ++i) ranks[j + i] = rank[i];
  }
}

template <int kMidpoints>
void lane_block_errors(const float* x, const float* w, int n, const LutCodebook& cb, const float* entry_scales,
                       int count, float tensor_scale, float* errors) {
  // Three at a time: the default search (one scale code either side) in a single pass.
  for (int first = 0; first < count; first += 3) {
    switch (std::min(3, count - first)) {
      case 1: lane_block_errors<kMidpoints, 1>(x, w, n, cb, entry_scales + first, tensor_scale, errors + first); break;
      case 2: lane_block_errors<kMidpoints, 2>(x, w, n, cb, entry_scales + first, tensor_scale, errors + first); break;
      default: lane_block_errors<kMidpoints, 3>(x, w, n, cb, entry_scales + first, tensor_scale, errors + first); break;
    }
  }
}

// The scale codes fit_block tries: the nearest to the ideal one and `steps` either side.
struct ScaleCandidates {
  bool negative = false;
  int64_t lo = 1, hi = 0;
};

ScaleCandidates scale_candidates(float signed_max_value, const LutCodebook& cb, const ScaleGrid& grid,
                                 const ScaleSearch& search) {
  ScaleCandidates c;
  c.negative = search.is_signed && grid.format().has_sign && signed_max_value < 0;
  // Signed: the extreme element lands on the table's largest positive entry. Unsigned: on the entry
  // of largest magnitude with the element's sign (a symmetric table such as E2M1 or NF4).
  const float target = std::fabs(signed_max_value) / (cb.max_positive() * grid.tensor_scale());
  const auto center = static_cast<int64_t>(grid.nearest_magnitude_code(target));
  c.lo = std::max<int64_t>(1, center - search.steps);
  c.hi = std::max(c.lo, std::min<int64_t>(grid.max_magnitude_code(), center + search.steps));
  return c;
}

}  // namespace

BlockFit fit_block_reference(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                             const ScaleSearch& search) {
  const SignedMax m = signed_max(x, n);
  BlockFit best;
  if (m.value == 0) return best;
  const ScaleCandidates c = scale_candidates(m.value, cb, grid, search);
  best.error = INFINITY;
  for (int64_t code = c.lo; code <= c.hi; ++code) {
    const float mag = grid.magnitude(static_cast<uint32_t>(code));
    if (mag == 0) continue;
    const float err = block_error_scalar(x, w, n, cb, c.negative ? -mag : mag, grid.tensor_scale());
    if (err < best.error) {
      best.error = err;
      best.scale_code = grid.scale_code(static_cast<uint32_t>(code), c.negative);
    }
  }
  return best;
}

BlockFit fit_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   const ScaleSearch& search) {
  const int midpoint_count = cb.search_midpoint_count();
  if (!cb.steps_exact() || (midpoint_count != 15 && midpoint_count != 63)) {
    return fit_block_reference(x, w, n, cb, grid, search);
  }
  const SignedMax m = signed_max_lanes(x, n);
  BlockFit best;
  if (m.value == 0) return best;
  const ScaleCandidates c = scale_candidates(m.value, cb, grid, search);
  constexpr int kMaxCandidates = 64;
  if (c.hi - c.lo >= kMaxCandidates) return fit_block_reference(x, w, n, cb, grid, search);
  // Candidate scales in code order (as the reference tries them, so ties resolve the same way).
  float entry_scales[kMaxCandidates];
  uint32_t codes[kMaxCandidates];
  int count = 0;
  for (int64_t code = c.lo; code <= c.hi; ++code) {
    const float mag = grid.magnitude(static_cast<uint32_t>(code));
    if (mag == 0) continue;
    entry_scales[count] = c.negative ? -mag : mag;
    codes[count] = static_cast<uint32_t>(code);
    ++count;
  }
  best.error = INFINITY;
  if (count == 0) return best;
  float errors[kMaxCandidates];
  if (midpoint_count == 15) {
    lane_block_errors<15>(x, w, n, cb, entry_scales, count, grid.tensor_scale(), errors);
  } else {
    lane_block_errors<63>(x, w, n, cb, entry_scales, count, grid.tensor_scale(), errors);
  }
  for (int i = 0; i < count; ++i) {
    if (errors[i] < best.error) {
      best.error = errors[i];
      best.scale_code = grid.scale_code(codes[i], c.negative);
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
  // The same arithmetic as the search, so the codes are the ones it measured. A zero scale gives
  // inv = 0, so every weight takes the code nearest to zero.
  const float inv = mag == 0 ? 0.0f : 1.0f / (entry_scale * grid.tensor_scale());
  const int midpoint_count = cb.search_midpoint_count();
  constexpr int kMaxLaneBlock = 256;
  int ranks[kMaxLaneBlock];
  const bool lanes = n <= kMaxLaneBlock && (midpoint_count == 15 || midpoint_count == 63);
  if (lanes && midpoint_count == 15) lane_ranks<15>(x, n, cb, inv, ranks);
  if (lanes && midpoint_count == 63) lane_ranks<63>(x, n, cb, inv, ranks);
  for (int j = 0; j < n; ++j) {
    const int code = lanes ? cb.sorted_code(ranks[j]) : cb.nearest_code(x[j] * inv);
    // + 0.0f turns a -0 (zero entry x negative scale) into +0, as the golden decode's integer
    // multiply gives: the in-memory reconstruction must match the decoded pack bit for bit.
    const float qj = (cb.value(code) * entry_scale) * grid.tensor_scale() + 0.0f;
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
