#include "quantizer/pack/quantize_model.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "base/error.h"
#include "base/large_array.h"
#include "base/parallel.h"
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

// Budget recipes: the planner `sop eval` uses (quantizer/sop/sop_plan.h: every matrix's menu on a
// row sample of large matrices, each layout with and without each sparse budget, in parallel, then
// the knapsack), so the pack holds what `sop eval` measures. Menus keep only recipes (tables and
// counts), not results, so memory stays per matrix; the chosen recipe is re-applied when writing.
LayerPlan plan_with_budget(const ModelReader& model, const Recipe& recipe, const std::vector<std::string>& names,
                           const ActivationStats* stats, const SopSearchOptions& opts, const QuantizeProgress& progress) {
  LayerPlan plan;
  plan.names = names;
  if (names.empty()) return plan;
  SopBudgetSpec spec = budget_spec_of(recipe);
  std::map<std::string, std::vector<float>> per_tensor;
  if (stats != nullptr) per_tensor = stats->channels;
  SopPlanProgress plan_progress;
  if (progress) {
    progress("plan", 0, names.size(), "");
    plan_progress = [&](std::size_t done, std::size_t total, const std::string& tensor) { progress("plan", done, total, tensor); };
  }
  const SopBudgetPlan p = plan_sop_budget(model, names, spec, {}, opts, stats ? &per_tensor : nullptr, plan_progress);
  if (p.names.size() != names.size()) {
    throw Error(recipe.path, "options", "the planner left out matrices it was asked to plan");
  }
  const KnapsackSolution& s = p.solution;
  plan.gap = s.error > 0 ? s.gap() / s.error : 0;
  for (std::size_t g = 0; g < p.names.size(); ++g) plan.chosen.push_back(p.recipes[g][static_cast<std::size_t>(s.choice[g])]);
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
  // Shared tables are fitted per group by the planner, so a recipe with them plans even without a
  // budget (its options then compete at any bpw).
  const bool shares = std::any_of(recipe.options.begin(), recipe.options.end(),
                                  [](const RecipeOption& o) { return o.share_tables > 1; });
  if (recipe.target_bpw > 0 || shares) {
    plan = plan_with_budget(model, recipe, matrices, stats ? &*stats : nullptr, opts, progress);
  } else {
    plan.names = matrices;
  }

  QuantizeSummary summary;
  summary.knapsack_gap = plan.gap;
  PackWriter writer(request.out_path, info, opts.threads);
  std::size_t layer_index = 0;
  // The pack needs the codes and the error sums, not the reconstruction.
  SopSearchOptions write_opts = opts;
  write_opts.keep_dequant = false;
  // One tensor and one result at a time, each reusing the last one's storage, sized once for the
  // largest matrix (growing from a smaller one would touch new pages twice).
  Tensor source;
  SopLayerResult result;
  int64_t largest = 0;
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {  // classify() lists model.tensors() in order
    if (info.tensors[i].stored == PackedAs::Quantized) largest = std::max(largest, model.tensors()[i].element_count());
  }
  resize_for_overwrite(source.values, static_cast<std::size_t>(largest));
  resize_for_overwrite(result.codes, static_cast<std::size_t>(largest));
  if (progress) progress("quantize", 0, info.tensors.size(), "");
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {
    const PackTensorEntry& entry = info.tensors[i];
    if (entry.stored == PackedAs::Omitted) {
      summary.omitted.push_back(entry.name + ": " + entry.note);
      if (progress) progress("quantize", i + 1, info.tensors.size(), entry.name);
      continue;
    }
    model.read_into(entry.name, source, opts.threads);
    const Tensor& w = source;
    if (entry.stored == PackedAs::FullPrecision) {
      writer.add_tensor(w);
      summary.kept.push_back(entry.name);
      if (progress) progress("quantize", i + 1, info.tensors.size(), entry.name);
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
    const SopLayerResult& r = result = quantize_with_recipe(w, imp, layer_recipe, write_opts, &result);
    writer.add_layer(r);
    summary.layers.push_back({r.tensor_name, r.rows * r.cols, r.choice.option, r.choice.bits, r.choice.weighted_error,
                              r.signal, r.noise});
    summary.quantized_weights += r.rows * r.cols;
    summary.quantized_bits += r.choice.bits;
    if (progress) progress("quantize", i + 1, info.tensors.size(), entry.name);
  }
  writer.finish();
  summary.pack_bytes = writer.bytes_written();
  return summary;
}

}  // namespace sop
