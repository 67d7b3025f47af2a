#include "quantizer/sop/block_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

#include "base/parallel.h"
#include "quantizer/sop/block_quant_avx2.h"

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
  for (int code : code_of_sorted_) sorted_values_.push_back(values_[static_cast<std::size_t>(code)]);
  // Lane-search tables (see the header). A step is a difference of two table values; the running
  // sum is checked against every value so an inexact table falls back to the scalar search.
  const std::size_t padded = midpoints_.size() <= 15 ? 15 : std::max<std::size_t>(63, midpoints_.size());
  smallest_value_ = sorted_values_.front();
  steps_exact_ = true;
  float running = smallest_value_;
  for (std::size_t k = 0; k < padded; ++k) {
    const bool real = k < midpoints_.size();
    const float step = real ? sorted_values_[k + 1] - sorted_values_[k] : 0.0f;
    if (real) {
      running += step;
      steps_exact_ = steps_exact_ && running == sorted_values_[k + 1];
    }
    search_midpoints_.push_back(real ? midpoints_[k] : INFINITY);
    search_steps_.push_back(step);
  }
  build_buckets();
  find_float_grid();
}

void LutCodebook::find_float_grid() {
  has_grid_ = false;
  std::vector<float> positive, negative;
  bool zero = false;
  for (float v : sorted_values_) {
    if (v > 0) positive.push_back(v);
    if (v < 0) negative.push_back(v);
    if (v == 0) zero = true;
  }
  if (!zero || positive.size() < 2 || positive.size() != negative.size()) return;
  for (std::size_t i = 0; i < positive.size(); ++i) {
    if (negative[negative.size() - 1 - i] != -positive[i]) return;
  }
  // The smallest step u: a normal power of two.
  uint32_t u_bits;
  std::memcpy(&u_bits, &positive[0], sizeof u_bits);
  const int u_exponent = static_cast<int>(u_bits >> 23);
  if ((u_bits & 0x7fffffu) != 0 || u_exponent < 1) return;
  const float u = positive[0];
  for (int m = 0; m <= 7; ++m) {
    bool match = true;
    int max_binade = 0;
    for (std::size_t i = 0; i < positive.size() && match; ++i) {
      const int index = static_cast<int>(i) + 1;
      const int j = std::max(0, (index >> m) - 1);
      const int k = index - (j << m);
      match = std::ldexp(static_cast<float>(k) * u, j) == positive[i];
      max_binade = j;
    }
    if (!match || u_exponent + max_binade > 253) continue;
    grid_.mantissa_bits = m;
    grid_.step_exponent = u_exponent;
    grid_.first_binade_exponent = u_exponent + m;
    grid_.max_binade = max_binade;
    grid_.max_index = static_cast<int>(positive.size());
    grid_.zero_rank = static_cast<int>(negative.size());
    grid_.max_value = positive.back();
    has_grid_ = true;
    break;
  }
  if (!has_grid_) return;
  // Checked where a rank changes, as the buckets are.
  const auto binary_rank = [&](float y) {
    if (std::isnan(y)) return 0;
    return static_cast<int>(std::upper_bound(midpoints_.begin(), midpoints_.end(), y,
                                             [](float v, float mid) { return !(v > mid); }) -
                            midpoints_.begin());
  };
  std::vector<float> probes = {-INFINITY, INFINITY, std::nanf(""), 0.0f, -0.0f, 4 * grid_.max_value, -4 * grid_.max_value};
  for (float mid : midpoints_) {
    for (float y : {std::nextafter(mid, -INFINITY), mid, std::nextafter(mid, INFINITY)}) probes.push_back(y);
  }
  for (float v : sorted_values_) probes.push_back(v);
  for (float y : probes) {
    if (grid_rank(y) != binary_rank(y)) {
      has_grid_ = false;
      return;
    }
  }
}

void LutCodebook::build_buckets() {
  buckets_.clear();
  const std::size_t count = midpoints_.size();
  if (count < 2) return;
  float gap = INFINITY;
  for (std::size_t k = 1; k < count; ++k) gap = std::min(gap, midpoints_[k] - midpoints_[k - 1]);
  const double low = midpoints_.front(), span = static_cast<double>(midpoints_.back()) - low;
  if (!(gap > 0) || !std::isfinite(span) || span / gap + 1 > kMaxBuckets) return;
  const auto n = static_cast<std::size_t>(span / gap) + 1;
  const float inverse_width = static_cast<float>(1.0 / gap);
  std::vector<RankBucket> buckets(n);
  std::size_t first_at_or_above = 0;  // first midpoint at or above the bucket's lower edge
  for (std::size_t b = 0; b < n; ++b) {
    const double edge = low + static_cast<double>(b) * gap;
    while (first_at_or_above < count && midpoints_[first_at_or_above] < edge) ++first_at_or_above;
    const std::size_t first = first_at_or_above > 0 ? first_at_or_above - 1 : 0;
    // The window must reach past the bucket's upper edge: at most two midpoints inside it.
    std::size_t inside = 0;
    while (first_at_or_above + inside < count && midpoints_[first_at_or_above + inside] < edge + gap) ++inside;
    if (inside > 2) return;
    RankBucket& r = buckets[b];
    r.first = static_cast<int>(first);
    for (std::size_t i = 0; i < 4; ++i) r.midpoints[i] = first + i < count ? midpoints_[first + i] : INFINITY;
  }
  buckets_ = std::move(buckets);
  bucket_low_ = static_cast<float>(low);
  bucket_inverse_width_ = inverse_width;
  bucket_last_ = static_cast<float>(n - 1);
  // Checked where a rank changes: at every midpoint and the floats beside it, and beyond the ends.
  const auto binary_rank = [&](float y) {
    return static_cast<int>(std::upper_bound(midpoints_.begin(), midpoints_.end(), y,
                                             [](float v, float m) { return !(v > m); }) -
                            midpoints_.begin());
  };
  for (float m : midpoints_) {
    for (float y : {std::nextafter(m, -INFINITY), m, std::nextafter(m, INFINITY)}) {
      if (bucketed_rank(y) != binary_rank(y)) {
        buckets_.clear();
        return;
      }
    }
  }
  for (float y : {-INFINITY, INFINITY, std::nanf(""), 0.0f, -0.0f}) {
    if (bucketed_rank(y) != (std::isnan(y) ? 0 : binary_rank(y))) buckets_.clear();
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

float per_tensor_scale(Span<const float> weights, float cb_max, const golden::ScaleFormat& format, int threads) {
  // The largest |w| does not depend on the order it is searched in: split between threads.
  std::mutex amax_mutex;
  float amax = 0;
  parallel_for_ranges(static_cast<int64_t>(weights.size()), threads, int64_t{1} << 20, [&](int64_t begin, int64_t end) {
    // The largest |w| as the largest magnitude bit pattern (non-negative floats up to +inf order as
    // their bits do; a NaN's are above +inf's and it is skipped, as std::max skips it): an integer
    // max the compiler puts in lanes.
    uint32_t local = 0;
    const float* w = weights.data();
    for (int64_t i = begin; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, w + i, sizeof bits);
      bits &= 0x7FFFFFFFu;
      local = bits > local && bits <= 0x7F800000u ? bits : local;
    }
    float local_max;
    std::memcpy(&local_max, &local, sizeof local_max);
    std::lock_guard<std::mutex> lock(amax_mutex);
    amax = std::max(amax, local_max);
  });
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

// The 4-lane kernels (one SSE2 register on the baseline x86-64 target).
namespace sse2 {
#define SOP_LANES 4
#include "quantizer/sop/block_quant_lanes.inc"
#undef SOP_LANES
}  // namespace sse2

// signed_max() with the magnitude search in lanes: the largest |x| first, then the first element
// that has it (the same element the scalar scan picks).
inline SignedMax signed_max_lanes(const float* x, int n) {
  using sse2::FloatLanes;
  using sse2::IntLanes;
  constexpr int kLanes = sse2::kLanes;
  const IntLanes magnitude_bits = IntLanes{} + 0x7fffffff;
  FloatLanes largest = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const FloatLanes a = reinterpret_cast<FloatLanes>(reinterpret_cast<IntLanes>(sse2::load_lanes(x + j)) & magnitude_bits);
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

bool use_avx2(SearchKernel kernel) { return kernel == SearchKernel::Auto && avx2_search_available(); }

detail::GridTable grid_table(const LutCodebook& cb) {
  const LutCodebook::FloatGrid& g = cb.grid();
  return {g.mantissa_bits, g.step_exponent, g.first_binade_exponent, g.max_binade, g.max_index, g.zero_rank, g.max_value};
}

detail::BucketedTable bucketed_table(const LutCodebook& cb) {
  const LutCodebook::BucketView v = cb.bucket_view();
  return {v.words, v.low, v.inverse_width, v.last, v.sorted_values};
}

// products[c * n + j] = w_j (x_j - q_j)^2 at each candidate scale: the 16-entry tables in lanes,
// larger ones through the bucketed rank, one weight at a time.
void block_products(const float* x, const float* w, int n, const LutCodebook& cb, const float* entry_scales, int count,
                    float tensor_scale, SearchKernel kernel, float* products) {
  if (cb.search_midpoint_count() == 15 && cb.steps_exact()) {
    if (use_avx2(kernel)) {
      detail::block_products15_avx2(x, w, n, cb.search_midpoints(), cb.search_steps(), cb.smallest_value(), entry_scales,
                                    count, tensor_scale, products);
    } else {
      sse2::block_products<15>(x, w, n, cb.search_midpoints(), cb.search_steps(), cb.smallest_value(), entry_scales, count,
                               tensor_scale, products);
    }
    return;
  }
  const bool grid = cb.float_grid();
  if (use_avx2(kernel)) {
    if (grid) {
      detail::grid_products_avx2(x, w, n, grid_table(cb), entry_scales, count, tensor_scale, products);
    } else {
      detail::bucketed_products_avx2(x, w, n, bucketed_table(cb), entry_scales, count, tensor_scale, products);
    }
    return;
  }
  for (int c = 0; c < count; ++c) {
    const float inv = 1.0f / (entry_scales[c] * tensor_scale);
    for (int j = 0; j < n; ++j) {
      const float y = x[j] * inv;
      const float q = (cb.sorted_value(grid ? cb.grid_rank(y) : cb.bucketed_rank(y)) * entry_scales[c]) * tensor_scale;
      const float d = x[j] - q;
      products[c * n + j] = w[j] * d * d;
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

bool avx2_search_available() {
  static const bool available = [] {
#if defined(__x86_64__) || defined(__i386__)
    return detail::avx2_kernels_built() && __builtin_cpu_supports("avx2");
#else
    return false;
#endif
  }();
  return available;
}

BlockFit fit_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   const ScaleSearch& search, SearchKernel kernel) {
  constexpr int kMaxLaneBlock = 256;
  const int midpoint_count = cb.search_midpoint_count();
  const bool lanes = midpoint_count == 15 && cb.steps_exact();
  if (kernel == SearchKernel::Reference || n > kMaxLaneBlock || !(lanes || cb.float_grid() || cb.bucketed())) {
    return fit_block_reference(x, w, n, cb, grid, search);
  }
  const SignedMax m = signed_max_lanes(x, n);
  BlockFit best;
  if (m.value == 0) return best;
  const ScaleCandidates c = scale_candidates(m.value, cb, grid, search);
  constexpr int kMaxCandidates = 17;  // scale_steps up to 8 either side
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
  float products[kMaxCandidates * kMaxLaneBlock];
  block_products(x, w, n, cb, entry_scales, count, grid.tensor_scale(), kernel, products);
  for (int i = 0; i < count; ++i) {
    // In weight order, as block_error_scalar sums: the same float error bit for bit.
    float err = 0;
    for (int j = 0; j < n; ++j) err += products[i * n + j];
    if (err < best.error) {
      best.error = err;
      best.scale_code = grid.scale_code(codes[i], c.negative);
    }
  }
  return best;
}

float encode_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   uint32_t scale_code, uint8_t* codes, float* q, SearchKernel kernel) {
  const uint32_t sign_bit = 1u << (grid.format().exp_bits + grid.format().man_bits);
  const uint32_t magnitude_code = scale_code & (sign_bit - 1u);
  const bool negative = grid.format().has_sign && (scale_code & sign_bit);
  const float mag = grid.magnitude(magnitude_code);
  const float entry_scale = negative ? -mag : mag;
  float err = 0;
  // The same arithmetic as the search, so the codes are the ones it measured. A zero scale gives
  // inv = 0, so every weight takes the code nearest to zero.
  const float inv = mag == 0 ? 0.0f : 1.0f / (entry_scale * grid.tensor_scale());
  constexpr int kMaxLaneBlock = 256;
  int ranks[kMaxLaneBlock];
  const bool lanes = kernel != SearchKernel::Reference && n <= kMaxLaneBlock && cb.search_midpoint_count() == 15;
  const bool on_grid = kernel != SearchKernel::Reference && !lanes && cb.float_grid();
  const bool bucketed = kernel != SearchKernel::Reference && !lanes && !on_grid && cb.bucketed();
  const bool wide = n <= kMaxLaneBlock && use_avx2(kernel);
  if (lanes && wide) {
    detail::block_ranks15_avx2(x, n, cb.search_midpoints(), inv, ranks);
  } else if (lanes) {
    sse2::block_ranks<15>(x, n, cb.search_midpoints(), inv, ranks);
  } else if (on_grid && wide) {
    detail::grid_ranks_avx2(x, n, grid_table(cb), inv, ranks);
  } else if (bucketed && wide) {
    detail::bucketed_ranks_avx2(x, n, bucketed_table(cb), inv, ranks);
  }
  const bool ranked = lanes || ((on_grid || bucketed) && wide);
  for (int j = 0; j < n; ++j) {
    const int code = ranked     ? cb.sorted_code(ranks[j])
                     : on_grid  ? cb.sorted_code(cb.grid_rank(x[j] * inv))
                     : bucketed ? cb.sorted_code(cb.bucketed_rank(x[j] * inv))
                                : cb.nearest_code(x[j] * inv);
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

namespace {

// The eight-block AVX2 kernels (block_quant_avx2.h) for one table, scale grid and search: minifloat
// grids and 16-entry tables whose step sums are exact, blocks of a multiple of 4 up to 32, up to 8
// scale steps.
class EightBlockKernel {
 public:
  EightBlockKernel(const LutCodebook& cb, const ScaleGrid& grid, const ScaleSearch& search, const BlockedMatrix& m,
                   SearchKernel kernel) {
    const bool shape = use_avx2(kernel) && m.block % 4 == 0 && m.block <= 32 && search.steps >= 0 && search.steps <= 8;
    sixteen_ = shape && cb.search_midpoint_count() == 15 && cb.steps_exact();
    grid_ = shape && !sixteen_ && cb.float_grid();
    if (!available()) return;
    scales_ = {grid.magnitudes(),
               static_cast<int>(grid.max_magnitude_code() + 1),
               cb.max_positive() * grid.tensor_scale(),
               grid.tensor_scale(),
               search.steps,
               search.is_signed && grid.format().has_sign,
               1u << (grid.format().exp_bits + grid.format().man_bits)};
    if (grid_) table_ = grid_table(cb);
    const int distinct = std::min(cb.distinct_count(), 64);
    for (int rank = 0; rank < distinct; ++rank) code_of_rank_[rank] = static_cast<uint8_t>(cb.sorted_code(rank));
    for (int rank = 0; rank < 16; ++rank) sorted16_[rank] = cb.sorted_value(std::min(rank, distinct - 1));
    midpoints_ = cb.search_midpoints();
    // Without importance every error weight is 1: the kernel then skips the multiply by it.
    unit_weights_ = std::all_of(m.col_weight, m.col_weight + m.cols, [](float v) { return v == 1.0f; });
  }
  bool available() const { return grid_ || sixteen_; }

  // Blocks b .. b + 7 of m; q and codes (offsets from m.values) null for a fit alone. False, with
  // nothing written, when a block is short or the kernel declines one (an all-zero block...).
  bool run(const BlockedMatrix& m, int64_t b, uint32_t* scale_codes, float* errors, uint8_t* codes, float* q) const {
    detail::GridBlocks8 group{};
    group.n = m.block;
    group.unit_weights = unit_weights_;
    group.scale_codes = scale_codes;
    group.errors = errors;
    for (int i = 0; i < 8; ++i) {
      if (m.block_length(b + i) != m.block) return false;  // the last block of a row is short
      const float* x = m.block_values(b + i);
      const int64_t offset = x - m.values;
      group.x[i] = x;
      group.w[i] = m.block_weights(b + i);
      group.q[i] = q ? q + offset : nullptr;
      group.codes[i] = codes ? codes + offset : nullptr;
    }
    if (sixteen_) return detail::table16_fit_encode8_avx2(group, {midpoints_, sorted16_}, code_of_rank_, scales_);
    return detail::grid_fit_encode8_avx2(group, table_, code_of_rank_, scales_);
  }

 private:
  bool grid_ = false, sixteen_ = false, unit_weights_ = false;
  detail::ScaleTable scales_{};
  detail::GridTable table_{};
  uint8_t code_of_rank_[64] = {};
  float sorted16_[16] = {};
  const float* midpoints_ = nullptr;
};

}  // namespace

void fit_encode_blocks(const BlockedMatrix& m, int64_t begin, int64_t end, const LutCodebook& cb, const ScaleGrid& grid,
                       const ScaleSearch& search, uint32_t* scale_codes, uint8_t* codes, float* q, SearchKernel kernel) {
  const EightBlockKernel eight(cb, grid, search, m, kernel);
  const auto one_block = [&](int64_t b) {
    const float* x = m.block_values(b);
    const int64_t offset = x - m.values;
    const BlockFit fit = fit_block(x, m.block_weights(b), m.block_length(b), cb, grid, search, kernel);
    scale_codes[b] = fit.scale_code;
    encode_block(x, m.block_weights(b), m.block_length(b), cb, grid, fit.scale_code, codes + offset,
                 q ? q + offset : nullptr, kernel);
  };
  int64_t b = begin;
  for (; eight.available() && q != nullptr && b + 8 <= end; b += 8) {
    if (!eight.run(m, b, scale_codes + b, nullptr, codes, q)) {
      for (int i = 0; i < 8; ++i) one_block(b + i);  // an all-zero block among them, or a short one
    }
  }
  for (; b < end; ++b) one_block(b);
}

namespace {

// fit_block of blocks [begin, end) into out[0 ..), eight at a time where the kernel takes them.
void fit_range(const BlockedMatrix& m, int64_t begin, int64_t end, const EightBlockKernel& eight, const LutCodebook& cb,
               const ScaleGrid& grid, const ScaleSearch& search, BlockFit* out) {
  int64_t b = begin;
  for (; eight.available() && b + 8 <= end; b += 8) {
    uint32_t scale_codes[8];
    float errors[8];
    if (eight.run(m, b, scale_codes, errors, nullptr, nullptr)) {
      for (int i = 0; i < 8; ++i) out[b - begin + i] = {errors[i], scale_codes[i]};
      continue;
    }
    for (int i = 0; i < 8; ++i) {
      out[b - begin + i] = fit_block(m.block_values(b + i), m.block_weights(b + i), m.block_length(b + i), cb, grid, search);
    }
  }
  for (; b < end; ++b) out[b - begin] = fit_block(m.block_values(b), m.block_weights(b), m.block_length(b), cb, grid, search);
}

}  // namespace

void fit_all_blocks(const BlockedMatrix& m, const LutCodebook& cb, const ScaleGrid& grid,
                    const ScaleSearch& search, Span<BlockFit> out, int threads) {
  const EightBlockKernel eight(cb, grid, search, m, SearchKernel::Auto);
  parallel_for_ranges(m.block_count(), threads, 4096, [&](int64_t begin, int64_t end) {
    fit_range(m, begin, end, eight, cb, grid, search, out.data() + begin);
  });
}

void fit_select_encode_blocks(const BlockedMatrix& m, int64_t begin, int64_t end, Span<const LutCodebook> tables,
                              const ScaleGrid& grid, const ScaleSearch& search, uint32_t* scale_codes, uint8_t* select,
                              uint8_t* codes, float* q) {
  std::vector<EightBlockKernel> kernels;
  for (const LutCodebook& cb : tables) kernels.emplace_back(cb, grid, search, m, SearchKernel::Auto);
  constexpr int64_t kChunk = 1024;  // blocks fitted against every table before choosing
  std::vector<BlockFit> best(static_cast<std::size_t>(kChunk)), other(static_cast<std::size_t>(kChunk));
  for (int64_t first = begin; first < end; first += kChunk) {
    const int64_t last = std::min(end, first + kChunk);
    fit_range(m, first, last, kernels[0], tables[0], grid, search, best.data());
    std::fill(select + first, select + last, uint8_t{0});
    for (std::size_t t = 1; t < tables.size(); ++t) {
      fit_range(m, first, last, kernels[t], tables[t], grid, search, other.data());
      for (int64_t b = first; b < last; ++b) {
        // A strictly lower error wins, so ties keep the earlier table.
        if (other[static_cast<std::size_t>(b - first)].error < best[static_cast<std::size_t>(b - first)].error) {
          best[static_cast<std::size_t>(b - first)] = other[static_cast<std::size_t>(b - first)];
          select[b] = static_cast<uint8_t>(t);
        }
      }
    }
    for (int64_t b = first; b < last; ++b) {
      const float* x = m.block_values(b);
      const int64_t offset = x - m.values;
      scale_codes[b] = best[static_cast<std::size_t>(b - first)].scale_code;
      encode_block(x, m.block_weights(b), m.block_length(b), tables[select[b]], grid, scale_codes[b], codes + offset,
                   q ? q + offset : nullptr);
    }
  }
}

}  // namespace sop
