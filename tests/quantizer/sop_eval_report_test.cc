// `sop eval` reporting for SOP formats: every row carries the option chosen for its matrix, and the
// budget formats' summary carries the knapsack's problem, answer and bound.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"
#include "quantizer/sop/sop_plan.h"

namespace sop {
namespace {

TEST(SopEvalReport, RowsCarryTheChoiceAndTheSummaryTheKnapsack) {
  const auto model = open_model("synthetic:llm?dim=64&hidden=96&layers=2");
  const EvalReport report = evaluate_model(*model, {"SOP-4.5", "SOP-pair@g16", "NF4"}, EvalOptions{});
  const nlohmann::json j = report_to_json(report);

  std::map<std::string, std::string> chosen;  // tensor -> option, from the SOP-4.5 rows
  for (const auto& row : j.at("results")) {
    const std::string format = row.at("format");
    if (format == "NF4") {
      EXPECT_FALSE(row.contains("choice"));
      continue;
    }
    ASSERT_TRUE(row.contains("choice")) << format;
    const auto& c = row.at("choice");
    for (const char* key : {"option", "block", "scale_format", "select_bit", "codebooks", "sparse_count", "bits"}) {
      EXPECT_TRUE(c.contains(key)) << key;
    }
    EXPECT_NEAR(c.at("bits").get<double>() / (row.at("shape")[0].get<double>() * row.at("shape")[1].get<double>()),
                row.at("bpw").get<double>(), 1e-12);
    if (format == "SOP-4.5") chosen[row.at("tensor")] = c.at("option");
    if (format == "SOP-pair@g16") {
      EXPECT_EQ(c.at("block"), 16);
      EXPECT_EQ(c.at("select_bit"), "stolen");
      EXPECT_EQ(c.at("codebooks").size(), 2u);
    }
  }
  ASSERT_EQ(chosen.size(), 14u);  // 7 matrices per layer

  for (const auto& s : j.at("summary")) {
    if (s.at("format") != "SOP-4.5") {
      EXPECT_FALSE(s.contains("plan")) << s.at("format");
      continue;
    }
    const auto& p = s.at("plan");
    EXPECT_DOUBLE_EQ(p.at("budget_bpw").get<double>(), 4.5);
    EXPECT_LE(p.at("achieved_bits").get<double>(), p.at("budget_bits").get<double>());
    EXPECT_NEAR(p.at("achieved_bpw").get<double>(), s.at("bpw").get<double>(), 1e-9);
    EXPECT_LE(p.at("lower_bound").get<double>(), p.at("total_error").get<double>() + 1e-9);
    EXPECT_GE(p.at("relative_gap").get<double>(), 0.0);
    ASSERT_EQ(p.at("layers").size(), chosen.size());
    double bits = 0;
    for (const auto& layer : p.at("layers")) {
      // The plan's pick is the option the matrix was quantized with.
      EXPECT_EQ(layer.at("option").get<std::string>(), chosen.at(layer.at("tensor").get<std::string>()));
      EXPECT_FALSE(layer.at("error_estimated").get<bool>());  // small matrices are measured whole
      bits += layer.at("bits").get<double>();
    }
    EXPECT_NEAR(bits, p.at("achieved_bits").get<double>(), 1e-6 * bits);
  }
}

TEST(SopEvalReport, SampledMenusHaveExactBitsAndMarkTheirErrorsEstimated) {
  const auto model = open_model("synthetic:llm?dim=64&hidden=96&layers=1");
  const auto names = matrix_names(*model, "");
  SopSearchOptions search;
  search.search_max_blocks = 200;  // smaller than every matrix at g8: all are measured on a sample
  const SopBudgetPlan plan = plan_sop_budget(*model, names, sop_budget_spec("SOP-4.5"), {}, search);
  ASSERT_EQ(plan.names.size(), names.size());
  for (std::size_t g = 0; g < plan.names.size(); ++g) {
    EXPECT_TRUE(plan.estimated[g]) << plan.names[g];
    const Tensor w = model->read(plan.names[g]);
    for (std::size_t o = 0; o < plan.recipes[g].size(); ++o) {
      if (plan.recipes[g][o].sparse_count > 0) continue;
      // The sample's bits scaled to the whole matrix are the whole matrix's bits.
      EXPECT_DOUBLE_EQ(plan.options[g][o].bits, quantize_with_recipe(w, {}, plan.recipes[g][o], search).choice.bits)
          << plan.names[g] << " option " << o;
    }
  }
  EXPECT_TRUE(plan.solution.feasible);
  EXPECT_LE(plan.solution.bits, plan.budget_bits);
}

}  // namespace
}  // namespace sop
