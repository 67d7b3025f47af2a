// Several decode units on one memory system, and the memory system's channels and queues: both engines
// agree on every multi-unit case, shared tables are fetched once, and the DRAM model's timing matches
// what its rule gives by hand in the regimes where it is simple.
#include <cstdint>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

std::string unit_yaml(int units, const char* sharing, const std::string& dram) {
  return "schema_version: 1\nname: units\nclock_mhz: 1000\nunits: " + std::to_string(units) +
         "\ndecode_unit:\n  lanes: 8\n  lut: {sharing: " + sharing + "}\n  fetch: {request_bytes: 4096, outstanding: 4}\n" +
         "dram: " + dram + "\n";
}

nlohmann::json simulate(const ScratchDir& dir, const std::string& yaml, const std::string& args) {
  const std::string hw = dir.file("hw.yaml");
  std::ofstream(hw) << yaml;
  const std::string json_path = dir.file("sim.json");
  const CommandResult r = run_sop("simulate --hw '" + hw + "' " + args + " --json '" + json_path + "'", dir);
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  return nlohmann::json::parse(read_text(json_path));
}

TEST(Units, EnginesAgreeAndSharedTablesAreFetchedOnce) {
  ScratchDir dir;
  const std::string wide = "{bandwidth_gb_s: 1000, latency_ns: 100, burst_bytes: 64}";
  const std::string shapes = "--shapes 'llama-small?layers=1&sparse=0.05' --engine both";
  const auto one = simulate(dir, unit_yaml(1, "private", wide), shapes)["runs"][0];
  for (const char* sharing : {"private", "shared"}) {
    const auto j = simulate(dir, unit_yaml(2, sharing, wide), shapes);
    const auto& tlm = j["runs"][0];
    const auto& rtl = j["runs"][1];
    for (const auto& run : j["runs"]) {
      EXPECT_EQ(run["scoreboard"]["mismatches"], 0) << sharing;
      EXPECT_EQ(run["scoreboard"]["checked"], 790528) << sharing;
      EXPECT_TRUE(run["scoreboard"]["complete"].get<bool>()) << sharing;
      EXPECT_EQ(run["units"], 2);
    }
    EXPECT_EQ(tlm["cycles"], rtl["cycles"]) << sharing;
    EXPECT_EQ(tlm["unit_cycles"], rtl["unit_cycles"]) << sharing;
    EXPECT_EQ(tlm["stall_cycles"], rtl["stall_cycles"]) << sharing;
    // Every unit loads every layer's tables; shared, one fetch from DRAM serves both.
    const auto loads = tlm["lut"]["table_loads"].get<uint64_t>();
    const auto fetches = tlm["lut"]["table_fetches"].get<uint64_t>();
    EXPECT_EQ(loads, 2 * one["lut"]["table_loads"].get<uint64_t>());
    EXPECT_EQ(fetches, std::string(sharing) == "shared" ? loads / 2 : loads) << sharing;
    // Lane-bound: two units split each layer's rows and take a little over half the cycles.
    EXPECT_LT(tlm["cycles"].get<double>(), 0.6 * one["cycles"].get<double>()) << sharing;
    EXPECT_GT(tlm["cycles"].get<double>(), 0.5 * one["cycles"].get<double>()) << sharing;
  }
}

TEST(MemorySystem, QueueDepthOneSerializesLatency) {
  // One channel, a queue of one: each request starts when the previous one's data are back, so a
  // DRAM-bound pass takes requests x latency + bytes / bandwidth (10 us latency dwarfs the lanes' work).
  ScratchDir dir;
  const std::string shapes = "--shapes 'llama-small?layers=1&values=0' --counts-only";
  const auto j = simulate(dir, unit_yaml(1, "private", "{bandwidth_gb_s: 64, latency_ns: 10000, burst_bytes: 64, queue_depth: 1}"),
                          shapes)["runs"][0];
  const double by_hand = j["dram"]["requests"].get<double>() * 10000 + j["dram"]["bytes"].get<double>() / 64;
  EXPECT_NEAR(j["cycles"].get<double>(), by_hand, 0.01 * by_hand);
  // With a deep queue the unit's 4 requests in flight overlap their latencies: about 4 x faster.
  const auto deep = simulate(dir, unit_yaml(1, "private", "{bandwidth_gb_s: 64, latency_ns: 10000, burst_bytes: 64, queue_depth: 64}"),
                             shapes)["runs"][0];
  EXPECT_LT(deep["cycles"].get<double>(), 0.3 * by_hand);
  EXPECT_GT(deep["cycles"].get<double>(), 0.24 * by_hand);
}

TEST(MemorySystem, ChannelsShareTheBandwidth) {
  // DRAM-bound at 4 GB/s: striping the same bandwidth over 8 channels keeps the pass at the same pace
  // (one decoder layer: the request latencies and table loads at its 7 matrix starts cost about 6 %).
  ScratchDir dir;
  const std::string shapes = "--shapes 'llama-small?layers=1&values=0' --counts-only";
  double tokens[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const int channels = i == 0 ? 1 : 8;
    const auto run = simulate(dir, unit_yaml(1, "private", "{bandwidth_gb_s: 4, latency_ns: 100, burst_bytes: 64, channels: " +
                                                              std::to_string(channels) + "}"),
                              shapes)["runs"][0];
    const double limit = run["dram_limit_tokens_per_s"].get<double>();
    tokens[i] = run["tokens_per_s"].get<double>();
    EXPECT_LE(tokens[i], limit * (1 + 1e-9)) << channels;
    EXPECT_GT(tokens[i], 0.9 * limit) << channels;
  }
  EXPECT_NEAR(tokens[1], tokens[0], 0.02 * tokens[0]);
}

TEST(MemorySystem, PresetEnergyReachesTheEstimate) {
  // sop estimate takes DRAM energy from the preset and says where it comes from.
  ScratchDir dir;
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  const std::string src = SOP_SOURCE_DIR;
  const std::string pack = dir.file("m.sop");
  ASSERT_EQ(run_sop("quantize --model '" + model + "' --recipe '" + src + "/configs/quant/sop-4.5.yaml' --out '" + pack +
                        "' -q",
                    dir)
                .exit_code,
            0);
  const std::string hw = dir.file("hw.yaml");
  std::ofstream(hw) << "schema_version: 1\nname: h\ndecode_unit: {lanes: 8}\ndram: {preset: hbm3}\n";
  const CommandResult r = run_sop("estimate --pack '" + pack + "' --hw '" + hw + "' --tech '" + src +
                                      "/configs/tech/45nm.yaml' --json '" + dir.file("e.json") + "'",
                                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto e = nlohmann::json::parse(read_text(dir.file("e.json")))["estimate"];
  EXPECT_DOUBLE_EQ(e["dram_pj_per_bit"].get<double>(), 3.97);
  EXPECT_NE(e["dram_energy_source"].get<std::string>().find("O'Connor"), std::string::npos);
  EXPECT_NE(r.out.find("DRAM read energy 3.97 pJ/bit"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sop::testing
