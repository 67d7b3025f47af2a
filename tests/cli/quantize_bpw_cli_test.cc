// `sop quantize --bpw` moves the knapsack's budget of a recipe, and refuses budgets it cannot meet.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

TEST(QuantizeCli, BpwOverridesTheRecipeBudget) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string recipe = std::string(SOP_SOURCE_DIR) + "/configs/quant/sop-4.5.yaml";
  const CommandResult r = run_sop("quantize --model '" + model + "' --recipe '" + recipe + "' --bpw 4.3 --out '" +
                                      dir.file("m.sop") + "' -q",
                                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("budget 4.3"), std::string::npos) << r.out;
  // "... weights at X bpw (budget ...": the knapsack stays within the new budget and uses it.
  const std::size_t at = r.out.find(" weights at ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const double bpw = std::stod(r.out.substr(at + 12));
  EXPECT_LE(bpw, 4.3);
  EXPECT_GT(bpw, 4.25);
  const CommandResult i = run_sop("inspect '" + dir.file("m.sop") + "'", dir);
  ASSERT_EQ(i.exit_code, 0) << i.err;
}

TEST(QuantizeCli, BpwBelowTheCheapestOptionIsRefused) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string recipe = std::string(SOP_SOURCE_DIR) + "/configs/quant/sop-4.5.yaml";
  const CommandResult r =
      run_sop("quantize --model '" + model + "' --recipe '" + recipe + "' --bpw 2.5 --out '" + dir.file("m.sop") + "'", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("budget.target_bpw"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sop-4.5.yaml"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.sop")));
}

// A budget at the cheapest option's nominal cost passes the recipe check but no plan meets it (the
// stored tables and per-tensor scales cost more): the planner's refusal names the recipe and its
// budget key, and says what the cheapest choice would need. Nothing is written.
TEST(QuantizeCli, ABudgetNoPlanMeetsIsRefusedNamingTheRecipeAndWhatItWouldNeed) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string recipe = dir.file("tight.yaml");
  std::ofstream(recipe) << "recipe: 1\nname: tight\nbudget: {target_bpw: 4.25}\noptions:\n"
                           "  - {block: 32, scale_format: sE4M3, select_bit: none, codebooks: [NF4], fitted: true}\n";
  const CommandResult r =
      run_sop("quantize --model '" + model + "' --recipe '" + recipe + "' --out '" + dir.file("m.sop") + "'", dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(recipe + ": budget.target_bpw: no per-layer choice fits 4.25 bpw on " + model +
                       ": its cheapest options need 4.2"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.sop")));
}

// A LUT too small for every option of a matrix is refused from the tensor shapes, before any menu is
// built (no planning progress), naming the matrix and why each layout does not fit.
TEST(QuantizeCli, ALutNoLayoutFitsIsRefusedBeforePlanning) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string recipe = std::string(SOP_SOURCE_DIR) + "/configs/quant/sop-4.5.yaml";
  const CommandResult r = run_sop("quantize --model '" + model + "' --recipe '" + recipe + "' --lut-sram-bytes 10 --out '" +
                                      dir.file("m.sop") + "'",
                                  dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(model + ": model.embed_tokens.weight: no layout of sop-4.5 fits a LUT SRAM of 10 bytes (g16 sE3M3|sel: "
                               "2 tables of 176 bits need 352 bits resident, the LUT holds 80"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("[plan "), std::string::npos) << "refused before planning: " << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.sop")));
}

}  // namespace
}  // namespace sop::testing
