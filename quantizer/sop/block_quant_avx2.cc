// The block search's lane kernels for CPUs with AVX2: 8 lanes (block_quant_lanes.inc). Built with
// -mavx2 on x86-64 (quantizer/CMakeLists.txt) and called only after the CPU reports AVX2
// (block_quant.cc); elsewhere this file builds without them and avx2_kernels_built() says so.
//
// No library header but the intrinsics is included: an inline library function instantiated here
// would be compiled for AVX2 and could replace the baseline copy the rest of the program links
// against (the intrinsics are always inlined and emit no copies).
#include "quantizer/sop/block_quant_avx2.h"

#if defined(__AVX2__)
#include <immintrin.h>  // intrinsics only: always inlined, nothing of it is linked
#endif

namespace sop::detail {

#if defined(__AVX2__)

namespace avx2 {
#define SOP_LANES 8
#include "quantizer/sop/block_quant_lanes.inc"
#undef SOP_LANES
}  // namespace avx2

bool avx2_kernels_built() { return true; }

void block_products15_avx2(const float* x, const float* w, int n, const float* midpoints, const float* steps,
                           float smallest, const float* entry_scales, int count, float tensor_scale, float* products) {
  avx2::block_products<15>(x, w, n, midpoints, steps, smallest, entry_scales, count, tensor_scale, products);
}

void block_ranks15_avx2(const float* x, int n, const float* midpoints, float inv, int* ranks) {
  avx2::block_ranks<15>(x, n, midpoints, inv, ranks);
}

namespace {

// Ranks of 8 values y: the bucket from (y - low) * inverse_width clamped to [0, last] (NaN to 0),
// then its first index plus the compares against its four midpoints, exactly as bucketed_rank.
inline __m256i bucketed_rank8(__m256 y, const BucketedTable& t) {
  __m256 pos = _mm256_mul_ps(_mm256_sub_ps(y, _mm256_set1_ps(t.low)), _mm256_set1_ps(t.inverse_width));
  pos = _mm256_max_ps(pos, _mm256_setzero_ps());  // NaN -> 0 (max returns the second operand)
  pos = _mm256_min_ps(pos, _mm256_set1_ps(t.last));
  const __m256i word = _mm256_mullo_epi32(_mm256_cvttps_epi32(pos), _mm256_set1_epi32(5));
  const auto* words = static_cast<const int*>(t.buckets);
  const auto* floats = static_cast<const float*>(t.buckets);
  __m256i rank = _mm256_i32gather_epi32(words, _mm256_add_epi32(word, _mm256_set1_epi32(4)), 4);
  for (int k = 0; k < 4; ++k) {
    const __m256 m = _mm256_i32gather_ps(floats, _mm256_add_epi32(word, _mm256_set1_epi32(k)), 4);
    rank = _mm256_sub_epi32(rank, _mm256_castps_si256(_mm256_cmp_ps(y, m, _CMP_GT_OQ)));  // true is -1
  }
  return rank;
}

// 8 lanes from p, or the first n of them and zeros.
inline __m256 load8(const float* p, int n) {
  if (n >= 8) return _mm256_loadu_ps(p);
  alignas(32) float tmp[8] = {};
  for (int i = 0; i < n; ++i) tmp[i] = p[i];
  return _mm256_load_ps(tmp);
}

// The grid rank of 8 finite values y and the signed value it names, exactly as
// LutCodebook::grid_rank and sorted_value(rank), the tie rule folded into the threshold: a fraction
// rounds up past 0.5, or from 0.5 itself for a negative y (to the lower value), which for floats
// is frac > the float below 0.5.
inline __m256i grid_rank8_finite(__m256 y, const GridTable& g, __m256* value) {
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  __m256 a = _mm256_andnot_ps(sign_mask, y);
  a = _mm256_min_ps(a, _mm256_set1_ps(2 * g.max_value));
  __m256i j = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(a), 23), _mm256_set1_epi32(g.first_binade_exponent));
  j = _mm256_min_epi32(_mm256_max_epi32(j, _mm256_setzero_si256()), _mm256_set1_epi32(g.max_binade));
  const __m256i step_field = _mm256_add_epi32(j, _mm256_set1_epi32(g.step_exponent));
  const __m256 inverse_step = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_sub_epi32(_mm256_set1_epi32(254), step_field), 23));
  const __m256 step = _mm256_castsi256_ps(_mm256_slli_epi32(step_field, 23));
  const __m256 kf = _mm256_mul_ps(a, inverse_step);
  const __m256i k0 = _mm256_cvttps_epi32(kf);
  const __m256 frac = _mm256_sub_ps(kf, _mm256_cvtepi32_ps(k0));
  const __m256i negative = _mm256_srai_epi32(_mm256_castps_si256(y), 31);  // -1 where the sign bit is set
  const __m256 threshold = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(0x3F000000), negative));  // 0.5 or below
  const __m256i k = _mm256_sub_epi32(k0, _mm256_castps_si256(_mm256_cmp_ps(frac, threshold, _CMP_GT_OQ)));
  __m256i index = _mm256_add_epi32(k, _mm256_sllv_epi32(j, _mm256_set1_epi32(g.mantissa_bits)));
  index = _mm256_min_epi32(index, _mm256_set1_epi32(g.max_index));
  // zero_rank + index, or zero_rank - index where negative (index ^ -1) + 1 = -index.
  const __m256i rank = _mm256_add_epi32(_mm256_set1_epi32(g.zero_rank),
                                        _mm256_sub_epi32(_mm256_xor_si256(index, negative), negative));
  const __m256 magnitude = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(k), step), _mm256_set1_ps(g.max_value));
  *value = _mm256_or_ps(magnitude, _mm256_and_ps(_mm256_castsi256_ps(negative), sign_mask));
  return rank;
}

// grid_rank8_finite by a shorter chain, for grids whose largest value is at least 2^M u (every
// minifloat grid the codebooks recognize): below 2^M u the step is u and |y| / u is rounded as
// there; from 2^M u up a grid value is a float with M mantissa bits, so |y|'s bits are rounded at
// mantissa bit 23 - M by an integer add (half - 1 rounds a tie down, half rounds a negative y's
// tie up, to the lower value) and a mask, the carry moving into the next binade as it should. The
// two roundings are independent and picked per lane; the index follows from the rounded bits.
struct SplitGrid {
  __m256 low;            // 2^M u: where the uniform steps end
  __m256 inverse_step;   // 1 / u
  __m256 step;           // u
  __m256 max_value;
  __m256 twice_max;
  __m256i half_less_one;  // 2^(22 - M) - 1
  __m256i keep;           // ~(2^(23 - M) - 1)
  __m128i mantissa_shift;  // 23 - M
  __m256i index_offset;   // 2^M - (exponent field of 2^M u << M)
  __m256i max_index;
  __m256i zero_rank;
};

inline SplitGrid split_grid(const GridTable& g) {
  const auto field_float = [](int field) { return _mm256_castsi256_ps(_mm256_set1_epi32(field << 23)); };
  SplitGrid s;
  s.low = field_float(g.first_binade_exponent);
  s.inverse_step = field_float(254 - g.step_exponent);
  s.step = field_float(g.step_exponent);
  s.max_value = _mm256_set1_ps(g.max_value);
  s.twice_max = _mm256_set1_ps(2 * g.max_value);
  s.half_less_one = _mm256_set1_epi32((1 << (22 - g.mantissa_bits)) - 1);
  s.keep = _mm256_set1_epi32(~((1 << (23 - g.mantissa_bits)) - 1));
  s.mantissa_shift = _mm_cvtsi32_si128(23 - g.mantissa_bits);
  s.index_offset = _mm256_set1_epi32((1 << g.mantissa_bits) - (g.first_binade_exponent << g.mantissa_bits));
  s.max_index = _mm256_set1_epi32(g.max_index);
  s.zero_rank = _mm256_set1_epi32(g.zero_rank);
  return s;
}

// The same rank and value as grid_rank8_finite (tests/quantizer/sop_block_search_test.cc).
inline __m256i grid_rank8_split(__m256 y, const SplitGrid& s, __m256* value) {
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  const __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign_mask, y), s.twice_max);
  const __m256i negative = _mm256_srai_epi32(_mm256_castps_si256(y), 31);  // -1 where the sign bit is set
  const __m256 uniform = _mm256_cmp_ps(a, s.low, _CMP_LT_OQ);
  // Below 2^M u: k = |y| / u rounded (the tie rule as a threshold, as grid_rank8_finite).
  const __m256 kf = _mm256_mul_ps(a, s.inverse_step);
  const __m256i k0 = _mm256_cvttps_epi32(kf);
  const __m256 frac = _mm256_sub_ps(kf, _mm256_cvtepi32_ps(k0));
  const __m256 threshold = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(0x3F000000), negative));
  const __m256i k = _mm256_sub_epi32(k0, _mm256_castps_si256(_mm256_cmp_ps(frac, threshold, _CMP_GT_OQ)));
  const __m256 uniform_value = _mm256_mul_ps(_mm256_cvtepi32_ps(k), s.step);
  // From 2^M u: |y| rounded to M mantissa bits, then at most the largest value.
  const __m256i rounded = _mm256_and_si256(
      _mm256_sub_epi32(_mm256_add_epi32(_mm256_castps_si256(a), s.half_less_one), negative), s.keep);
  const __m256 binade_value = _mm256_min_ps(_mm256_castsi256_ps(rounded), s.max_value);
  const __m256i binade_index =
      _mm256_add_epi32(_mm256_srl_epi32(_mm256_castps_si256(binade_value), s.mantissa_shift), s.index_offset);
  const __m256 magnitude = _mm256_blendv_ps(binade_value, uniform_value, uniform);
  const __m256i index = _mm256_min_epi32(_mm256_blendv_epi8(binade_index, k, _mm256_castps_si256(uniform)), s.max_index);
  *value = _mm256_or_ps(magnitude, _mm256_and_ps(_mm256_castsi256_ps(negative), sign_mask));
  // zero_rank + index, or zero_rank - index where negative ((index ^ -1) + 1 = -index).
  return _mm256_add_epi32(s.zero_rank, _mm256_sub_epi32(_mm256_xor_si256(index, negative), negative));
}

// grid_rank8_finite for any y: a NaN lane takes rank 0, the most negative value (min returns its
// second operand for a NaN, so the finite path sees 2 max there and only the result is replaced).
inline __m256i grid_rank8(__m256 y, const GridTable& g, __m256* value) {
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  __m256i rank = grid_rank8_finite(y, g, value);
  const __m256 nan = _mm256_cmp_ps(y, y, _CMP_UNORD_Q);
  rank = _mm256_andnot_si256(_mm256_castps_si256(nan), rank);
  *value = _mm256_blendv_ps(*value, _mm256_xor_ps(_mm256_set1_ps(g.max_value), sign_mask), nan);
  return rank;
}

}  // namespace

namespace {

// products[c * n + j] = w_j (x_j - q_j)^2 at each candidate scale, with the same FP32 operations as
// the scalar reference: y = x * (1 / (scale * tensor_scale)), q = (value * scale) * tensor_scale,
// (w * d) * d. value_of(y) gives the 8 signed table values nearest to y.
template <class ValueOf>
void products8(const float* x, const float* w, int n, const float* entry_scales, int count, float tensor_scale,
               float* products, ValueOf value_of) {
  const __m256 ts = _mm256_set1_ps(tensor_scale);
  for (int c = 0; c < count; ++c) {
    const __m256 inv = _mm256_set1_ps(1.0f / (entry_scales[c] * tensor_scale));
    const __m256 scale = _mm256_set1_ps(entry_scales[c]);
    for (int j = 0; j < n; j += 8) {
      const __m256 xv = load8(x + j, n - j);
      const __m256 wv = load8(w + j, n - j);
      const __m256 d = _mm256_sub_ps(xv, _mm256_mul_ps(_mm256_mul_ps(value_of(_mm256_mul_ps(xv, inv)), scale), ts));
      const __m256 p = _mm256_mul_ps(_mm256_mul_ps(wv, d), d);
      if (j + 8 <= n) {
        _mm256_storeu_ps(products + c * n + j, p);
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, p);
        for (int i = 0; j + i < n; ++i) products[c * n + j + i] = tmp[i];
      }
    }
  }
}

// ranks[j] = rank_of(x_j * inv) for the block's n weights.
template <class RankOf>
void ranks8(const float* x, int n, float inv, int* ranks, RankOf rank_of) {
  const __m256 inv8 = _mm256_set1_ps(inv);
  for (int j = 0; j < n; j += 8) {
    alignas(32) int tmp[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), rank_of(_mm256_mul_ps(load8(x + j, n - j), inv8)));
    for (int i = 0; i < 8 && j + i < n; ++i) ranks[j + i] = tmp[i];
  }
}

}  // namespace

void grid_products_avx2(const float* x, const float* w, int n, const GridTable& grid, const float* entry_scales,
                        int count, float tensor_scale, float* products) {
  products8(x, w, n, entry_scales, count, tensor_scale, products, [&](__m256 y) {
    __m256 v;
    (void)grid_rank8(y, grid, &v);
    return v;
  });
}

void grid_ranks_avx2(const float* x, int n, const GridTable& grid, float inv, int* ranks) {
  ranks8(x, n, inv, ranks, [&](__m256 y) {
    __m256 v;
    return grid_rank8(y, grid, &v);
  });
}

void bucketed_products_avx2(const float* x, const float* w, int n, const BucketedTable& table, const float* entry_scales,
                            int count, float tensor_scale, float* products) {
  products8(x, w, n, entry_scales, count, tensor_scale, products,
            [&](__m256 y) { return _mm256_i32gather_ps(table.sorted_values, bucketed_rank8(y, table), 4); });
}

void bucketed_ranks_avx2(const float* x, int n, const BucketedTable& table, float inv, int* ranks) {
  ranks8(x, n, inv, ranks, [&](__m256 y) { return bucketed_rank8(y, table); });
}


namespace {

// Rows r[0..7] (8 floats each) become columns: r[k][i] <- r[i][k].
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// out[j] lane i = rows[i][j] for j < n (n a multiple of 8).
// out[j] lane i = rows[i][j] for j < n (n a multiple of 4: a last group of 4 is read 4 wide).
inline void load_transposed(const float* const rows[8], int n, __m256* out) {
  for (int c = 0; c < n; c += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) {
      r[i] = c + 8 <= n ? _mm256_loadu_ps(rows[i] + c) : _mm256_insertf128_ps(_mm256_setzero_ps(), _mm_loadu_ps(rows[i] + c), 0);
    }
    transpose8(r);
    for (int k = 0; k < 8 && c + k < n; ++k) out[c + k] = r[k];
  }
}

inline __m256i gather_magnitude_code(const float* magnitudes, __m256i code) {
  return _mm256_castps_si256(_mm256_i32gather_ps(magnitudes, code, 4));
}

}  // namespace

namespace {

// The nearest entry of a 16-entry table (LutCodebook's lane search): the rank is how many of the
// 15 sorted midpoints lie below y (ties to the lower value), the value the rank-th sorted value read
// by two 8-lane permutes. y is finite here.
struct MidpointRanker {
  __m256 midpoints[15];
  __m256 low_values, high_values;  // sorted values 0..7 and 8..15
  explicit MidpointRanker(const Table16& t) {
    for (int k = 0; k < 15; ++k) midpoints[k] = _mm256_set1_ps(t.midpoints[k]);
    low_values = _mm256_loadu_ps(t.sorted_values);
    high_values = _mm256_loadu_ps(t.sorted_values + 8);
  }
  bool usable() const { return true; }
  __m256i operator()(__m256 y, __m256* value) const {
    __m256i rank = _mm256_setzero_si256();
    for (int k = 0; k < 15; ++k) rank = _mm256_sub_epi32(rank, _mm256_castps_si256(_mm256_cmp_ps(y, midpoints[k], _CMP_GT_OQ)));
    const __m256 high = _mm256_castsi256_ps(_mm256_cmpgt_epi32(rank, _mm256_set1_epi32(7)));
    *value = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low_values, rank), _mm256_permutevar8x32_ps(high_values, rank), high);
    return rank;
  }
};

// The minifloat-grid rank (grid_rank8_split) in the same shape.
struct GridRanker {
  SplitGrid split;
  float max_value;
  explicit GridRanker(const GridTable& g) : split(split_grid(g)), max_value(g.max_value) {}
  bool usable() const { return max_value >= _mm256_cvtss_f32(split.low); }  // grid_rank8_split's condition
  __m256i operator()(__m256 y, __m256* value) const { return grid_rank8_split(y, split, value); }
};

// kUnitWeights: every error weight is 1, so (w * d) * d is d * d exactly and w is not read.
// kEncode: codes and reconstructions are written (else only the scale codes and errors).
template <bool kUnitWeights, bool kEncode, class Ranker>
bool fit_encode8(const GridBlocks8& b, const Ranker& ranker, const unsigned char* code_of_rank, const ScaleTable& s) {
  constexpr int kMaxN = 32;
  const int n = b.n;
  __m256 x[kMaxN], w[kMaxN];
  load_transposed(b.x, n, x);
  if (!kUnitWeights) load_transposed(b.w, n, w);
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  // The element of largest magnitude, the first one on ties (signed_max).
  __m256 largest = _mm256_set1_ps(-1.0f), extreme = _mm256_setzero_ps();
  for (int j = 0; j < n; ++j) {
    const __m256 a = _mm256_andnot_ps(sign_mask, x[j]);
    const __m256 more = _mm256_cmp_ps(a, largest, _CMP_GT_OQ);
    largest = _mm256_blendv_ps(largest, a, more);
    extreme = _mm256_blendv_ps(extreme, x[j], more);
  }
  if (_mm256_movemask_ps(_mm256_cmp_ps(extreme, _mm256_setzero_ps(), _CMP_EQ_OQ)) != 0) return false;
  const __m256 negative = s.signed_scale ? _mm256_cmp_ps(extreme, _mm256_setzero_ps(), _CMP_LT_OQ) : _mm256_setzero_ps();
  const __m256 target = _mm256_div_ps(largest, _mm256_set1_ps(s.target_divisor));
  // lower_bound(magnitudes, target): how many magnitudes lie below it.
  const __m256i count = _mm256_set1_epi32(s.count);
  const __m256i one = _mm256_set1_epi32(1);
  __m256i below = _mm256_setzero_si256();
  int step = 1;
  while (step * 2 <= s.count) step *= 2;
  for (; step >= 1; step /= 2) {
    const __m256i probe = _mm256_add_epi32(below, _mm256_set1_epi32(step));  // 1-based: magnitudes[probe - 1]
    const __m256i inside = _mm256_cmpgt_epi32(_mm256_add_epi32(count, one), probe);
    const __m256i at = _mm256_sub_epi32(_mm256_min_epi32(probe, count), one);
    const __m256 m = _mm256_castsi256_ps(gather_magnitude_code(s.magnitudes, at));
    const __m256i less = _mm256_and_si256(inside, _mm256_castps_si256(_mm256_cmp_ps(m, target, _CMP_LT_OQ)));
    below = _mm256_add_epi32(below, _mm256_and_si256(less, _mm256_set1_epi32(step)));
  }
  // The nearer of the magnitudes either side (the lower one on ties); past the end, the last code.
  const __m256i last = _mm256_set1_epi32(s.count - 1);
  const __m256i past_end = _mm256_cmpeq_epi32(below, count);
  const __m256 upper = _mm256_i32gather_ps(s.magnitudes, _mm256_min_epi32(below, last), 4);
  const __m256 lower = _mm256_i32gather_ps(s.magnitudes, _mm256_max_epi32(_mm256_sub_epi32(below, one), _mm256_setzero_si256()), 4);
  const __m256i nearer_lower = _mm256_andnot_si256(
      past_end, _mm256_and_si256(_mm256_cmpgt_epi32(below, _mm256_setzero_si256()),
                                 _mm256_castps_si256(_mm256_cmp_ps(_mm256_sub_ps(target, lower),
                                                                   _mm256_sub_ps(upper, target), _CMP_LE_OQ))));
  const __m256i centre = _mm256_blendv_epi8(_mm256_add_epi32(below, nearer_lower), last, past_end);  // true is -1
  const __m256i steps = _mm256_set1_epi32(s.steps);
  const __m256i lo = _mm256_max_epi32(one, _mm256_sub_epi32(centre, steps));
  const __m256i hi = _mm256_max_epi32(lo, _mm256_min_epi32(last, _mm256_add_epi32(centre, steps)));

  if (!ranker.usable()) return false;
  const __m256 ts = _mm256_set1_ps(s.tensor_scale);
  __m256 best_error = _mm256_set1_ps(__builtin_inff());
  __m256i best_code = _mm256_setzero_si256(), best_slot = _mm256_setzero_si256();
  __m256i found = _mm256_setzero_si256();
  // Every candidate's reconstructions and ranks, the best picked per lane once all are measured.
  constexpr int kMaxSlots = 17;
  __m256 slot_q[kMaxSlots][kMaxN];
  __m256i slot_rank[kMaxSlots][kMaxN];
  const int slots = 2 * s.steps + 1;
  unsigned tried = 0;  // slots some lane measured
  for (int slot = 0; slot < slots; ++slot) {
    const __m256i code = _mm256_add_epi32(lo, _mm256_set1_epi32(slot));
    const __m256 magnitude = _mm256_i32gather_ps(s.magnitudes, _mm256_min_epi32(code, last), 4);
    const __m256i valid = _mm256_andnot_si256(_mm256_cmpgt_epi32(code, hi),
                                              _mm256_castps_si256(_mm256_cmp_ps(magnitude, _mm256_setzero_ps(), _CMP_NEQ_UQ)));
    const int valid_lanes = _mm256_movemask_ps(_mm256_castsi256_ps(valid));
    if (valid_lanes == 0) continue;
    tried |= 1u << slot;
    // The same FP32 operations as the reference: inv = 1 / (scale * tensor_scale), y = x * inv,
    // q = (value * scale) * tensor_scale, error += (w * d) * d in weight order.
    const __m256 scale = _mm256_or_ps(magnitude, _mm256_and_ps(negative, sign_mask));
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(scale, ts));
    // A finite nonzero inv keeps every y finite (x is), which grid_rank8_finite needs.
    const __m256 inv_magnitude = _mm256_andnot_ps(sign_mask, inv);
    const __m256 usable = _mm256_and_ps(_mm256_cmp_ps(inv_magnitude, _mm256_set1_ps(__builtin_inff()), _CMP_LT_OQ),
                                        _mm256_cmp_ps(inv_magnitude, _mm256_setzero_ps(), _CMP_GT_OQ));
    if ((_mm256_movemask_ps(usable) & valid_lanes) != valid_lanes) return false;
    __m256 error = _mm256_setzero_ps();
    __m256* q = slot_q[slot];
    __m256i* rank = slot_rank[slot];
    for (int j = 0; j < n; ++j) {
      __m256 value;
      const __m256i r = ranker(_mm256_mul_ps(x[j], inv), &value);
      const __m256 qj = _mm256_mul_ps(_mm256_mul_ps(value, scale), ts);
      if (kEncode) {
        rank[j] = r;
        q[j] = qj;
      }
      const __m256 d = _mm256_sub_ps(x[j], qj);
      error = _mm256_add_ps(error, _mm256_mul_ps(kUnitWeights ? d : _mm256_mul_ps(w[j], d), d));
    }
    const __m256 better = _mm256_and_ps(_mm256_castsi256_ps(valid), _mm256_cmp_ps(error, best_error, _CMP_LT_OQ));
    const __m256i better_i = _mm256_castps_si256(better);
    best_error = _mm256_blendv_ps(best_error, error, better);
    best_code = _mm256_blendv_epi8(best_code, code, better_i);
    best_slot = _mm256_blendv_epi8(best_slot, _mm256_set1_epi32(slot), better_i);
    found = _mm256_or_si256(found, better_i);
  }
  if (_mm256_movemask_ps(_mm256_castsi256_ps(found)) != 0xFF) return false;
  __m256 best_q[kMaxN];
  __m256i best_rank[kMaxN];
  // Slots no lane tried were skipped and hold nothing: start from the first one tried.
  int first = 0;
  while ((tried & (1u << first)) == 0) ++first;
  for (int j = 0; j < n; ++j) {
    best_q[j] = slot_q[first][j];
    best_rank[j] = slot_rank[first][j];
  }
  for (int slot = first + 1; slot < slots; ++slot) {
    if ((tried & (1u << slot)) == 0) continue;
    const __m256i pick = _mm256_cmpeq_epi32(best_slot, _mm256_set1_epi32(slot));
    if (_mm256_movemask_ps(_mm256_castsi256_ps(pick)) == 0) continue;
    for (int j = 0; j < n; ++j) {
      best_q[j] = _mm256_blendv_ps(best_q[j], slot_q[slot][j], _mm256_castsi256_ps(pick));
      best_rank[j] = _mm256_blendv_epi8(best_rank[j], slot_rank[slot][j], pick);
    }
  }
  if (_mm256_movemask_ps(_mm256_castsi256_ps(found)) != 0xFF) return false;
  const __m256i sign_bits = _mm256_and_si256(_mm256_castps_si256(negative), _mm256_set1_epi32(static_cast<int>(s.sign_bit)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.scale_codes), _mm256_or_si256(best_code, sign_bits));
  if (b.errors != nullptr) _mm256_storeu_ps(b.errors, best_error);
  if (!kEncode) return true;
  // Back to rows: + 0 turns a -0 reconstruction into +0, as the golden decode's integer multiply gives.
  for (int c = 0; c < n; c += 8) {
    const bool whole = c + 8 <= n;  // else a last group of 4
    __m256 r[8];
    for (int k = 0; k < 8; ++k) r[k] = c + k < n ? _mm256_add_ps(best_q[c + k], _mm256_setzero_ps()) : _mm256_setzero_ps();
    transpose8(r);
    for (int i = 0; i < 8; ++i) {
      if (whole) {
        _mm256_storeu_ps(b.q[i] + c, r[i]);
      } else {
        _mm_storeu_ps(b.q[i] + c, _mm256_castps256_ps128(r[i]));
      }
    }
  }
  // Ranks to codes, eight weights of a block at a time: the transposed ranks packed to bytes, then
  // the 64-byte rank-to-code table read with four 16-byte shuffles.
  __m128i table[4];
  for (int k = 0; k < 4; ++k) table[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(code_of_rank + 16 * k));
  const __m128i low_nibble = _mm_set1_epi8(0x0F);
  for (int c = 0; c < n; c += 8) {
    const bool whole = c + 8 <= n;
    __m256 r[8];
    for (int k = 0; k < 8; ++k) r[k] = c + k < n ? _mm256_castsi256_ps(best_rank[c + k]) : _mm256_setzero_ps();
    transpose8(r);
    for (int i = 0; i < 8; ++i) {
      const __m256i ranks = _mm256_castps_si256(r[i]);
      const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(ranks), _mm256_extracti128_si256(ranks, 1));
      const __m128i bytes = _mm_packus_epi16(words, words);  // ranks 0..63
      const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_nibble);
      __m128i code = _mm_setzero_si128();
      for (int k = 0; k < 4; ++k) {
        code = _mm_blendv_epi8(code, _mm_shuffle_epi8(table[k], bytes), _mm_cmpeq_epi8(high, _mm_set1_epi8(static_cast<char>(k))));
      }
      if (whole) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(b.codes[i] + c), code);
      } else {
        const int four = _mm_cvtsi128_si32(code);
        __builtin_memcpy(b.codes[i] + c, &four, 4);
      }
    }
  }
  return true;
}

}  // namespace

namespace {

template <class Ranker>
bool fit_encode8_dispatch(const GridBlocks8& b, const Ranker& ranker, const unsigned char* code_of_rank, const ScaleTable& s) {
  if (b.q[0] == nullptr) {  // a fit alone
    return b.unit_weights ? fit_encode8<true, false>(b, ranker, code_of_rank, s) : fit_encode8<false, false>(b, ranker, code_of_rank, s);
  }
  return b.unit_weights ? fit_encode8<true, true>(b, ranker, code_of_rank, s) : fit_encode8<false, true>(b, ranker, code_of_rank, s);
}

}  // namespace

bool grid_fit_encode8_avx2(const GridBlocks8& b, const GridTable& grid, const unsigned char* code_of_rank,
                           const ScaleTable& s) {
  return fit_encode8_dispatch(b, GridRanker(grid), code_of_rank, s);
}

bool table16_fit_encode8_avx2(const GridBlocks8& b, const Table16& table, const unsigned char* code_of_rank,
                              const ScaleTable& s) {
  return fit_encode8_dispatch(b, MidpointRanker(table), code_of_rank, s);
}

#else

bool avx2_kernels_built() { return false; }
bool grid_fit_encode8_avx2(const GridBlocks8&, const GridTable&, const unsigned char*, const ScaleTable&) { return false; }
bool table16_fit_encode8_avx2(const GridBlocks8&, const Table16&, const unsigned char*, const ScaleTable&) { return false; }
void bucketed_products_avx2(const float*, const float*, int, const BucketedTable&, const float*, int, float, float*) {}
void bucketed_ranks_avx2(const float*, int, const BucketedTable&, float, int*) {}
void grid_products_avx2(const float*, const float*, int, const GridTable&, const float*, int, float, float*) {}
void grid_ranks_avx2(const float*, int, const GridTable&, float, int*) {}
void block_products15_avx2(const float*, const float*, int, const float*, const float*, float, const float*, int, float,
                           float*) {}
void block_ranks15_avx2(const float*, int, const float*, float, int*) {}

#endif

}  // namespace sop::detail
