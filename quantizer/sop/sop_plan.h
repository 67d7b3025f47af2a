// Whole-model planning for the SOP budget formats: every matrix's option menu (layouts x sparse
// budgets, each with its bits and weighted error) and the knapsack's choice under a bpw budget.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "quantizer/model_reader.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/knapsack.h"
#include "quantizer/sop/sop_search.h"

namespace sop {

struct SopBudgetSpec {
  std::string name;
  double target_bpw = 4.5;
  std::vector<SopLayout> layouts;        // the first that fits the LUT is the reference for the full pair search
  std::vector<double> sparse_fractions;  // sparse-residual budgets offered on top of every layout
  // What the recipe sets besides the menu (threads and the LUT limit come from the caller).
  int scale_steps = 1;
  golden::EntryFormat entry_format = golden::EntryFormat::Hif;
  int64_t lut_sram_bytes = 0;            // the recipe's LUT SRAM (0: no limit)
  std::string source;                    // the recipe file it came from, for errors (empty: none)
};

// A recipe's menu as a budget spec (a recipe without a budget: its one option at any bpw).
SopBudgetSpec budget_spec_of(const Recipe& recipe);
// The SOP layout one recipe option names, with the option's own codebooks.
SopLayout layout_of(const RecipeOption& option);

struct SopBudgetPlan {
  std::vector<std::string> names;                         // planned matrices
  // per matrix, the menu's (bits, weights x weighted error / weighted signal energy)
  std::vector<std::vector<KnapsackOption>> options;
  std::vector<std::vector<SopLayerRecipe>> recipes;       // per matrix, the same menu as recipes
  // per matrix: true when its errors were measured on a row sample (estimates; bits stay exact)
  std::vector<bool> estimated;
  KnapsackSolution solution;
  double total_weights = 0;
  double budget_bits = 0;
  // Shared table sets the chosen options use: how many, and their bits (in solution.bits, charged to
  // the first matrix of each set, whose recipe has stores_tables set).
  int shared_sets = 0;
  double shared_table_bits = 0;
  std::string summary() const;
};

// Called as each matrix's menu is done (from the planning threads, one call at a time): matrices
// done of total, and the one just finished.
using SopPlanProgress = std::function<void(std::size_t done, std::size_t total, const std::string& tensor)>;

// Reads one matrix at a time. importance: per-column E[x^2] used for every matrix whose column count
// matches it (empty: uniform); per_tensor (when given) overrides it for the matrices it names with a
// vector of the right length. Throws sop::Error when no selection fits the budget.
SopBudgetPlan plan_sop_budget(const ModelReader& model, const std::vector<std::string>& matrix_names,
                              const SopBudgetSpec& spec, Span<const float> importance,
                              const SopSearchOptions& options,
                              const std::map<std::string, std::vector<float>>* per_tensor = nullptr,
                              const SopPlanProgress& progress = {});

}  // namespace sop

namespace sop {
// The menus of "SOP-4.5", "SOP-5.0", "SOP-6.5" (throws sop::Error for other names).
SopBudgetSpec sop_budget_spec(const std::string& name);
}  // namespace sop
