// The transaction-level and the RTL engine of `sop simulate` on real packs: every decoded weight
// checked against the golden decode (no mismatch on either engine) and the same cycle count.
// The throughput model never beats its physical limits and, when DRAM-bound, reaches them.
#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

struct CosimCase {
  const char* recipe;
  const char* hw;
};

class Cosim : public ::testing::TestWithParam<CosimCase> {};

TEST_P(Cosim, EnginesAgreeOnStories260K) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  const CosimCase c = GetParam();
  ScratchDir dir;
  const std::string src = SOP_SOURCE_DIR;
  const std::string pack = dir.file("model.sop");
  CommandResult r = run_sop("quantize --model '" + model + "' --recipe '" + src + "/configs/quant/" + c.recipe +
                                ".yaml' --out '" + pack + "'",
                            dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string json_path = dir.file("sim.json");
  r = run_sop("simulate --pack '" + pack + "' --hw '" + src + "/configs/hw/" + c.hw + ".yaml' --engine both --json '" +
                  json_path + "'",
              dir);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(read_text(json_path));
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    const auto& sb = run["scoreboard"];
    EXPECT_TRUE(sb["values_checked"].get<bool>()) << run["engine"];
    EXPECT_TRUE(sb["complete"].get<bool>()) << run["engine"];
    EXPECT_EQ(sb["mismatches"], 0) << run["engine"];
    EXPECT_EQ(sb["checked"], run["weights"]) << run["engine"];
    EXPECT_EQ(run["weights"], 259328) << run["engine"];  // every weight of stories260K's 36 matrices
    // Physical limits: no faster than DRAM bandwidth / bytes per token, or lanes x clock / weights.
    EXPECT_LE(run["tokens_per_s"].get<double>(), run["dram_limit_tokens_per_s"].get<double>() * (1 + 1e-9));
    EXPECT_LE(run["tokens_per_s"].get<double>(), run["lane_limit_tokens_per_s"].get<double>() * (1 + 1e-9));
  }
  // The TLM engine is the RTL's pipeline in closed form: the same cycles, stall for stall.
  EXPECT_EQ(j["runs"][0]["cycles"], j["runs"][1]["cycles"]);
  EXPECT_EQ(j["runs"][0]["stall_cycles"], j["runs"][1]["stall_cycles"]);
}

INSTANTIATE_TEST_SUITE_P(Packs, Cosim,
                         ::testing::Values(CosimCase{"sop-4.5", "default"}, CosimCase{"sop-6.5", "atoms64"},
                                           CosimCase{"e2m3-ue4m4", "atoms64"}),
                         [](const ::testing::TestParamInfo<CosimCase>& info) {
                           std::string name = std::string(info.param.recipe) + "_on_" + info.param.hw;
                           for (char& ch : name) {
                             if (ch == '-' || ch == '.') ch = '_';
                           }
                           return name;
                         });

TEST(CosimThroughput, SevenBShapedPassIsDramBound) {
  // Llama-2-7B's shapes, counts only (timing without values): the whole model streams through
  // 4 GB/s of DRAM, so tokens/s sits just under bandwidth / (weights x bpw / 8).
  ScratchDir dir;
  const std::string json_path = dir.file("sim.json");
  const CommandResult r = run_sop("simulate --shapes llama2-7b --hw '" + std::string(SOP_SOURCE_DIR) +
                                      "/configs/hw/default.yaml' --counts-only --json '" + json_path + "'",
                                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto run = nlohmann::json::parse(read_text(json_path))["runs"][0];
  EXPECT_GT(run["weights"].get<double>(), 6.5e9);
  const double limit = run["dram_limit_tokens_per_s"].get<double>();
  const double tps = run["tokens_per_s"].get<double>();
  EXPECT_LE(tps, limit);
  EXPECT_GT(tps, 0.95 * limit);
  // bytes per token is the stored model: weights x stored bpw / 8.
  EXPECT_NEAR(run["bytes_per_token"].get<double>(), run["weights"].get<double>() * run["stored_bpw"].get<double>() / 8,
              1e-6 * run["bytes_per_token"].get<double>());
}

TEST(CosimThroughput, SevenBShapedPassOnHbm3ReachesItsDramLimit) {
  // configs/hw/hbm3.yaml: one HBM3 stack (819.2 GB/s over 32 channels) behind 16 units x 256 lanes at
  // 1 GHz. The lanes could take 620 tokens/s, the stack carries 216: the pass must reach 95 % of that.
  ScratchDir dir;
  const std::string json_path = dir.file("sim.json");
  const CommandResult r = run_sop("simulate --shapes llama2-7b --hw '" + std::string(SOP_SOURCE_DIR) +
                                      "/configs/hw/hbm3.yaml' --counts-only --json '" + json_path + "'",
                                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto run = nlohmann::json::parse(read_text(json_path))["runs"][0];
  const double dram = run["dram_limit_tokens_per_s"].get<double>();
  const double lanes = run["lane_limit_tokens_per_s"].get<double>();
  // 819.2e9 bytes/s over the stored model (weights x 4.585 bpw / 8 bytes).
  EXPECT_NEAR(dram, 819.2e9 / run["bytes_per_token"].get<double>(), 1e-9 * dram);
  EXPECT_NEAR(lanes, 1e9 * 256 * 16 / run["weights"].get<double>(), 1e-9 * lanes);
  const double tps = run["tokens_per_s"].get<double>();
  EXPECT_LE(tps, std::min(dram, lanes) * (1 + 1e-9));
  EXPECT_GT(tps, 0.95 * std::min(dram, lanes));
  EXPECT_EQ(run["units"], 16);
}

}  // namespace
}  // namespace sop::testing

namespace sop::testing {
namespace {

TEST(CosimScoreboard, CatchesAFlippedProductBit) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string src = SOP_SOURCE_DIR;
  const std::string pack = dir.file("model.sop");
  ASSERT_EQ(run_sop("quantize --model '" + model + "' --recipe '" + src + "/configs/quant/sop-4.5.yaml' --out '" + pack +
                        "' -q",
                    dir)
                .exit_code,
            0);
  const std::string json_path = dir.file("sim.json");
  const CommandResult r = run_sop("simulate --pack '" + pack + "' --hw '" + src +
                                      "/configs/hw/default.yaml' --inject-fault --json '" + json_path + "'",
                                  dir);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const auto run = nlohmann::json::parse(read_text(json_path))["runs"][0];
  EXPECT_EQ(run["scoreboard"]["mismatches"], 1);
}

}  // namespace
}  // namespace sop::testing
