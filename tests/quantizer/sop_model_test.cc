// SOP on real models: the 4.5 bpw claim against the anchors and the knapsack against uniform choices.
#include <cmath>

#include <gtest/gtest.h>

#include "quantizer/metrics.h"
#include "quantizer/model_reader.h"
#include "quantizer/sop/sop_formats.h"
#include "quantizer/sop/sop_plan.h"
#include "tests/test_support.h"

namespace sop {
namespace {

std::vector<std::string> matrix_names(const ModelReader& m) {
  std::vector<std::string> names;
  for (const auto& t : m.tensors()) if (t.is_matrix()) names.push_back(t.name);
  return names;
}

struct Totals {
  double err2 = 0, sig2 = 0, bits = 0, weights = 0;
  double sqnr_db() const { return 10 * std::log10(sig2 / err2); }
  double bpw() const { return bits / weights; }
};

Totals evaluate(const ModelReader& model, const std::string& format) {
  auto f = make_sop_method_format(format);
  const auto names = matrix_names(model);
  QuantOptions opts;
  f->plan(model, names, opts);
  Totals t;
  for (const auto& n : names) {
    const Tensor w = model.read(n);
    const QuantResult r = f->quantize(w, opts);
    for (std::size_t i = 0; i < w.values.size(); ++i) {
      const double d = static_cast<double>(w.values[i]) - r.dequant[i];
      t.err2 += d * d;
      t.sig2 += static_cast<double>(w.values[i]) * w.values[i];
    }
    t.bits += r.total_bits;
    t.weights += static_cast<double>(w.values.size());
  }
  return t;
}

TEST(SopModel, Sop45BeatsAnchorsOnStories260K) {
  SOP_REQUIRE_MODEL(path, "stories260K.safetensors");
  const auto model = open_model(path);
  const Totals sop = evaluate(*model, "SOP-4.5");
  EXPECT_LE(sop.bpw(), 4.5 + 1e-9);
  for (const char* anchor : {"NF4", "IQ4_NL", "NVFP4"}) {
    const Totals a = evaluate(*model, anchor);
    EXPECT_GT(sop.sqnr_db(), a.sqnr_db()) << anchor << " " << a.sqnr_db() << " dB vs SOP " << sop.sqnr_db();
  }
}

TEST(SopModel, KnapsackAt5BeatsEveryUniformChoice) {
  SOP_REQUIRE_MODEL(path, "stories260K.safetensors");
  const auto model = open_model(path);
  SopSearchOptions opt;
  const SopBudgetPlan plan = plan_sop_budget(*model, matrix_names(*model), sop_budget_spec("SOP-5.0"), {}, opt);
  ASSERT_TRUE(plan.solution.feasible);
  EXPECT_LE(plan.solution.bits, plan.budget_bits);
  EXPECT_GE(plan.solution.error, plan.solution.lower_bound - 1e-12);
  const std::size_t menu = plan.options.front().size();
  int feasible_uniform = 0;
  for (std::size_t o = 0; o < menu; ++o) {
    double bits = 0, error = 0;
    for (const auto& g : plan.options) {
      ASSERT_EQ(g.size(), menu);
      bits += g[o].bits;
      error += g[o].error;
    }
    if (bits > plan.budget_bits) continue;
    ++feasible_uniform;
    EXPECT_LT(plan.solution.error, error) << "uniform option " << o;
  }
  EXPECT_GT(feasible_uniform, 0);
}

}  // namespace
}  // namespace sop
