// Beats of several blocks: a 64-lane unit takes 4 g16 blocks per beat, and block sizes that are not a
// multiple of the lanes (g12, g20, g24, and a g100 block spanning beats) pack back to back on both
// engines: every weight checked bit for bit against the golden decode, TLM and RTL cycles equal, on two
// units sharing one memory system (the "2 units x 64 lanes, g16, residuals" case among them), with
// 1, 2 and 3 pipeline stages (decode_unit.pipeline_stages; 2 and 3 come from the RTL cache).
#include <fstream>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

class MultiBlockBeats : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(MultiBlockBeats, EnginesAgreeBitForBitOnTwoUnitsOf64Lanes) {
  const auto [block, stages] = GetParam();
  ScratchDir dir;
  const std::string hw = dir.file("hw.yaml");
  std::ofstream(hw) << "schema_version: 1\nname: u2x64\nunits: 2\ndecode_unit: {lanes: 64, pipeline_stages: "
                    << stages << "}\n"
                       "consumer: {buffer_weights: 128}\ndram: {bandwidth_gb_s: 1000, latency_ns: 100}\n"
                       "policy: {fetch_across_layers: true}\n";
  const std::string json_path = dir.file("sim.json");
  const CommandResult r = run_sop("simulate --shapes 'llama-small?layers=1&sparse=0.01&block=" + std::to_string(block) +
                                      "' --hw '" + hw + "' --engine both --json '" + json_path + "'",
                                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(read_text(json_path));
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["scoreboard"]["mismatches"], 0) << run["engine"];
    EXPECT_EQ(run["scoreboard"]["checked"], 790528) << run["engine"];
    EXPECT_TRUE(run["scoreboard"]["complete"].get<bool>()) << run["engine"];
    EXPECT_GT(run["residuals"].get<uint64_t>(), 0u);
  }
  EXPECT_EQ(j["runs"][0]["cycles"], j["runs"][1]["cycles"]);
  EXPECT_EQ(j["runs"][0]["stall_cycles"], j["runs"][1]["stall_cycles"]);
  // Back to back: a chunk of W weights takes ceil(W / 64) beats, whatever the block size. The layer's
  // rows are 256 or 688 weights: 4 or 10.75 beats; the 116 chunks' beats are summed in "beats".
  const uint64_t beats = j["runs"][0]["beats"].get<uint64_t>();
  EXPECT_GE(beats, 790528u / 64);
  EXPECT_LT(beats, 790528u / 64 + 116);
}

INSTANTIATE_TEST_SUITE_P(Blocks, MultiBlockBeats,
                         ::testing::Combine(::testing::Values(12, 16, 20, 24, 100), ::testing::Values(1, 2, 3)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
                           return "g" + std::to_string(std::get<0>(info.param)) + "_p" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace sop::testing
