// The AVX2 build of the block search's 16-entry lane kernels (block_quant_avx2.cc); block_quant.cc
// dispatches to them at run time. Not for other callers: use fit_block / encode_block.
#pragma once

namespace sop::detail {

// False when this program was built for a target without them (not x86-64).
bool avx2_kernels_built();

// block_quant_lanes.inc's block_products<15> and block_ranks<15> on 8 lanes.
void block_products15_avx2(const float* x, const float* w, int n, const float* midpoints, const float* steps,
                           float smallest, const float* entry_scales, int count, float tensor_scale, float* products);
void block_ranks15_avx2(const float* x, int n, const float* midpoints, float inv, int* ranks);

// The bucketed rank (LutCodebook::bucketed_rank) on 8 lanes with gathers: the per-weight products
// w_j (x_j - q_j)^2 at `count` signed scales, and the ranks at one inverse scale. buckets: five
// 32-bit words per bucket (four float midpoints, then the first index).
struct BucketedTable {
  const void* buckets;
  float low, inverse_width, last;
  const float* sorted_values;
};
void bucketed_products_avx2(const float* x, const float* w, int n, const BucketedTable& table, const float* entry_scales,
                            int count, float tensor_scale, float* products);
void bucketed_ranks_avx2(const float* x, int n, const BucketedTable& table, float inv, int* ranks);

// The minifloat-grid rank (LutCodebook::grid_rank) on 8 lanes, by arithmetic alone.
struct GridTable {
  int mantissa_bits, step_exponent, first_binade_exponent, max_binade, max_index, zero_rank;
  float max_value;
};
void grid_products_avx2(const float* x, const float* w, int n, const GridTable& grid, const float* entry_scales,
                        int count, float tensor_scale, float* products);
void grid_ranks_avx2(const float* x, int n, const GridTable& grid, float inv, int* ranks);

}  // namespace sop::detail
