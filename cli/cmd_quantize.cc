// sop quantize: a checkpoint and a recipe in, a pack file out (docs/pack-format.md, docs/recipes.md).
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/options.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/quantize_model.h"
#include "base/error.h"
#include "quantizer/recipe.h"

namespace sop::cli {

int run_quantize(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path;
  std::string recipe_path;
  std::string out_path;
  int threads = -1;
  long long lut_sram_bytes = -1;
  int lut_lanes = 0;
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(),
       "checkpoint: .safetensors, sharded index.json, .gguf, directory, or synthetic:<spec>")
      ("recipe", po::value<std::string>(&recipe_path)->required(), "recipe YAML, e.g. configs/quant/sop-4.5.yaml")
      ("out", po::value<std::string>(&out_path)->required(), "output pack file (.sop)")
      ("threads", po::value<int>(&threads)->default_value(-1), "worker threads (-1: the recipe's, 0: all cores)")
      ("bpw", po::value<double>(), "override the recipe's budget.target_bpw (recipes with a menu of options)")
      ("lut-sram-bytes", po::value<long long>(&lut_sram_bytes)->default_value(-1),
       "the decode unit's LUT SRAM: only options whose tables fit (or stream through) it are offered "
       "(-1: the recipe's lut_sram_bytes, 0: no limit)")
      ("lut-lanes", po::value<int>(&lut_lanes)->default_value(0),
       "lanes of the decode unit, for the reload stalls of streamed row-group tables (0: 8)")
      ("quiet,q", "no progress lines");
  add_max_memory_option(desc);
  po::variables_map vm;
  if (auto code = parse_options("quantize", "--model PATH --recipe FILE.yaml --out FILE.sop", desc, args, vm)) {
    return *code;
  }
  // The recipe is read and validated before the model is touched, so a bad key costs nothing.
  Recipe recipe = load_recipe(recipe_path);
  if (vm.count("bpw")) {
    const double bpw = vm["bpw"].as<double>();
    if (recipe.target_bpw <= 0) {
      throw Error(recipe_path, "budget.target_bpw", "--bpw needs a recipe with a budget and a menu of options");
    }
    double cheapest = 1e9;
    for (const auto& o : recipe.options) cheapest = std::min(cheapest, o.nominal_bpw());
    if (!(bpw >= cheapest) || bpw > RecipeLimits::kMaxBpw) {
      std::ostringstream msg;
      msg << "--bpw " << bpw << " is out of range: this recipe's options need " << cheapest << " to "
          << RecipeLimits::kMaxBpw << " bpw";
      throw Error(recipe_path, "budget.target_bpw", msg.str());
    }
    recipe.target_bpw = bpw;
  }
  if (lut_sram_bytes < -1 || lut_sram_bytes > RecipeLimits::kMaxLutSramBytes) {
    throw Error("--lut-sram-bytes", std::to_string(lut_sram_bytes), "out of range (-1, 0 for no limit, or up to 2^32 bytes)");
  }
  if (lut_lanes < 0 || lut_lanes > 4096) throw Error("--lut-lanes", std::to_string(lut_lanes), "out of range (0 to 4096)");
  int usage_error = 0;
  const auto model = open_model_with_budget("quantize", model_path, vm, &usage_error);
  if (!model) return usage_error;
  const bool quiet = vm.count("quiet") != 0;
  const auto start = std::chrono::steady_clock::now();

  QuantizeRequest request;
  request.model_path = model_path;
  request.out_path = out_path;
  request.threads = threads;
  request.lut_sram_bytes = lut_sram_bytes;
  request.lut_lanes = lut_lanes;
  request.created_by = "sop quantize";
  // Progress per tensor with an ETA from the weights left in the stage (tensors differ in size by
  // orders of magnitude, so a count of tensors would mislead).
  std::map<std::string, double> weights_of;
  double all_weights = 0, matrix_weights = 0;
  for (const TensorInfo& t : model->tensors()) {
    weights_of[t.name] = static_cast<double>(t.element_count());
    all_weights += weights_of[t.name];
    if (t.is_matrix()) matrix_weights += weights_of[t.name];
  }
  auto stage_start = start;
  double stage_done = 0;
  const QuantizeSummary s = quantize_model_to_pack(
      *model, recipe, request, [&](const char* stage, std::size_t done, std::size_t total, const std::string& name) {
        const auto now = std::chrono::steady_clock::now();
        if (name.empty()) {  // a stage starts
          stage_start = now;
          stage_done = 0;
          return;
        }
        stage_done += weights_of.count(name) ? weights_of[name] : 0;
        if (quiet) return;
        const double stage_weights = std::string(stage) == "plan" ? matrix_weights : all_weights;
        const double elapsed = std::chrono::duration<double>(now - stage_start).count();
        const double seconds = std::chrono::duration<double>(now - start).count();
        std::cerr << "  [" << stage << " " << done << "/" << total << ", " << std::fixed << std::setprecision(1) << seconds
                  << " s";
        if (stage_done > 0 && done < total) {
          std::cerr << ", ETA " << elapsed * std::max(0.0, stage_weights - stage_done) / stage_done << " s";
        }
        std::cerr << "] " << name << "\n";
        std::cerr.unsetf(std::ios::fixed);
      });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::cout << "wrote " << out_path << " (" << s.pack_bytes << " bytes) with recipe " << recipe.name << " in "
            << std::setprecision(3) << seconds << " s\n";
  std::cout << "  quantized " << s.layers.size() << " matrices, " << s.quantized_weights << " weights at "
            << std::fixed << std::setprecision(4) << s.bpw() << " bpw";
  if (recipe.target_bpw > 0) {
    std::cout << " (budget " << recipe.target_bpw << ", knapsack gap " << std::setprecision(3)
              << 100 * s.knapsack_gap << "%)";
  }
  std::cout << "\n  SQNR " << std::setprecision(2) << s.sqnr_db() << " dB over the quantized weights\n";
  std::cout.unsetf(std::ios::fixed);
  std::cout << "  kept in FP32: " << s.kept.size() << " tensors; omitted: " << s.omitted.size() << "\n";
  for (const auto& o : s.omitted) std::cout << "    omitted " << o << "\n";
  return 0;
}

}  // namespace sop::cli
