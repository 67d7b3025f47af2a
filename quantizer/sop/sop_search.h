// The SOP per-layer search: codebook pairs with a per-block selection bit, per-layer fitted DD4 tables,
// signed block scales, optional per-input-channel factors c and a sparse residual.
#pragma once

#include <string>
#include <vector>

#include "quantizer/sop/block_quant.h"
#include "quantizer/sop/sop_layer.h"
#include "base/span.h"
#include "quantizer/tensor.h"

namespace sop {

// The structural choices of one menu entry.
struct SopLayout {
  std::string name;                 // "g16 sE3M3|sel", shown in reports
  int block = 16;
  SopScaleLayout scale;
  int code_bits = 4;                // 4: 16-entry tables; 6: 64-entry atoms
  std::vector<std::string> fixed_codebooks;  // offered to the pair search
  bool fitted_codebooks = true;     // DD4 tables (4-bit layouts with a signed scale only)

  bool has_select() const { return scale.select != SelectBitPlacement::None; }
};

// Named layouts: "g16 sE3M3|sel" (select stolen: sign + E3M3 + select = 8 bits), "g16 sE4M3+sel"
// (select beside: 9 bits), "g32 sE4M3" (no pair), "g16 E2M3 UE4M4" (6-bit atoms), ... The grammar:
// g<block> <s?E<e>M<m>> then "|sel" (stolen), "+sel" (beside) or nothing, and for 6-bit atoms the
// element formats before the scale ("E2M3", or "E2M3/E3M2" for a pair).
SopLayout parse_sop_layout(const std::string& name);

struct SopSearchOptions {
  int scale_steps = 1;              // scale codes tried either side of amax / cb_max
  int refit_iterations = 2;         // assign-and-refit rounds for pairs with DD4 tables
  int fit_max_blocks = 32768;       // blocks sampled (evenly) for a DD4 histogram
  // The pair search (which tables, DD4 fits, select assignments) runs on evenly spaced rows holding
  // at most this many blocks; the chosen tables then quantize every block. 0: search on every row.
  int64_t search_max_blocks = 65536;
  golden::EntryFormat entry_format = golden::EntryFormat::Hif;
  int threads = 0;
};

// What it takes to reproduce a layer's quantization exactly: the tables (real values before LUT
// rounding), the c exponent and the sparse budget.
struct SopLayerRecipe {
  SopLayout layout;
  std::vector<std::string> table_names;        // one or two
  std::vector<std::vector<float>> tables;      // one or two, each 16 or 64 values by code
  double awq_alpha = 0;                        // c_j = (imp_j / mean imp)^(-alpha/2); 0: no c
  int64_t sparse_count = 0;
};

// Runs the pair search at `layout` on w (importance: per-column E[x^2], or empty for uniform) and
// returns the recipe of the best pair (sparse_count 0). When `hint` is given, its tables are reused
// (DD4 tables refitted once for this layout) instead of searching every pair.
SopLayerRecipe search_layer_pair(const Tensor& w, Span<const float> importance, const SopLayout& layout,
                                 double awq_alpha, const SopSearchOptions& options,
                                 const SopLayerRecipe* hint = nullptr);

// Quantizes w with a recipe's tables (no search beyond the per-block scale and select bit) and applies
// its sparse residual. The result's dequant is what the golden decode produces.
SopLayerResult quantize_with_recipe(const Tensor& w, Span<const float> importance, const SopLayerRecipe& recipe,
                                    const SopSearchOptions& options);

// The per-weight errors of a result and, sorted best first, how much each added sparse residual
// would remove: error_after(k) = weighted_error - sum of the first k gains.
std::vector<double> sparse_gains(const Tensor& w, Span<const float> importance, const SopLayerResult& r,
                                 int64_t max_count);

// Row i of a sample of `keep` out of `rows` rows: the middle row of the i-th of `keep` equal bands.
inline int64_t sampled_row(int64_t i, int64_t keep, int64_t rows) { return (2 * i + 1) * rows / (2 * keep); }

// Those rows of w, as a [keep, cols] tensor with w's name.
Tensor sample_rows(const Tensor& w, int64_t keep);

// A recipe in one line: "g16 sE3M3|sel pair(NF4,DD4) sparse 120".
std::string describe_recipe(const SopLayerRecipe& recipe);

// Bits one sparse entry costs in a layer of `weights` weights with entries of `entry_bits`.
int sparse_index_bits(int64_t weights);

// Total bits of a layer result (codes, scales, select bits, stored tables, per-tensor scale, sparse).
double layer_bits(const SopLayerResult& r);

// c exponents tried when activation statistics are given.
std::vector<double> default_awq_alphas();

// Chooses c's exponent for a layer: the alpha with the lowest weighted error for a quick single-table
// quantization at `layout`. Returns 0 for uniform importance.
double choose_awq_alpha(const Tensor& w, Span<const float> importance, const SopLayout& layout,
                        const std::vector<double>& alphas, const SopSearchOptions& options);

}  // namespace sop
