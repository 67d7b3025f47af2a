// The inner loop of the SOP method: quantizing blocks of g consecutive weights along a row against a
// LUT table with a signed (or unsigned) block scale, searching a few scale codes around the ideal one.
//
// All values that reach a decoded weight come from the golden decode's number formats: table entries
// are rounded to the LUT entry format (HIF) when the table is built, scales are golden scale codes,
// and a weight is (entry * scale, exact) * tensor_scale in FP32, so what is measured here is what the
// hardware produces.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "model/golden/decode.h"
#include "base/span.h"

namespace sop {

// A codebook rounded to the LUT entry format and prepared for nearest-entry search.
class LutCodebook {
 public:
  LutCodebook() = default;
  // real_values: 16 or 64 values indexed by code; each is rounded with golden::encode_entry.
  LutCodebook(std::string name, const golden::DecodeConfig& cfg, Span<const float> real_values);

  const std::string& name() const { return name_; }
  int size() const { return static_cast<int>(values_.size()); }
  float value(int code) const { return values_[static_cast<std::size_t>(code)]; }
  uint32_t entry_code(int code) const { return entries_[static_cast<std::size_t>(code)]; }
  const std::vector<float>& values() const { return values_; }
  const std::vector<uint32_t>& entry_codes() const { return entries_; }
  float max_positive() const { return max_positive_; }
  // The code whose value is nearest to y (ties go to the lower value).
  int nearest_code(float y) const {
    int k = 0;
    if (midpoints_.size() <= 15) {
      for (float m : midpoints_) k += y > m ? 1 : 0;  // branch-free; the compiler unrolls it
    } else {
      std::size_t lo = 0, hi = midpoints_.size();
      while (lo < hi) {
        const std::size_t mid = (lo + hi) / 2;
        if (y > midpoints_[mid]) lo = mid + 1; else hi = mid;
      }
      k = static_cast<int>(lo);
    }
    return code_of_sorted_[static_cast<std::size_t>(k)];
  }
  // The code of the rank-th smallest distinct value (rank = how many midpoints lie below y).
  int sorted_code(int rank) const { return code_of_sorted_[static_cast<std::size_t>(rank)]; }
  int distinct_count() const { return static_cast<int>(code_of_sorted_.size()); }
  // For the lane search (block_quant.cc): the sorted midpoints padded with +inf to 15 (tables of up
  // to 16 entries) or 63 (up to 64), and the steps between consecutive distinct sorted values (0 for
  // padding). Starting from the smallest value and adding the step of every midpoint below y gives
  // the value of nearest_code(y); steps_exact() says whether those float sums reproduce every value
  // bit for bit (true for every HIF table).
  int search_midpoint_count() const { return static_cast<int>(search_midpoints_.size()); }
  const float* search_midpoints() const { return search_midpoints_.data(); }
  const float* search_steps() const { return search_steps_.data(); }
  float smallest_value() const { return smallest_value_; }
  bool steps_exact() const { return steps_exact_; }
  // The value of the rank-th smallest distinct entry.
  float sorted_value(int rank) const { return sorted_values_[static_cast<std::size_t>(rank)]; }

  // Rank search in O(1) for larger tables (64-entry atoms): the midpoints' range cut into buckets
  // no wider than the smallest gap between two midpoints, each holding the four consecutive
  // midpoints from the last one below it; a rank is the bucket's first index plus the compares
  // against those four. The constructor checks it against the binary search at every midpoint and
  // its neighbouring floats, and leaves it off (bucketed() false) when a bucket would hold more, the
  // table has more than kMaxBuckets of them, or a check fails.
  static constexpr int kMaxBuckets = 4096;
  bool bucketed() const { return !buckets_.empty(); }
  // Rank search by arithmetic for tables that are a symmetric minifloat grid (the E2M3 and E3M2
  // atoms at any power-of-two scale): the values 0, +-k u for k < 2^(M+1), then binades of 2^M
  // values whose step doubles, up to the largest. A value's rank follows from its FP32 exponent and
  // a rounding of |y| / step, with ties to the lower value as nearest_code breaks them. The
  // constructor recognizes the grid and checks it against the binary search as for the buckets.
  struct FloatGrid {
    int mantissa_bits = 0;       // M
    int step_exponent = 0;       // FP32 exponent field of the smallest step u
    int first_binade_exponent = 0;  // FP32 exponent field of 2^M u, where the step first doubles
    int max_binade = 0;          // binade of the largest value (0: the uniform one)
    int max_index = 0;           // index of the largest value among the positive ones (0 is zero)
    int zero_rank = 0;           // rank of 0 among the sorted values
    float max_value = 0;
  };
  bool float_grid() const { return has_grid_; }
  const FloatGrid& grid() const { return grid_; }
  // float_grid() only: the same rank as nearest_code's midpoint count for every float y (NaN: 0).
  int grid_rank(float y) const {
    if (y != y) return 0;
    float a = std::fabs(y);  // -0 too: its sign bit would read as an exponent
    a = a < 2 * grid_.max_value ? a : 2 * grid_.max_value;
    uint32_t bits;
    std::memcpy(&bits, &a, sizeof bits);
    int j = static_cast<int>(bits >> 23) - grid_.first_binade_exponent;
    j = j < 0 ? 0 : (j > grid_.max_binade ? grid_.max_binade : j);
    const auto inverse_step_bits = static_cast<uint32_t>(254 - (grid_.step_exponent + j)) << 23;
    float inverse_step;
    std::memcpy(&inverse_step, &inverse_step_bits, sizeof inverse_step);
    const float kf = a * inverse_step;  // exact: a power-of-two scaling
    const int k0 = static_cast<int>(kf);
    const float frac = kf - static_cast<float>(k0);
    const bool negative = std::signbit(y);
    int index = k0 + ((frac > 0.5f || (negative && frac == 0.5f)) ? 1 : 0) + (j << grid_.mantissa_bits);
    index = index < grid_.max_index ? index : grid_.max_index;
    return negative ? grid_.zero_rank - index : grid_.zero_rank + index;
  }

  // The buckets as the AVX2 kernel gathers them: five 32-bit words each, four float midpoints then
  // the first index (an int).
  struct BucketView {
    const void* words;
    float low, inverse_width, last;
    const float* sorted_values;
  };
  BucketView bucket_view() const {
    return {buckets_.data(), bucket_low_, bucket_inverse_width_, bucket_last_, sorted_values_.data()};
  }
  // bucketed() only: the same rank as nearest_code's midpoint count for every float y (NaN: 0).
  int bucketed_rank(float y) const {
    float t = (y - bucket_low_) * bucket_inverse_width_;
    t = t >= 0 ? t : 0;  // also NaN
    t = t < bucket_last_ ? t : bucket_last_;
    const RankBucket& b = buckets_[static_cast<std::size_t>(static_cast<int>(t))];  // via int: one cvttss2si
    return b.first + (y > b.midpoints[0]) + (y > b.midpoints[1]) + (y > b.midpoints[2]) + (y > b.midpoints[3]);
  }

 private:
  void build_buckets();
  void find_float_grid();

  std::string name_;
  std::vector<float> values_;           // decoded entries, by code
  std::vector<uint32_t> entries_;       // entry-format codes, by code
  std::vector<float> midpoints_;        // between consecutive distinct sorted values
  std::vector<int> code_of_sorted_;     // code of the i-th distinct sorted value
  std::vector<float> search_midpoints_;
  std::vector<float> search_steps_;
  std::vector<float> sorted_values_;    // distinct values, ascending
  struct RankBucket {
    float midpoints[4];  // midpoints first .. first + 3 (+inf past the last)
    int first;
  };
  std::vector<RankBucket> buckets_;
  float bucket_low_ = 0, bucket_inverse_width_ = 0, bucket_last_ = 0;
  FloatGrid grid_;
  bool has_grid_ = false;
  float smallest_value_ = 0;
  bool steps_exact_ = false;
  float max_positive_ = 0;
};

// The block scale grid: every magnitude code's value, and the search around the ideal scale.
class ScaleGrid {
 public:
  ScaleGrid() = default;
  // tensor_scale multiplies every decoded block scale (1 when the layout has no per-tensor scale).
  ScaleGrid(const golden::ScaleFormat& format, float tensor_scale);

  const golden::ScaleFormat& format() const { return format_; }
  float tensor_scale() const { return tensor_scale_; }
  uint32_t max_magnitude_code() const { return max_magnitude_code_; }
  float magnitude(uint32_t magnitude_code) const { return magnitudes_[magnitude_code]; }  // exact, no tensor scale
  float max_magnitude() const { return magnitudes_[max_magnitude_code_]; }
  const float* magnitudes() const { return magnitudes_.data(); }  // by magnitude code, non-decreasing
  // Nearest magnitude code to a (in scale-format units, i.e. already divided by the tensor scale).
  uint32_t nearest_magnitude_code(float a) const;
  // The full golden scale code for a magnitude code and sign.
  uint32_t scale_code(uint32_t magnitude_code, bool negative) const;

 private:
  golden::ScaleFormat format_{};
  float tensor_scale_ = 1;
  uint32_t max_magnitude_code_ = 0;
  std::vector<float> magnitudes_;
};

// The largest per-tensor FP32 scale that keeps every block scale in range: the layer's largest
// |weight| / (cb_max * the format's largest scale). 1 for formats that need none.
float per_tensor_scale(Span<const float> weights, float cb_max, const golden::ScaleFormat& format, int threads = 1);

struct ScaleSearch {
  int steps = 1;        // scale codes tried either side of the ideal one
  bool is_signed = true;  // the sign of the largest-magnitude element goes into the scale
};

struct BlockFit {
  float error = 0;       // sum_j weight_j (x_j - q_j)^2 at the best scale
  uint32_t scale_code = 0;
};

// Which code finds the nearest entries: Auto picks the fastest the CPU runs (AVX2 8 lanes for
// 16-entry tables when the CPU has it, else 4 SSE2 lanes; the bucketed rank for 64-entry tables);
// Baseline never uses AVX2; Reference is the scalar search through nearest_code(). All give the
// same codes and errors bit for bit (tests/quantizer/sop_block_search_test.cc).
enum class SearchKernel { Auto, Baseline, Reference };
// Whether Auto uses the AVX2 kernels on this CPU (built for x86-64 and the CPU reports AVX2).
bool avx2_search_available();

// Best scale for one block (n weights x with per-weight error weights w) against one codebook. The
// per-weight errors are summed in weight order, as the reference does.
BlockFit fit_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   const ScaleSearch& search, SearchKernel kernel = SearchKernel::Auto);

// The same search one weight at a time through nearest_code(): the scalar reference for fit_block.
BlockFit fit_block_reference(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                             const ScaleSearch& search);

// Codes and reconstruction of a block at a given scale code: q = (entry * scale) * tensor_scale, FP32.
// Returns the weighted error.
float encode_block(const float* x, const float* w, int n, const LutCodebook& cb, const ScaleGrid& grid,
                   uint32_t scale_code, uint8_t* codes, float* q, SearchKernel kernel = SearchKernel::Auto);

// The decoded value of one entry at one scale code, exactly as the golden decode forms it.
inline float decoded_weight(const golden::DecodeConfig& cfg, uint32_t entry, uint32_t scale_code,
                            float tensor_scale) {
  return golden::to_float(golden::multiply(cfg, entry, scale_code)) * tensor_scale;
}

// A matrix seen as blocks of g along each row. Blocks are numbered row-major; the last block of a row
// may be shorter than g.
struct BlockedMatrix {
  const float* values = nullptr;       // [rows, cols], what is quantized (W / c when c is used)
  const float* col_weight = nullptr;   // [cols] error weight per column (importance x c^2), never null
  int64_t rows = 0;
  int64_t cols = 0;
  int block = 16;

  int64_t blocks_per_row() const { return (cols + block - 1) / block; }
  int64_t block_count() const { return rows * blocks_per_row(); }
  int64_t block_begin_col(int64_t b) const { return (b % blocks_per_row()) * block; }
  int block_length(int64_t b) const {
    const int64_t begin = block_begin_col(b);
    return static_cast<int>(std::min<int64_t>(block, cols - begin));
  }
  const float* block_values(int64_t b) const { return values + (b / blocks_per_row()) * cols + block_begin_col(b); }
  const float* block_weights(int64_t b) const { return col_weight + block_begin_col(b); }
};

// fit_block then encode_block at the scale it found, for blocks [begin, end) of m: scale_codes[b]
// for block b, codes and q at the block's place in the matrix (offsets from m.values). The same
// codes, scale codes and reconstructions as the two calls bit for bit; for minifloat-grid and
// 16-entry tables on AVX2 eight blocks go through one kernel, a block per lane (blocks of a
// multiple of 4 up to 32).
void fit_encode_blocks(const BlockedMatrix& m, int64_t begin, int64_t end, const LutCodebook& cb, const ScaleGrid& grid,
                       const ScaleSearch& search, uint32_t* scale_codes, uint8_t* codes, float* q,
                       SearchKernel kernel = SearchKernel::Auto);

// For blocks [begin, end): fit_block against each table, the first with the strictly lowest error
// chosen (select[b] = its index), then encode_block with it, as a block-by-block loop would.
void fit_select_encode_blocks(const BlockedMatrix& m, int64_t begin, int64_t end, Span<const LutCodebook> tables,
                              const ScaleGrid& grid, const ScaleSearch& search, uint32_t* scale_codes, uint8_t* select,
                              uint8_t* codes, float* q);

// fit_block over every block (out.size() == block_count()), split between threads.
void fit_all_blocks(const BlockedMatrix& m, const LutCodebook& cb, const ScaleGrid& grid,
                    const ScaleSearch& search, Span<BlockFit> out, int threads);

}  // namespace sop
