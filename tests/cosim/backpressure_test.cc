// Backpressure: the consumer's buffer rule against hand-worked handshakes, and the matrix of
// docs/simulate.md ("TLM and RTL under backpressure"): consumer rate x buffer x memory regime x residual
// density x pipeline stages (1..3), each case simulated on both engines, which must agree on every cycle count exactly, the
// stalls by cause included, with every weight checked against the golden decode.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/tlm/consumer.h"
#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

// Beats presented every cycle from cycle 1; the cycles they are accepted.
std::vector<uint64_t> accept_back_to_back(double rate, int buffer, int lanes, int beats) {
  sysc::ConsumerBuffer b(hw::ConsumerConfig{rate, buffer}, lanes);
  std::vector<uint64_t> at;
  uint64_t next = 1;
  for (int i = 0; i < beats; ++i) {
    at.push_back(b.accept(next));
    next = at.back() + 1;
  }
  return at;
}

TEST(ConsumerBuffer, HandWorkedHandshakes) {
  // 8-weight beats into an 8-weight buffer drained 7.5 per cycle: a beat at t leaves 0.5 at t + 1
  // (0.5 + 8 > 8: not ready) and 0 at t + 2, so one beat every 2 cycles.
  EXPECT_EQ(accept_back_to_back(7.5, 8, 8, 4), (std::vector<uint64_t>{1, 3, 5, 7}));
  // Drained 3 per cycle: 8 -> 5 -> 2 -> 0: one beat every 3 cycles.
  EXPECT_EQ(accept_back_to_back(3, 8, 8, 3), (std::vector<uint64_t>{1, 4, 7}));
  // A 64-weight buffer drained 3 per cycle: the fill before beat k at cycle k is 5(k-1).
  const std::vector<uint64_t> big = accept_back_to_back(3, 64, 8, 14);
  // Cycles 1..12 accept (fill at cycle k before the push: 5(k-1), at most 55 <= 56).
  for (uint64_t k = 1; k <= 12; ++k) EXPECT_EQ(big[k - 1], k);
  // At 13 the fill is 60 > 56: drains to 57 at 14, 54 at 15: beat 13 enters at 15 (fill 62), then
  // 59 at 16, 56 at 17: beat 14 enters at 17.
  EXPECT_EQ(big[12], 15u);
  EXPECT_EQ(big[13], 17u);
  // A drain of a beat per cycle or more, or no rate at all, never refuses a beat.
  EXPECT_FALSE(sysc::ConsumerBuffer(hw::ConsumerConfig{8, 8}, 8).throttles());
  EXPECT_FALSE(sysc::ConsumerBuffer(hw::ConsumerConfig{0, 8}, 8).throttles());
  EXPECT_EQ(accept_back_to_back(0, 8, 8, 3), (std::vector<uint64_t>{1, 2, 3}));
  // Idle stretches drain exactly what single cycles would (pin level: ready/push).
  sysc::ConsumerBuffer pin(hw::ConsumerConfig{7.5, 8}, 8);
  pin.push(10);
  EXPECT_FALSE(pin.ready(11));
  EXPECT_TRUE(pin.ready(12));
  EXPECT_TRUE(pin.ready(1000000000000));
}

struct Regime {
  const char* name;
  double bandwidth_gb_s;
  int request_bytes;
  int outstanding;
};

struct MatrixCase {
  double rate;      // consumer weights per cycle, 0: unlimited
  int buffer;       // consumer buffer weights
  Regime memory;
  double sparse;    // residuals per weight
  int stages;       // decode_unit.pipeline_stages
};

std::string hw_yaml(const MatrixCase& c) {
  return std::string("schema_version: 1\nname: backpressure\nclock_mhz: 1000\ndecode_unit:\n  lanes: 8\n") +
         "  pipeline_stages: " + std::to_string(c.stages) + "\n" +
         "  lut:\n    entries_per_table: 16\n    tables_per_layer: 2\n    resident_layers: 2\n    entry_format: hif\n" +
         "    banks: 1\n  scale:\n    signed: true\n    exp_bits: 4\n    man_bits: 3\n    bias: 7\n    subnormals: true\n" +
         "  index_bits: 32\n  fetch:\n    request_bytes: " + std::to_string(c.memory.request_bytes) +
         "\n    outstanding: " + std::to_string(c.memory.outstanding) + "\ndram:\n  bandwidth_gb_s: " +
         std::to_string(c.memory.bandwidth_gb_s) + "\n  latency_ns: 100\n  burst_bytes: 64\nconsumer:\n" +
         "  weights_per_cycle: " + std::to_string(c.rate) + "\n  buffer_weights: " + std::to_string(c.buffer) + "\n";
}

class BackpressureMatrix : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(BackpressureMatrix, EnginesAgreeExactly) {
  const MatrixCase c = GetParam();
  ScratchDir dir;
  const std::string hw = dir.file("hw.yaml");
  std::ofstream(hw) << hw_yaml(c);
  const std::string json_path = dir.file("sim.json");
  const std::string shapes = "llama-small?layers=1&sparse=" + std::to_string(c.sparse);
  const CommandResult r =
      run_sop("simulate --shapes '" + shapes + "' --hw '" + hw + "' --engine both --json '" + json_path + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(read_text(json_path));
  ASSERT_EQ(j["runs"].size(), 2u);
  const auto& tlm = j["runs"][0];
  const auto& rtl = j["runs"][1];
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["scoreboard"]["mismatches"], 0) << run["engine"];
    EXPECT_EQ(run["scoreboard"]["checked"], run["weights"]) << run["engine"];
    EXPECT_TRUE(run["scoreboard"]["complete"].get<bool>()) << run["engine"];
  }
  EXPECT_EQ(tlm["cycles"], rtl["cycles"]);
  EXPECT_EQ(tlm["stall_cycles"], rtl["stall_cycles"]);
  EXPECT_EQ(tlm["residuals"], rtl["residuals"]);
  EXPECT_EQ(tlm["dram"]["requests"], rtl["dram"]["requests"]);
  // The regime is the one named: residuals present or not; an unlimited consumer never stalls the unit,
  // and a consumer of 3 weights per cycle behind 8 lanes fed from a wide memory does.
  EXPECT_EQ(tlm["residuals"].get<uint64_t>() > 0, c.sparse > 0);
  const uint64_t consumer_stalls = tlm["stall_cycles"]["consumer"].get<uint64_t>();
  if (c.rate == 0) EXPECT_EQ(consumer_stalls, 0u);
  if (c.rate == 3 && c.memory.bandwidth_gb_s > 100 && c.memory.outstanding > 1) EXPECT_GT(consumer_stalls, 0u);
  std::printf("rate %g buffer %d %s sparse %g stages %d: tlm %llu rtl %llu cycles\n", c.rate, c.buffer, c.memory.name, c.sparse, c.stages,
              tlm["cycles"].get<unsigned long long>(), rtl["cycles"].get<unsigned long long>());
}

std::vector<MatrixCase> matrix() {
  const Regime regimes[] = {{"bandwidth-bound", 4.0, 4096, 4},
                            {"lane-bound", 1000.0, 4096, 4},
                            {"small-requests", 1000.0, 64, 1}};
  std::vector<MatrixCase> cases;
  for (double rate : {0.0, 7.5, 3.0}) {
    for (int buffer : {8, 64}) {
      for (const Regime& m : regimes) {
        for (double sparse : {0.0, 0.05}) {
          for (int stages : {1, 2, 3}) cases.push_back(MatrixCase{rate, buffer, m, sparse, stages});
        }
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, BackpressureMatrix, ::testing::ValuesIn(matrix()),
                         [](const ::testing::TestParamInfo<MatrixCase>& info) {
                           const MatrixCase& c = info.param;
                           std::string name = std::string("rate") + (c.rate == 0 ? std::string("Unlimited") : c.rate == 7.5 ? std::string("7p5") : std::to_string(static_cast<int>(c.rate))) +
                                              "_buffer" + std::to_string(c.buffer) + "_" + c.memory.name + "_sparse" +
                                              (c.sparse > 0 ? "5pct" : "0") + "_p" + std::to_string(c.stages);
                           std::string clean;
                           for (char ch : name) {
                             if (ch == '-' || ch == '.') continue;
                             clean += ch;
                           }
                           return clean;
                         });

}  // namespace
}  // namespace sop::testing
