// `sop generate`, `sop calibrate` and `sop eval --downstream` on the real stories260K model.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

TEST(GenerateCli, GreedyTextFromTheGguf) {
  SOP_REQUIRE_MODEL(model, "stories260K.gguf");
  ScratchDir dir;
  const CommandResult r = run_sop("generate --model '" + model + "' --temperature 0 --tokens 20", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << r.out;
}

TEST(CalibrateCli, WritesStatisticsForEveryMatrix) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string out = dir.file("stats.json");
  const CommandResult r = run_sop("calibrate --model '" + model + "' --sequences 2 --tokens 8 --out '" + out + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_text(out));
  EXPECT_EQ(j["format"], "sop-activation-stats");
  // 5 layers x 7 projections + the tied output matrix.
  EXPECT_EQ(j["tensors"].size(), 36u);
  EXPECT_EQ(j["tensors"]["model.layers.0.mlp.down_proj.weight"].size(), 172u);
}

TEST(CalibrateCli, ModelWithoutHeadsIsAClearError) {
  ScratchDir dir;
  const CommandResult r = run_sop("calibrate --model synthetic:gaussian --out '" + dir.file("s.json") + "'", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("token_embd.weight"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("s.json")));
}

TEST(EvalCli, DownstreamRanksFormatsByPrecision) {
  SOP_REQUIRE_MODEL(model, "stories260K.gguf");
  ScratchDir dir;
  const std::string json_path = dir.file("eval.json");
  const CommandResult r = run_sop("eval --model '" + model + "' --format E2M3sUE4M4,E2M1sUE4M4 --summary-only "
                                  "--downstream --downstream-sequences 2 --downstream-tokens 32 --json '" + json_path + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_text(json_path));
  ASSERT_EQ(j["downstream"].size(), 2u);
  const auto& fp6 = j["downstream"][0];
  const auto& fp4 = j["downstream"][1];
  EXPECT_EQ(fp6["positions"], 64);
  EXPECT_LT(fp6["kl_divergence"].get<double>(), fp4["kl_divergence"].get<double>());
  EXPECT_GT(fp6["top1_agreement"].get<double>(), fp4["top1_agreement"].get<double>());
  EXPECT_DOUBLE_EQ(fp6["reference_ppl"].get<double>(), fp4["reference_ppl"].get<double>());
}

}  // namespace
}  // namespace sop::testing
