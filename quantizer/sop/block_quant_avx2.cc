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

}  // namespace

void bucketed_products_avx2(const float* x, const float* w, int n, const BucketedTable& table, const float* entry_scales,
                            int count, float tensor_scale, float* products) {
  const __m256 ts = _mm256_set1_ps(tensor_scale);
  for (int c = 0; c < count; ++c) {
    // The same FP32 operations as the scalar reference: y = x * (1 / (scale * tensor_scale)),
    // q = (value * scale) * tensor_scale, (w * d) * d.
    const __m256 inv = _mm256_set1_ps(1.0f / (entry_scales[c] * tensor_scale));
    const __m256 scale = _mm256_set1_ps(entry_scales[c]);
    for (int j = 0; j < n; j += 8) {
      const __m256 xv = load8(x + j, n - j);
      const __m256 wv = load8(w + j, n - j);
      const __m256i rank = bucketed_rank8(_mm256_mul_ps(xv, inv), table);
      const __m256 v = _mm256_i32gather_ps(table.sorted_values, rank, 4);
      const __m256 d = _mm256_sub_ps(xv, _mm256_mul_ps(_mm256_mul_ps(v, scale), ts));
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

void bucketed_ranks_avx2(const float* x, int n, const BucketedTable& table, float inv, int* ranks) {
  const __m256 inv8 = _mm256_set1_ps(inv);
  for (int j = 0; j < n; j += 8) {
    const __m256i rank = bucketed_rank8(_mm256_mul_ps(load8(x + j, n - j), inv8), table);
    alignas(32) int tmp[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), rank);
    for (int i = 0; i < 8 && j + i < n; ++i) ranks[j + i] = tmp[i];
  }
}

#else

bool avx2_kernels_built() { return false; }
void bucketed_products_avx2(const float*, const float*, int, const BucketedTable&, const float*, int, float, float*) {}
void bucketed_ranks_avx2(const float*, int, const BucketedTable&, float, int*) {}
void block_products15_avx2(const float*, const float*, int, const float*, const float*, float, const float*, int, float,
                           float*) {}
void block_ranks15_avx2(const float*, int, const float*, float, int*) {}

#endif

}  // namespace sop::detail
