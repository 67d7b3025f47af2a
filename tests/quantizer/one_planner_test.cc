// Issue 15: one SOP. `sop eval --format SOP-4.5` and `sop quantize --recipe configs/quant/sop-4.5.yaml`
// are one definition (the built-in format is that recipe, embedded at build time) planned by one
// planner, so the weights eval measures are the pack's, bit for bit.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/sop_plan.h"
#include "quantizer/weight_format.h"
#include "tests/quantizer/pack_test_support.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using testing::same_bits;
using testing::TempDir;

const std::string kSource = SOP_SOURCE_DIR;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The built-in format's menu is the recipe's, option for option (the embedded text is the file's).
TEST(OneSop, BuiltInBudgetFormatsAreTheRecipesOfConfigsQuant) {
  for (const char* name : {"sop-4.5", "sop-5.0", "sop-6.5"}) {
    const Recipe recipe = load_recipe(kSource + "/configs/quant/" + name + ".yaml");
    const SopBudgetSpec from_file = budget_spec_of(recipe);
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const SopBudgetSpec built_in = sop_budget_spec(upper);
    EXPECT_EQ(built_in.target_bpw, from_file.target_bpw) << name;
    ASSERT_EQ(built_in.layouts.size(), from_file.layouts.size()) << name;
    for (std::size_t i = 0; i < built_in.layouts.size(); ++i) {
      EXPECT_EQ(built_in.layouts[i].name, from_file.layouts[i].name) << name << " option " << i;
      EXPECT_EQ(built_in.layouts[i].fixed_codebooks, from_file.layouts[i].fixed_codebooks) << name << " option " << i;
    }
    EXPECT_EQ(built_in.sparse_fractions, from_file.sparse_fractions) << name;
    EXPECT_FALSE(read_file(kSource + "/configs/quant/" + name + ".yaml").empty());
  }
  // g12, g20 and g24 are recipe options now (they were built-in only).
  std::vector<std::string> names;
  for (const SopLayout& l : sop_budget_spec("SOP-4.5").layouts) names.push_back(l.name);
  for (const char* want : {"g12 sE3M3|sel", "g20 sE3M3|sel", "g24 sE3M3|sel", "g8 sE3M3|sel", "g16 sE3M3|sel"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

// The weights `sop eval --format SOP-4.5` measures (the format's plan, then each matrix quantized)
// are the pack's decoded weights, bit for bit, on a real model; eval on one thread, quantize on two
// (the plan does not depend on the thread count).
TEST(OneSop, EvalOfTheBuiltInFormatAndTheDequantizedPackAreBitIdentical) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  const auto model = open_model(model_path);
  const std::vector<std::string> names = matrix_names(*model, "");

  auto format = make_weight_format("SOP-4.5");
  QuantOptions qopts;
  qopts.threads = 1;
  format->plan(*model, names, qopts);
  std::map<std::string, std::vector<float>> evaluated;
  for (const std::string& name : names) {
    const Tensor w = model->read(name);
    evaluated[name] = format->quantize(w, options_for_tensor(qopts, name, w.cols())).dequant;
  }

  TempDir dir;
  QuantizeRequest request;
  request.model_path = model_path;
  request.out_path = dir.file("sop45.sop");
  request.threads = 2;
  quantize_model_to_pack(*model, load_recipe(kSource + "/configs/quant/sop-4.5.yaml"), request);
  const PackFile pack = PackFile::open(request.out_path);
  std::size_t compared = 0;
  for (const PackedLayerView& layer : pack.layers()) {
    ASSERT_TRUE(evaluated.count(layer.name)) << layer.name;
    EXPECT_TRUE(same_bits(dequantize_layer(layer), evaluated[layer.name])) << layer.name;
    ++compared;
  }
  EXPECT_EQ(compared, names.size());
}

}  // namespace
}  // namespace sop
