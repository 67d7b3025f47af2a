#include "quantizer/sop/sop_formats.h"

#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

#include "quantizer/error.h"
#include "quantizer/model_reader.h"
#include "quantizer/sop/anchors.h"
#include "quantizer/sop/knapsack.h"
#include "quantizer/sop/sop_search.h"

namespace sop {
namespace {

Span<const float> importance_for(const Tensor& w, const QuantOptions& opts) {
  if (static_cast<int64_t>(opts.channel_importance.size()) == w.cols()) return opts.channel_importance;
  return {};
}

SopSearchOptions search_options(const QuantOptions& opts) {
  SopSearchOptions s;
  s.threads = opts.threads;
  return s;
}

struct SingleLayerSpec {
  const char* name;
  const char* layout;
  const char* description;
};

// Single-layer SOP formats: one layout for every matrix, full pair search.
const std::vector<SingleLayerSpec>& single_layer_specs() {
  static const std::vector<SingleLayerSpec> specs = {
      {"SOP-pair@g16", "g16 sE3M3|sel",
       "SOP pair search, block 16, signed E3M3 scale with the select bit stolen (8 bits/block)"},
      {"SOP-pair@g16-E4M2", "g16 sE4M2|sel",
       "SOP pair search, block 16, signed E4M2 scale with the select bit stolen (8 bits/block)"},
      {"SOP-pair@g16+sel", "g16 sE4M3+sel",
       "SOP pair search, block 16, signed E4M3 scale with the select bit beside (9 bits/block)"},
      {"SOP-pair@g32", "g32 sE4M3+sel", "SOP pair search, block 32, signed E4M3 scale + select bit"},
      {"SOP-single@g16", "g16 sE4M3", "SOP best single table (fixed or DD4), block 16, signed E4M3 scale"},
      {"SOP-E2M3@g16", "g16 E2M3 UE4M4", "E2M3 atoms through the LUT, block 16, UE4M4 scale"},
  };
  return specs;
}

struct BudgetSpec {
  const char* name;
  double target_bpw;
  std::vector<std::string> layouts;  // the first is the reference for the full pair search
  std::vector<double> sparse_fractions;
};

const std::vector<BudgetSpec>& budget_specs() {
  static const std::vector<std::string> four_bit = {"g16 sE3M3|sel", "g32 sE4M3", "g32 sE4M3+sel",
                                                    "g16 sE4M3+sel", "g8 sE3M3|sel", "g8 sE4M3+sel"};
  static const std::vector<BudgetSpec> specs = {
      {"SOP-4.5", 4.5, four_bit, {0.002, 0.01}},
      {"SOP-5.0", 5.0, four_bit, {0.002, 0.01}},
      {"SOP-6.5", 6.5,
       {"g16 sE3M3|sel", "g8 sE3M3|sel", "g8 sE4M3+sel", "g32 E2M3 UE4M4", "g16 E2M3 UE4M4",
        "g16 E2M3/E3M2 UE4M3|sel", "g8 E2M3 UE4M4"},
       {0.002, 0.01}},
  };
  return specs;
}

class SopSingleLayerFormat : public WeightFormat {
 public:
  explicit SopSingleLayerFormat(const SingleLayerSpec& spec) : spec_(spec), layout_(parse_sop_layout(spec.layout)) {}
  std::string name() const override { return spec_.name; }
  QuantResult quantize(const Tensor& w, const QuantOptions& opts) const override {
    const auto imp = importance_for(w, opts);
    const auto search = search_options(opts);
    const double alpha = choose_awq_alpha(w, imp, layout_, default_awq_alphas(), search);
    const SopLayerRecipe recipe = search_layer_pair(w, imp, layout_, alpha, search);
    SopLayerResult r = quantize_with_recipe(w, imp, recipe, search);
    QuantResult q;
    q.dequant = std::move(r.dequant);
    q.total_bits = r.choice.bits;
    q.detail = r.choice.option;
    return q;
  }

 private:
  const SingleLayerSpec& spec_;
  SopLayout layout_;
};

class SopBudgetFormat : public WeightFormat {
 public:
  explicit SopBudgetFormat(const BudgetSpec& spec) : spec_(spec) {
    for (const auto& l : spec.layouts) layouts_.push_back(parse_sop_layout(l));
  }
  std::string name() const override { return spec_.name; }

  void plan(const ModelReader& model, const std::vector<std::string>& matrix_names,
            const QuantOptions& opts) override {
    const auto search = search_options(opts);
    std::vector<std::vector<KnapsackOption>> groups;
    std::vector<std::vector<SopLayerRecipe>> menus;
    double total_weights = 0;
    for (const auto& name : matrix_names) {
      const Tensor w = model.read(name);
      if (w.shape.size() < 2 || w.values.empty()) continue;
      const auto imp = importance_for(w, opts);
      std::vector<KnapsackOption> options;
      std::vector<SopLayerRecipe> menu;
      const double alpha = choose_awq_alpha(w, imp, layouts_.front(), default_awq_alphas(), search);
      SopLayerRecipe reference;
      for (std::size_t li = 0; li < layouts_.size(); ++li) {
        const SopLayout& layout = layouts_[li];
        SopLayerRecipe recipe;
        if (li == 0) {
          recipe = reference = search_layer_pair(w, imp, layout, alpha, search);
        } else if (layout.code_bits == reference.layout.code_bits) {
          // Reuse the reference pair; a layout without a select bit keeps the better table.
          recipe = search_layer_pair(w, imp, layout, alpha, search, &reference);
        } else {
          recipe = search_layer_pair(w, imp, layout, alpha, search);
        }
        const SopLayerResult r = quantize_with_recipe(w, imp, recipe, search);
        options.push_back({r.choice.bits, r.choice.weighted_error});
        menu.push_back(recipe);
        const double n = static_cast<double>(w.values.size());
        int64_t max_k = 0;
        for (double f : spec_.sparse_fractions) max_k = std::max<int64_t>(max_k, std::llround(f * n));
        const auto gains = sparse_gains(w, imp, r, max_k);
        const int per_entry = r.sparse_index_bits + r.decode.entry_bits();
        for (double f : spec_.sparse_fractions) {
          const auto k = std::min<int64_t>(std::llround(f * n), static_cast<int64_t>(gains.size()));
          if (k <= 0) continue;
          double gain = 0;
          for (int64_t i = 0; i < k; ++i) gain += gains[static_cast<std::size_t>(i)];
          SopLayerRecipe with_sparse = recipe;
          with_sparse.sparse_count = k;
          options.push_back({r.choice.bits + static_cast<double>(k * per_entry), std::max(0.0, r.choice.weighted_error - gain)});
          menu.push_back(with_sparse);
        }
      }
      groups.push_back(std::move(options));
      menus.push_back(std::move(menu));
      names_.push_back(name);
      total_weights += static_cast<double>(w.values.size());
    }
    if (groups.empty()) return;
    const double budget = spec_.target_bpw * total_weights;
    const KnapsackSolution s = solve_knapsack_dp(groups, budget);
    if (!s.feasible) {
      throw Error(model.path(), spec_.name, "no per-layer choice fits " + std::to_string(spec_.target_bpw) + " bpw");
    }
    std::ostringstream summary;
    summary << spec_.name << ": " << s.bits / total_weights << " bpw, weighted error " << s.error
            << ", Lagrangian bound " << s.lower_bound << " (gap " << (s.error > 0 ? 100 * s.gap() / s.error : 0)
            << "%)";
    summary_ = summary.str();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      chosen_[names_[g]] = menus[g][static_cast<std::size_t>(s.choice[g])];
    }
    last_solution_ = s;
    menus_ = std::move(groups);
  }

  QuantResult quantize(const Tensor& w, const QuantOptions& opts) const override {
    const auto imp = importance_for(w, opts);
    const auto search = search_options(opts);
    SopLayerRecipe recipe;
    const auto it = chosen_.find(w.name);
    if (it != chosen_.end()) {
      recipe = it->second;
    } else {
      // Not planned (quantize() without plan()): the reference layout on its own.
      recipe = search_layer_pair(w, imp, layouts_.front(), 0.0, search);
    }
    SopLayerResult r = quantize_with_recipe(w, imp, recipe, search);
    QuantResult q;
    q.dequant = std::move(r.dequant);
    q.total_bits = r.choice.bits;
    q.detail = r.choice.option + (summary_.empty() ? "" : " [" + summary_ + "]");
    return q;
  }

 private:
  const BudgetSpec& spec_;
  std::vector<SopLayout> layouts_;
  std::vector<std::string> names_;
  std::map<std::string, SopLayerRecipe> chosen_;
  std::vector<std::vector<KnapsackOption>> menus_;
  KnapsackSolution last_solution_;
  std::string summary_;
};

}  // namespace

std::vector<WeightFormatListing> sop_method_format_listings() {
  std::vector<WeightFormatListing> out;
  for (const auto& s : single_layer_specs()) {
    const SopLayout l = parse_sop_layout(s.layout);
    out.push_back({s.name, s.description, l.code_bits + static_cast<double>(l.scale.bits_per_block()) / l.block});
  }
  for (const auto& s : budget_specs()) {
    out.push_back({s.name, "SOP: per-layer pair search + knapsack promotion under a " +
                               std::to_string(s.target_bpw).substr(0, 3) + " bpw model budget",
                   s.target_bpw});
  }
  for (auto& a : anchor_format_listings()) out.push_back(std::move(a));
  return out;
}

std::unique_ptr<WeightFormat> make_sop_method_format(const std::string& name) {
  for (const auto& s : single_layer_specs()) {
    if (name == s.name) return std::make_unique<SopSingleLayerFormat>(s);
  }
  for (const auto& s : budget_specs()) {
    if (name == s.name) return std::make_unique<SopBudgetFormat>(s);
  }
  return make_anchor_format(name);
}

}  // namespace sop
