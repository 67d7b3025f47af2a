#include "quantizer/pack/quantize_model.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "base/error.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/sop/activation_stats.h"
#include "quantizer/sop/knapsack.h"
#include "quantizer/sop/sop_plan.h"

namespace sop {

namespace {

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

bool keep_by_recipe(const Recipe& recipe, const std::string& name) {
  return std::any_of(recipe.keep_full_precision.begin(), recipe.keep_full_precision.end(),
                     [&](const std::string& s) { return name.find(s) != std::string::npos; });
}

// What happens to each source tensor, decided up front: the pack's model section lists them all.
std::vector<PackTensorEntry> classify(const ModelReader& model, const Recipe& recipe) {
  std::vector<PackTensorEntry> out;
  for (const auto& t : model.tensors()) {
    PackTensorEntry e{t.name, t.shape, PackedAs::Quantized, ""};
    if (!is_float_type(t.dtype)) {
      e.stored = PackedAs::Omitted;
      e.note = "stored type " + (t.dtype_label.empty() ? std::string(dtype_name(t.dtype)) : t.dtype_label) +
               (t.dtype == DType::Quantized
                    ? " is already quantized and is not quantized again (`sop eval --reference` measures a "
                      "quantized checkpoint against its original)"
                    : " is not a float type this tool reads");
    } else if (!t.is_matrix() || keep_by_recipe(recipe, t.name) || t.element_count() == 0) {
      e.stored = PackedAs::FullPrecision;
      if (t.shape.size() > 2) e.note = "more than two dimensions";
      else if (t.is_matrix()) e.note = "kept by keep_full_precision";
    }
    out.push_back(std::move(e));
  }
  return out;
}

struct LayerPlan {
  std::vector<std::string> names;            // matrices to quantize, source order
  std::vector<SopLayerRecipe> chosen;        // one per name
  double gap = 0;
};

// One matrix's importance (E[x_j^2] per input column) if the recipe's statistics cover it.
std::vector<float> importance_of(const ActivationStats* stats, const Tensor& w) {
  if (stats == nullptr) return {};
  const std::vector<float>* v = stats->find(w.name);
  if (v == nullptr || static_cast<int64_t>(v->size()) != w.cols()) return {};
  return *v;
}

double awq_alpha_of(const Tensor& w, Span<const float> importance, const SopLayout& layout, const SopSearchOptions& opts) {
  if (importance.empty()) return 0.0;
  return choose_awq_alpha(w, importance, layout, default_awq_alphas(), opts);
}

int64_t sparse_count_of(double fraction, int64_t weights) {
  return static_cast<int64_t>(std::llround(fraction * static_cast<double>(weights)));
}

// Budget recipes: every matrix's menu (each option, with and without each sparse budget) as
// (bits, error), then the knapsack. Menus keep only recipes (tables and counts), not results, so
// memory stays per-layer; the chosen recipe is re-applied when writing.
LayerPlan plan_with_budget(const ModelReader& model, const Recipe& recipe, const std::vector<std::string>& names,
                           const std::vector<SopLayout>& layouts, const ActivationStats* stats,
                           const SopSearchOptions& opts, const QuantizeProgress& progress) {
  std::vector<std::vector<KnapsackOption>> groups;
  std::vector<std::vector<SopLayerRecipe>> menus;
  double weights = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (progress) progress("plan", i, names.size(), names[i]);
    const Tensor w = model.read(names[i]);
    const std::vector<float> imp = importance_of(stats, w);
    const double alpha = awq_alpha_of(w, imp, layouts.front(), opts);
    // Errors enter the knapsack relative to the layer's weighted signal energy, times its weight
    // count (as sop_plan.cc does): raw squared errors would let the layers with the largest weights
    // take the whole budget.
    double signal = 0;
    for (std::size_t k = 0; k < w.values.size(); ++k) {
      const double imp_j = imp.empty() ? 1.0 : imp[k % static_cast<std::size_t>(w.cols())];
      signal += imp_j * static_cast<double>(w.values[k]) * w.values[k];
    }
    const double error_unit = signal > 0 ? static_cast<double>(w.values.size()) / signal : 1.0;
    std::vector<KnapsackOption> options;
    std::vector<SopLayerRecipe> menu;
    std::string refused;
    for (const SopLayout& layout : layouts) {
      const LutDemand lut = lut_demand(layout, w.rows(), w.cols(), lut_entry_bits(opts.entry_format), opts.lut);
      if (!lut.fits) {
        refused += (refused.empty() ? "" : "; ") + layout.name + ": " + lut.reason;
        continue;
      }
      const SopLayerRecipe base = search_layer_pair(w, imp, layout, alpha, opts);
      const SopLayerResult r = quantize_with_recipe(w, imp, base, opts);
      // Reload stalls of streamed tables are charged as bits (lut_capacity.h), counted in the budget.
      const double bits = r.choice.bits + lut.charged_bits;
      options.push_back({bits, r.choice.weighted_error * error_unit});
      menu.push_back(base);
      int64_t most = 0;
      for (double f : recipe.sparse_fractions) most = std::max(most, sparse_count_of(f, static_cast<int64_t>(w.values.size())));
      if (most == 0) continue;
      const std::vector<double> gains = sparse_gains(w, imp, r, most);
      const int entry_cost = r.sparse_index_bits + r.decode.entry_bits();
      for (double f : recipe.sparse_fractions) {
        const int64_t k = std::min<int64_t>(sparse_count_of(f, static_cast<int64_t>(w.values.size())),
                                            static_cast<int64_t>(gains.size()));
        if (k <= 0) continue;
        double gain = 0;
        for (int64_t g = 0; g < k; ++g) gain += gains[static_cast<std::size_t>(g)];
        SopLayerRecipe with_sparse = base;
        with_sparse.sparse_count = k;
        options.push_back({bits + static_cast<double>(k * entry_cost),
                           std::max(0.0, r.choice.weighted_error - gain) * error_unit});
        menu.push_back(with_sparse);
      }
    }
    if (options.empty()) {
      throw Error(recipe.path, "lut_sram_bytes",
                  names[i] + ": no option fits a LUT SRAM of " + std::to_string(opts.lut.sram_bytes) + " bytes (" + refused + ")");
    }
    groups.push_back(std::move(options));
    menus.push_back(std::move(menu));
    weights += static_cast<double>(w.values.size());
  }
  LayerPlan plan;
  plan.names = names;
  if (names.empty()) return plan;
  const KnapsackSolution s = solve_knapsack_dp(groups, recipe.target_bpw * weights);
  if (!s.feasible) {
    throw Error(recipe.path, "budget.target_bpw",
                "no choice of options fits " + std::to_string(recipe.target_bpw) + " bpw for this model");
  }
  plan.gap = s.error > 0 ? s.gap() / s.error : 0;
  for (std::size_t g = 0; g < groups.size(); ++g) plan.chosen.push_back(menus[g][static_cast<std::size_t>(s.choice[g])]);
  return plan;
}

}  // namespace

double QuantizeSummary::sqnr_db() const {
  double signal = 0, noise = 0;
  for (const auto& l : layers) {
    signal += l.signal;
    noise += l.noise;
  }
  return noise > 0 ? 10 * std::log10(signal / noise) : 200.0;
}

QuantizeSummary quantize_model_to_pack(const ModelReader& model, const Recipe& recipe, const QuantizeRequest& request,
                                       const QuantizeProgress& progress) {
  const std::vector<SopLayout> layouts = budget_spec_of(recipe).layouts;
  SopSearchOptions opts;
  opts.scale_steps = recipe.scale_steps;
  opts.entry_format = recipe.lut_format == "FP16" ? golden::EntryFormat::Fp16 : golden::EntryFormat::Hif;
  opts.threads = request.threads >= 0 ? request.threads : recipe.threads;
  opts.lut.sram_bytes = request.lut_sram_bytes >= 0 ? request.lut_sram_bytes : recipe.lut_sram_bytes;
  if (request.lut_lanes > 0) opts.lut.lanes = request.lut_lanes;

  std::optional<ActivationStats> stats;
  if (!recipe.activation_stats.empty()) {
    stats = load_activation_stats(recipe.activation_stats);
    check_activation_stats_fit(*stats, recipe.activation_stats, model.tensors());
  }

  PackModelInfo info;
  info.created_by = request.created_by;
  info.source = request.model_path;
  info.recipe_name = recipe.name;
  info.recipe_path = recipe.path;
  info.recipe_text = recipe.text;
  info.tensors = classify(model, recipe);

  std::vector<std::string> matrices;
  for (const auto& t : info.tensors) {
    if (t.stored == PackedAs::Quantized) matrices.push_back(t.name);
  }

  LayerPlan plan;
  if (recipe.target_bpw > 0) {
    plan = plan_with_budget(model, recipe, matrices, layouts, stats ? &*stats : nullptr, opts, progress);
  } else {
    plan.names = matrices;
  }

  QuantizeSummary summary;
  summary.knapsack_gap = plan.gap;
  PackWriter writer(request.out_path, info);
  std::size_t layer_index = 0;
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {
    const PackTensorEntry& entry = info.tensors[i];
    if (progress) progress("quantize", i, info.tensors.size(), entry.name);
    if (entry.stored == PackedAs::Omitted) {
      summary.omitted.push_back(entry.name + ": " + entry.note);
      continue;
    }
    const Tensor w = model.read(entry.name);
    if (entry.stored == PackedAs::FullPrecision) {
      writer.add_tensor(w);
      summary.kept.push_back(entry.name);
      continue;
    }
    const std::vector<float> imp = importance_of(stats ? &*stats : nullptr, w);
    SopLayerRecipe layer_recipe;
    if (!plan.chosen.empty()) {
      layer_recipe = plan.chosen[layer_index];
    } else {
      const SopLayout& layout = layouts.front();
      const LutDemand lut = lut_demand(layout, w.rows(), w.cols(), lut_entry_bits(opts.entry_format), opts.lut);
      if (!lut.fits) throw Error(recipe.path, "lut_sram_bytes", entry.name + ": " + layout.name + ": " + lut.reason);
      layer_recipe = search_layer_pair(w, imp, layout, awq_alpha_of(w, imp, layout, opts), opts);
      if (!recipe.sparse_fractions.empty()) {
        layer_recipe.sparse_count = sparse_count_of(recipe.sparse_fractions.front(), static_cast<int64_t>(w.values.size()));
      }
    }
    ++layer_index;
    const SopLayerResult r = quantize_with_recipe(w, imp, layer_recipe, opts);
    writer.add_layer(r);
    double signal = 0, noise = 0;
    for (std::size_t k = 0; k < w.values.size(); ++k) {
      const double d = static_cast<double>(w.values[k]) - r.dequant[k];
      signal += static_cast<double>(w.values[k]) * w.values[k];
      noise += d * d;
    }
    summary.layers.push_back({r.tensor_name, r.rows * r.cols, r.choice.option, r.choice.bits, r.choice.weighted_error,
                              signal, noise});
    summary.quantized_weights += r.rows * r.cols;
    summary.quantized_bits += r.choice.bits;
  }
  if (progress) progress("quantize", info.tensors.size(), info.tensors.size(), "");
  writer.finish();
  summary.pack_bytes = writer.bytes_written();
  return summary;
}

}  // namespace sop
