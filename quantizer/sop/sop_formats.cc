#include "quantizer/sop/sop_formats.h"

#include <cctype>
#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

#include "base/error.h"
#include "quantizer/model_reader.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/anchors.h"
#include "quantizer/sop/builtin_recipes.h"
#include "quantizer/sop/knapsack.h"
#include "quantizer/sop/sop_plan.h"
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
  if (opts.lut_sram_bytes >= 0) s.lut.sram_bytes = opts.lut_sram_bytes;
  if (opts.lut_lanes > 0) s.lut.lanes = opts.lut_lanes;
  return s;
}

// A budget format's search: the caller's threads and LUT, the spec's (recipe's) other settings.
SopSearchOptions search_options(const QuantOptions& opts, const SopBudgetSpec& spec) {
  SopSearchOptions s = search_options(opts);
  s.scale_steps = spec.scale_steps;
  s.entry_format = spec.entry_format;
  if (opts.lut_sram_bytes < 0) s.lut.sram_bytes = spec.lut_sram_bytes;
  return s;
}

const char* select_name(SelectBitPlacement p) {
  switch (p) {
    case SelectBitPlacement::Stolen: return "stolen";
    case SelectBitPlacement::Beside: return "beside";
    default: return "none";
  }
}

// The option a matrix got, as the fields a reader of `sop eval --json` needs to reproduce it.
nlohmann::json choice_json(const SopLayerRecipe& recipe, const SopLayerResult& r) {
  nlohmann::json codebooks = nlohmann::json::array();
  for (const auto& n : recipe.table_names) codebooks.push_back(n);
  return {{"option", r.choice.option},
          {"block", recipe.layout.block},
          {"scale_format", recipe.layout.scale.name},
          {"select_bit", select_name(recipe.layout.scale.select)},
          {"code_bits", recipe.layout.code_bits},
          {"codebooks", codebooks},
          {"sparse_count", static_cast<int64_t>(r.sparse.size())},
          {"awq_alpha", recipe.awq_alpha},
          {"bits", r.choice.bits},
          {"weighted_error", r.choice.weighted_error}};
}

QuantResult to_quant_result(const SopLayerRecipe& recipe, SopLayerResult&& r) {
  QuantResult q;
  q.total_bits = r.choice.bits;
  q.detail = r.choice.option;
  q.choice = choice_json(recipe, r);
  q.dequant = std::move(r.dequant);
  return q;
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

// The budget formats are the recipes of configs/quant/ (embedded at build time): "SOP-4.5" is
// configs/quant/sop-4.5.yaml, so `sop eval --format SOP-4.5` plans what `sop quantize --recipe
// configs/quant/sop-4.5.yaml` writes.
const std::vector<SopBudgetSpec>& budget_specs() {
  static const std::vector<SopBudgetSpec> specs = [] {
    std::vector<SopBudgetSpec> out;
    for (const BuiltinRecipe& b : builtin_recipes()) {
      SopBudgetSpec s = budget_spec_of(parse_recipe(b.text, b.path));
      std::string name = s.name;  // "sop-4.5" -> "SOP-4.5"
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      s.name = name;
      out.push_back(std::move(s));
    }
    return out;
  }();
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
    return to_quant_result(recipe, quantize_with_recipe(w, imp, recipe, search));
  }

 private:
  const SingleLayerSpec& spec_;
  SopLayout layout_;
};

// The knapsack's problem and answer. Errors are in the knapsack's unit: per matrix, weights x relative
// weighted error (sum imp (W - What)^2 / sum imp W^2), summed over matrices.
nlohmann::json plan_json(const SopBudgetPlan& p) {
  const KnapsackSolution& s = p.solution;
  nlohmann::json layers = nlohmann::json::array();
  std::size_t estimated = 0;
  for (std::size_t g = 0; g < p.names.size(); ++g) {
    const auto o = static_cast<std::size_t>(s.choice[g]);
    layers.push_back({{"tensor", p.names[g]},
                      {"option_index", o},
                      {"options", p.options[g].size()},
                      {"option", describe_recipe(p.recipes[g][o])},
                      {"bits", p.options[g][o].bits},
                      {"error", p.options[g][o].error},
                      {"error_estimated", static_cast<bool>(p.estimated[g])}});
    if (p.estimated[g]) ++estimated;
  }
  return {{"solver", "multiple-choice knapsack: exact DP over the budget above every matrix's cheapest option "
                     "(20000 units, costs rounded up), Lagrangian relaxation for the lower bound"},
          {"budget_bpw", p.total_weights > 0 ? p.budget_bits / p.total_weights : 0.0},
          {"budget_bits", p.budget_bits},
          {"achieved_bits", s.bits},
          {"achieved_bpw", p.total_weights > 0 ? s.bits / p.total_weights : 0.0},
          {"total_error", s.error},
          {"lower_bound", s.lower_bound},
          {"gap", s.gap()},
          {"relative_gap", s.error > 0 ? s.gap() / s.error : 0.0},
          {"error_unit", "weights x relative weighted error, summed over matrices"},
          {"matrices", p.names.size()},
          {"matrices_with_estimated_errors", estimated},
          {"layers", layers}};
}

class SopBudgetFormat : public WeightFormat {
 public:
  explicit SopBudgetFormat(SopBudgetSpec spec) : spec_(std::move(spec)), layouts_(spec_.layouts) {}
  const SopBudgetSpec& spec() const { return spec_; }
  std::string name() const override { return spec_.name; }

  void plan(const ModelReader& model, const std::vector<std::string>& matrix_names,
            const QuantOptions& opts) override {
    const SopBudgetPlan p = plan_sop_budget(model, matrix_names, spec_, opts.channel_importance, search_options(opts, spec_),
                                            opts.tensor_importance.get());
    summary_ = p.summary();
    chosen_.clear();
    for (std::size_t g = 0; g < p.names.size(); ++g) {
      chosen_[p.names[g]] = p.recipes[g][static_cast<std::size_t>(p.solution.choice[g])];
    }
    plan_ = plan_json(p);
  }

  nlohmann::json describe_plan() const override { return plan_; }

  QuantResult quantize(const Tensor& w, const QuantOptions& opts) const override {
    const auto imp = importance_for(w, opts);
    const auto search = search_options(opts, spec_);
    SopLayerRecipe recipe;
    const auto it = chosen_.find(w.name);
    if (it != chosen_.end()) {
      recipe = it->second;
    } else {
      // Not planned (quantize() without plan()): the reference layout on its own.
      recipe = search_layer_pair(w, imp, layouts_.front(), 0.0, search);
    }
    QuantResult q = to_quant_result(recipe, quantize_with_recipe(w, imp, recipe, search));
    q.detail += summary_.empty() ? "" : " [" + summary_ + "]";
    if (it != chosen_.end()) q.choice["knapsack"] = true;
    return q;
  }

 private:
  SopBudgetSpec spec_;
  std::vector<SopLayout> layouts_;
  std::map<std::string, SopLayerRecipe> chosen_;
  std::string summary_;
  nlohmann::json plan_;  // null until plan()
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

SopBudgetSpec sop_budget_spec(const std::string& name) {
  for (const auto& s : budget_specs()) {
    if (name == s.name) return s;
  }
  throw Error("format", name, "not an SOP budget format");
}

std::unique_ptr<WeightFormat> make_sop_method_format(const std::string& name) {
  // "recipe:FILE.yaml": the recipe's menu and budget, planned as `sop quantize` plans it.
  static const std::string recipe_prefix = "recipe:";
  if (name.rfind(recipe_prefix, 0) == 0) {
    const Recipe recipe = load_recipe(name.substr(recipe_prefix.size()));
    if (!recipe.activation_stats.empty()) {
      throw Error(name, "activation_stats", "sop eval takes activation statistics from --activations, not the recipe");
    }
    SopBudgetSpec spec = budget_spec_of(recipe);
    spec.name = name;
    return std::make_unique<SopBudgetFormat>(std::move(spec));
  }
  for (const auto& s : single_layer_specs()) {
    if (name == s.name) return std::make_unique<SopSingleLayerFormat>(s);
  }
  for (const auto& s : budget_specs()) {
    if (name == s.name) return std::make_unique<SopBudgetFormat>(s);
  }
  return make_anchor_format(name);
}

}  // namespace sop
