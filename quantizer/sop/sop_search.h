// The SOP per-layer search: codebook pairs with a per-block selection bit, per-layer fitted DD4 tables,
// signed block scales, optional per-input-channel factors c and a sparse residual.
#pragma once

#include <string>
#include <vector>

#include "quantizer/sop/block_quant.h"
#include "quantizer/sop/lut_capacity.h"
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
  // > 0: one fitted table per group of this many rows (the block's row picks it; no selector).
  int64_t rows_per_table = 0;
  // > 1: the tables are fitted once for a group of this many consecutive matrices and stored once for
  // the group (search_shared_tables); the menu of each member counts only a reference to them.
  int share_group = 0;

  bool has_select() const { return scale.select != SelectBitPlacement::None; }
  // Tables a block chooses among: 2^select_bits with a selector, else 1 (per row group: 1 per group).
  int table_count() const { return has_select() ? 1 << scale.select_bits : 1; }
};

// Named layouts: "g16 sE3M3|sel" (select stolen: sign + E3M3 + select = 8 bits), "g16 sE4M3+sel"
// (select beside: 9 bits), "g32 sE4M3" (no pair), "g16 E2M3 UE4M4" (6-bit atoms), ... The grammar:
// g<block> <s?E<e>M<m>> then "|sel" (stolen), "+sel" (beside) or nothing, and for 6-bit atoms the
// element formats before the scale ("E2M3", or "E2M3/E3M2" for a pair). A digit after "sel" widens the
// selector: "g32 sE4M3+sel3" chooses among 8 tables per block (3 bits beside the scale). A trailing
// "rows<R>" gives one fitted table to each group of R rows instead: "g32 sE4M3 rows128", "g32 sE4M3 rows1"
// (a table per row, as any4 does). A trailing "shared<N>" fits the tables once for each group of N
// consecutive matrices: "g32 sE4M3+sel3 shared7".
SopLayout parse_sop_layout(const std::string& name);

struct SopSearchOptions {
  int scale_steps = 1;              // scale codes tried either side of amax / cb_max
  int refit_iterations = 2;         // assign-and-refit rounds for pairs with DD4 tables
  int fit_max_blocks = 32768;       // blocks sampled (evenly) for a DD4 histogram
  // The pair search (which tables, DD4 fits, select assignments) runs on evenly spaced rows holding
  // at most this many blocks; the chosen tables then quantize every block. 0: search on every row.
  int64_t search_max_blocks = 65536;
  // Histogram bins of a DD4 fit over a whole layer (a row group's fit uses fewer: see fit_group_table).
  int fit_bins = 4096;
  // The LUT the tables must fit (menus drop the layouts that cannot run in it): lut_capacity.h.
  LutCapacity lut;
  golden::EntryFormat entry_format = golden::EntryFormat::Hif;
  int threads = 0;
  // quantize_with_recipe keeps the reconstruction (SopLayerResult::dequant). A writer that needs only
  // the codes and the error sums turns it off: where the layer has no sparse residual and no c, the
  // reconstruction then lives a piece at a time (dequant left empty), with the same sums.
  bool keep_dequant = true;
};

// What it takes to reproduce a layer's quantization exactly: the tables (real values before LUT
// rounding), the c exponent and the sparse budget.
struct SopLayerRecipe {
  SopLayout layout;
  // One per table the blocks choose among (layout.table_count()). With layout.rows_per_table > 0, one
  // table that starts every row group's fit (the groups' own tables are fitted by quantize_with_recipe).
  std::vector<std::string> table_names;
  std::vector<std::vector<float>> tables;      // each 16 or 64 values by code
  double awq_alpha = 0;                        // c_j = (imp_j / mean imp)^(-alpha/2); 0: no c
  int64_t sparse_count = 0;
  // Shared tables (layout.share_group > 1): the table set's number in the plan, and whether this
  // matrix stores them (the first of its group to use them) or refers to the one that does.
  int64_t table_group = -1;
  bool stores_tables = true;
};

// Runs the pair search at `layout` on w (importance: per-column E[x^2], or empty for uniform) and
// returns the recipe of the best pair (sparse_count 0). When `hint` is given, its tables are reused
// (DD4 tables refitted once for this layout) instead of searching every pair. A layout with more than
// two tables grows the best pair one fitted table at a time (a k-means over tables: each new DD4 table
// starts on the blocks the others serve worst, then every block goes to its best table and every fitted
// table is refitted on its blocks). A row-group layout returns the best single table as the groups' start.
SopLayerRecipe search_layer_pair(const Tensor& w, Span<const float> importance, const SopLayout& layout,
                                 double awq_alpha, const SopSearchOptions& options,
                                 const SopLayerRecipe* hint = nullptr);

// One table set for a group of matrices that share it (layout.share_group > 1): the search of
// search_layer_pair at `layout`, with uniform importance, on the full blocks of evenly spaced rows of
// every member (about search_max_blocks in all, split evenly), laid side by side as one matrix of
// single-block rows. Members too narrow for one full block add nothing; throws sop::Error if none is
// wide enough. The recipe's awq_alpha is 0: each member sets its own.
SopLayerRecipe search_shared_tables(const std::vector<const Tensor*>& members, const SopLayout& layout,
                                    const SopSearchOptions& options);

// Bits of a layer's stored tables as layer_bits counts them (fitted tables at the entry width, a fixed
// one as its 8-bit id), whether or not this layer stores them.
double stored_table_bits(const SopLayerResult& r);
// The same count for the tables of a recipe (not row groups): what a shared table set costs.
double recipe_table_bits(const SopLayerRecipe& recipe, int entry_bits);

// Quantizes w with a recipe's tables (no search beyond the per-block scale and select bit) and applies
// its sparse residual. The result's dequant is what the golden decode produces. `recycled`, a result
// no longer needed, lends its per-weight arrays' storage, so a loop over a model's matrices touches
// no new pages after the largest.
SopLayerResult quantize_with_recipe(const Tensor& w, Span<const float> importance, const SopLayerRecipe& recipe,
                                    const SopSearchOptions& options, SopLayerResult* recycled = nullptr);

// The per-weight errors of a result and, sorted best first, how much each added sparse residual
// would remove: error_after(k) = weighted_error - sum of the first k gains.
std::vector<double> sparse_gains(const Tensor& w, Span<const float> importance, const SopLayerResult& r,
                                 int64_t max_count, int threads = 1);

// Row i of a sample of `keep` out of `rows` rows: the middle row of the i-th of `keep` equal bands.
inline int64_t sampled_row(int64_t i, int64_t keep, int64_t rows) { return (2 * i + 1) * rows / (2 * keep); }

// Those rows of w, as a [keep, cols] tensor with w's name.
Tensor sample_rows(const Tensor& w, int64_t keep);

// A recipe in one line: "g16 sE3M3|sel pair(NF4,DD4) sparse 120".
std::string describe_recipe(const SopLayerRecipe& recipe);

// Bits of one LUT entry in this format (HIF: golden::kHif's 11, FP16: 16).
int lut_entry_bits(golden::EntryFormat format);

// Bits one sparse entry costs in a layer of `weights` weights with entries of `entry_bits`.
int sparse_index_bits(int64_t weights);

// Total bits of a layer result (codes, scales, select bits, stored tables, per-tensor scale, sparse).
// A layer that refers to another's shared tables counts a 32-bit reference instead of them.
double layer_bits(const SopLayerResult& r);

// Bits of the row-group tables a layout adds for the rows of a matrix a menu did not measure (its row
// sample holds measured_rows of rows): 0 for other layouts.
double unmeasured_table_bits(const SopLayout& layout, int64_t rows, int64_t measured_rows, int entry_bits);

// c exponents tried when activation statistics are given.
std::vector<double> default_awq_alphas();

// Chooses c's exponent for a layer: the alpha with the lowest weighted error for a quick single-table
// quantization at `layout`. Returns 0 for uniform importance.
double choose_awq_alpha(const Tensor& w, Span<const float> importance, const SopLayout& layout,
                        const std::vector<double>& alphas, const SopSearchOptions& options);

}  // namespace sop
