#include "quantizer/sop/sop_plan.h"

#include <cmath>
#include <sstream>

#include "quantizer/error.h"

namespace sop {

std::string SopBudgetPlan::summary() const {
  std::ostringstream out;
  const double bpw = total_weights > 0 ? solution.bits / total_weights : 0;
  out << bpw << " bpw over " << names.size() << " matrices, weighted error " << solution.error
      << ", Lagrangian bound " << solution.lower_bound << " (gap "
      << (solution.error > 0 ? 100 * solution.gap() / solution.error : 0) << "%)";
  return out.str();
}

SopBudgetPlan plan_sop_budget(const ModelReader& model, const std::vector<std::string>& matrix_names,
                              const SopBudgetSpec& spec, Span<const float> importance_all,
                              const SopSearchOptions& search) {
  std::vector<SopLayout> layouts;
  for (const auto& l : spec.layouts) layouts.push_back(parse_sop_layout(l));
  SopBudgetPlan plan;
  for (const auto& name : matrix_names) {
    const Tensor w = model.read(name);
    if (w.shape.size() < 2 || w.values.empty()) continue;
    const Span<const float> imp =
        static_cast<int64_t>(importance_all.size()) == w.cols() ? importance_all : Span<const float>();
    std::vector<KnapsackOption> options;
    std::vector<SopLayerRecipe> menu;
    const double alpha = choose_awq_alpha(w, imp, layouts.front(), default_awq_alphas(), search);
    // The knapsack compares layers by relative weighted error (1 - ACos, up to a factor of two) times
    // their weight count: raw squared errors would let the layers with the largest weights decide.
    double signal = 0;
    for (std::size_t i = 0; i < w.values.size(); ++i) {
      const double imp_j = imp.empty() ? 1.0 : imp[i % static_cast<std::size_t>(w.cols())];
      signal += imp_j * static_cast<double>(w.values[i]) * w.values[i];
    }
    const double error_unit = signal > 0 ? static_cast<double>(w.values.size()) / signal : 1.0;
    SopLayerRecipe reference;
    for (std::size_t li = 0; li < layouts.size(); ++li) {
      const SopLayout& layout = layouts[li];
      SopLayerRecipe recipe;
      if (li == 0) {
        recipe = reference = search_layer_pair(w, imp, layout, alpha, search);
      } else if (layout.code_bits == reference.layout.code_bits) {
        // The reference pair, refitted to this layout: the full pair search once per matrix.
        recipe = search_layer_pair(w, imp, layout, alpha, search, &reference);
      } else {
        recipe = search_layer_pair(w, imp, layout, alpha, search);
      }
      const SopLayerResult r = quantize_with_recipe(w, imp, recipe, search);
      options.push_back({r.choice.bits, r.choice.weighted_error * error_unit});
      menu.push_back(recipe);
      const double n = static_cast<double>(w.values.size());
      int64_t max_k = 0;
      for (double f : spec.sparse_fractions) max_k = std::max<int64_t>(max_k, std::llround(f * n));
      const auto gains = sparse_gains(w, imp, r, max_k);
      const int per_entry = r.sparse_index_bits + r.decode.entry_bits();
      for (double f : spec.sparse_fractions) {
        // Always offered (possibly with fewer entries) so every matrix has the same menu shape.
        const auto k = std::min<int64_t>(std::max<int64_t>(1, std::llround(f * n)), static_cast<int64_t>(gains.size()));
        double gain = 0;
        for (int64_t i = 0; i < k; ++i) gain += gains[static_cast<std::size_t>(i)];
        SopLayerRecipe with_sparse = recipe;
        with_sparse.sparse_count = k;
        options.push_back({r.choice.bits + static_cast<double>(k * per_entry),
                           std::max(0.0, r.choice.weighted_error - gain) * error_unit});
        menu.push_back(with_sparse);
      }
    }
    plan.options.push_back(std::move(options));
    plan.recipes.push_back(std::move(menu));
    plan.names.push_back(name);
    plan.total_weights += static_cast<double>(w.values.size());
  }
  if (plan.names.empty()) return plan;
  plan.budget_bits = spec.target_bpw * plan.total_weights;
  plan.solution = solve_knapsack_dp(plan.options, plan.budget_bits);
  if (!plan.solution.feasible) {
    throw Error(model.path(), spec.name, "no per-layer choice fits " + std::to_string(spec.target_bpw) + " bpw");
  }
  return plan;
}

}  // namespace sop
