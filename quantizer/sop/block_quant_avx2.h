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

// fit_block and encode_block (or fit_block alone) of eight blocks at once, one block per lane:
// the blocks' weights transposed so that each lane sums its own block's errors in weight order, as
// the scalar reference does, with no horizontal sums. The scale search is the reference's: the
// nearest magnitude to |signed max| / target_divisor (a lower bound over the magnitudes, then the
// nearer neighbour), the codes from max(1, centre - steps) to max(lo, min(last, centre + steps))
// that have a nonzero magnitude, in code order, the first strictly smaller error winning.
struct GridBlocks8 {
  const float* x[8];
  const float* w[8];
  bool unit_weights;         // every w is 1 (w is then not read)
  int n;                     // weights per block: a multiple of 4 up to 32
  float* q[8];               // reconstructions (entry * scale) * tensor_scale; null: fit only
  unsigned char* codes[8];   // table codes (with q)
  unsigned* scale_codes;     // 8 consecutive
  float* errors;             // 8 consecutive: each block's error at its scale (fit_block's); may be null
};
struct ScaleTable {
  const float* magnitudes;   // by magnitude code, non-decreasing
  int count;                 // last magnitude code + 1
  float target_divisor;      // the table's largest positive entry x the tensor scale
  float tensor_scale;
  int steps;                 // 0..8
  bool signed_scale;         // a negative signed max gives a negative scale
  unsigned sign_bit;
};
// False (and nothing written) when a block needs the scalar path: an all-zero block, or one whose
// candidates never improved on +inf.
// code_of_rank: 64 bytes, the code of each rank (LutCodebook::sorted_code), zero past the last.
bool grid_fit_encode8_avx2(const GridBlocks8& blocks, const GridTable& grid, const unsigned char* code_of_rank,
                           const ScaleTable& scales);
// The same for a 16-entry table through its lane search (LutCodebook::search_midpoints, 15 sorted
// midpoints padded with +inf, and its sorted values padded to 16; steps_exact() tables only).
struct Table16 {
  const float* midpoints;      // 15
  const float* sorted_values;  // 16
};
bool table16_fit_encode8_avx2(const GridBlocks8& blocks, const Table16& table, const unsigned char* code_of_rank,
                              const ScaleTable& scales);

}  // namespace sop::detail
