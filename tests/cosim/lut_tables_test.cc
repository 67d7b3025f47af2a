// More tables per layer than the pair (issue "LUT SRAM capacity buys fidelity"): a layer with T = 8
// selector tables on a unit with 8 tables per slot, and layers with one table per row, which stream
// their tables through a slot of 2 (docs/simulate.md "Streamed tables"). Each runs on both engines of
// the system model, every weight against the golden decode, and its reload stalls are checked against
// the analytic estimator's count (sim/estimate.cc) and, where it is simple, a hand count, in both
// regimes: rows shorter than a table load (stalls) and longer (none after the first load).
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/hw/hw_config.h"
#include "model/tlm/system.h"
#include "quantizer/sop/sop_layer.h"
#include "sim/estimate.h"
#include "tests/cli/cli_support.h"

namespace sop {
namespace {

// A synthetic search result: random codes, scales (any E4M3 code) and tables (any HIF entry); a
// selector drawn uniformly over `tables` tables, or (rows_per_table > 0) one table per row group.
SopLayerResult make_layer(const std::string& name, int64_t rows, int64_t cols, int tables, int64_t rows_per_table,
                          double residual_fraction, uint64_t seed) {
  std::mt19937_64 rng(seed);
  SopLayerResult r;
  r.tensor_name = name;
  r.rows = rows;
  r.cols = cols;
  r.block_size = 16;
  r.rows_per_table = rows_per_table;
  const int64_t count = rows_per_table > 0 ? (rows + rows_per_table - 1) / rows_per_table : tables;
  for (int64_t t = 0; t < count; ++t) {
    SopCodebook cb;
    cb.name = "random" + std::to_string(t);
    for (int i = 0; i < 16; ++i) cb.lut_codes.push_back(static_cast<uint32_t>(rng() & 0x7FF));
    r.codebooks.push_back(cb);
  }
  r.scale_layout.select = rows_per_table > 0 ? SelectBitPlacement::None : SelectBitPlacement::Stolen;
  int bits = 0;
  while ((1 << bits) < tables) ++bits;
  r.scale_layout.select_bits = bits;
  const int64_t blocks = rows * r.blocks_per_row();
  for (int64_t b = 0; b < blocks; ++b) {
    r.scale_codes.push_back(static_cast<uint32_t>(rng() & 0xFF));
    r.select.push_back(rows_per_table > 0 ? 0 : static_cast<uint8_t>(rng() % static_cast<uint64_t>(tables)));
  }
  for (int64_t i = 0; i < rows * cols; ++i) {
    r.codes.push_back(static_cast<uint8_t>(rng() & 0xF));
    if (std::uniform_real_distribution<double>(0, 1)(rng) < residual_fraction) {
      r.sparse.push_back({static_cast<uint64_t>(i), static_cast<uint32_t>(rng() & 0x7FF)});
    }
  }
  r.sparse_index_bits = 32;
  return r;
}

// 8 lanes, 16-entry HIF tables, memory not modelled (transfers take no time), so that the stalls are the
// LUT's alone.
hw::HwConfig unit_with_tables(int tables_per_layer) {
  return hw::parse_hw_config("schema_version: 1\nname: t" + std::to_string(tables_per_layer) +
                                 "\ndecode_unit: {lanes: 8, lut: {tables_per_layer: " + std::to_string(tables_per_layer) +
                                 ", resident_layers: 2}}\nconsumer: {buffer_weights: 64}\n",
                             "lut_tables_test.yaml");
}

// The estimator's view of the same layer.
sim::Workload estimator_workload(const SopLayerResult& r) {
  sim::Workload w;
  w.name = r.tensor_name;
  // In WorkloadLayer's field order: shape, formats, residuals, tables.
  w.layers.push_back({r.tensor_name, r.rows, r.cols, r.block_size, r.decode.code_bits, r.scale_layout.bits_per_block(),
                      static_cast<int64_t>(r.sparse.size()), r.sparse_index_bits, r.decode.entry_bits(),
                      static_cast<int>(r.codebooks.size()), r.rows_per_table});
  return w;
}

struct Both {
  sysc::SimulateResult tlm, rtl;
};

Both run_both(const hw::HwConfig& hw, const SopLayerResult& layer) {
  const sysc::Workload w = sysc::Workload::from_layers({layer}, layer.tensor_name);
  sysc::SimulateOptions tlm, rtl;
  rtl.engine = sysc::Engine::Rtl;
  const auto results = sysc::simulate(hw, w, {tlm, rtl});
  for (const auto& r : results) {
    EXPECT_EQ(r.checked, static_cast<uint64_t>(layer.rows * layer.cols)) << r.engine;
    EXPECT_EQ(r.mismatches, 0u) << r.engine;
    EXPECT_TRUE(r.complete) << r.engine;
  }
  return {results.at(0), results.at(1)};
}

void expect_same_timing(const Both& b) {
  EXPECT_EQ(b.tlm.cycles, b.rtl.cycles);
  EXPECT_EQ(b.tlm.stall_lut_reload, b.rtl.stall_lut_reload);
  EXPECT_EQ(b.tlm.stall_dram, b.rtl.stall_dram);
  EXPECT_EQ(b.tlm.stall_residual, b.rtl.stall_residual);
  EXPECT_EQ(b.tlm.streamed_tables, b.rtl.streamed_tables);
}

TEST(LutTables, EightSelectorTablesOnBothEnginesBitForBit) {
  const hw::HwConfig hw = unit_with_tables(8);
  const SopLayerResult layer = make_layer("t8", 96, 256, 8, 0, 0.01, 1);
  const Both b = run_both(hw, layer);
  expect_same_timing(b);
  EXPECT_EQ(b.tlm.streamed_tables, 0u);
  // One load of 8 tables x 16 entries before the first beat, nothing streamed.
  EXPECT_EQ(b.tlm.stall_lut_reload, 8u * 16u);
  const sim::ActionCounts c = sim::count_actions(estimator_workload(layer), sim::design_from_hw(hw));
  EXPECT_EQ(c.table_stream_stall_cycles, 0.0);
  std::printf("T=8 selector layer 96 x 256: tlm %llu cycles, rtl %llu cycles, lut reload %llu\n",
              static_cast<unsigned long long>(b.tlm.cycles), static_cast<unsigned long long>(b.rtl.cycles),
              static_cast<unsigned long long>(b.tlm.stall_lut_reload));
}

// Rows of 64 weights on 8 lanes: 8 beats per row against a 16-cycle table load, so every row after the
// first window (rows 0 and 1, loaded with the layer: 2 x 16 cycles) waits 8 cycles for its table, less
// one where the row before took a chunk's refill cycle.
TEST(LutTables, PerRowTablesStreamWithReloadStallsOnBothEnginesAndTheEstimator) {
  const hw::HwConfig hw = unit_with_tables(2);
  const SopLayerResult layer = make_layer("rows64", 256, 64, 2, 1, 0.0, 2);
  const Both b = run_both(hw, layer);
  expect_same_timing(b);
  EXPECT_EQ(b.tlm.streamed_tables, 256u - 2u);
  // 288 bits per row: 113 rows per 4096-byte request, chunks start at rows 0, 113, 226 (rows 114 and
  // 227 wait 7 cycles).
  const uint64_t hand = 2 * 16 + 254 * 8 - 2;
  EXPECT_EQ(b.tlm.stall_lut_reload, hand);
  const sim::ActionCounts c = sim::count_actions(estimator_workload(layer), sim::design_from_hw(hw));
  EXPECT_EQ(c.table_stream_stall_cycles, static_cast<double>(b.tlm.stall_lut_reload));
  EXPECT_EQ(c.streamed_tables, 254.0);
  std::printf("per-row tables 256 x 64: tlm %llu cycles, rtl %llu cycles, lut reload tlm %llu rtl %llu analytic %.0f\n",
              static_cast<unsigned long long>(b.tlm.cycles), static_cast<unsigned long long>(b.rtl.cycles),
              static_cast<unsigned long long>(b.tlm.stall_lut_reload), static_cast<unsigned long long>(b.rtl.stall_lut_reload),
              c.table_stream_stall_cycles);
}

// Rows of 256 weights: 32 beats per row hide the next row's 16-cycle load; only the first window waits.
TEST(LutTables, PerRowTablesLongerThanALoadStallOnlyForTheFirstWindow) {
  const hw::HwConfig hw = unit_with_tables(2);
  const SopLayerResult layer = make_layer("rows256", 64, 256, 2, 1, 0.0, 3);
  const Both b = run_both(hw, layer);
  expect_same_timing(b);
  EXPECT_EQ(b.tlm.stall_lut_reload, 2u * 16u);
  const sim::ActionCounts c = sim::count_actions(estimator_workload(layer), sim::design_from_hw(hw));
  EXPECT_EQ(c.table_stream_stall_cycles, 32.0);
}

// With residuals the estimator spreads them evenly over the rows; the TLM and the RTL take each where
// it falls. Per-row tables on rows of 32 weights (4 beats against a 16-cycle load) through a window of
// 4 tables: the loads run back to back, ahead of the decode, and a row's residuals shift its stall.
TEST(LutTables, GroupTablesWithResidualsEstimatorWithinTwoPercent) {
  const hw::HwConfig hw = unit_with_tables(4);
  const SopLayerResult layer = make_layer("groups", 512, 32, 2, 1, 0.02, 4);
  const Both b = run_both(hw, layer);
  expect_same_timing(b);
  const sim::ActionCounts c = sim::count_actions(estimator_workload(layer), sim::design_from_hw(hw));
  const double tlm = static_cast<double>(b.tlm.stall_lut_reload);
  EXPECT_GT(tlm, 1000.0);
  EXPECT_NEAR(c.table_stream_stall_cycles, tlm, 0.02 * tlm);
  std::printf("per-row tables 512 x 32 on 4 tables per slot, 2%% residuals: lut reload tlm %.0f analytic %.1f\n", tlm,
              c.table_stream_stall_cycles);
}

TEST(LutTables, SelectorTablesBeyondTheSlotAreRefused) {
  const hw::HwConfig hw = unit_with_tables(2);
  const SopLayerResult layer = make_layer("wide_selector", 8, 64, 8, 0, 0.0, 5);
  try {
    (void)sysc::simulate(hw, sysc::Workload::from_layers({layer}, "refused"), {sysc::SimulateOptions{}});
    ADD_FAILURE() << "a layer of 8 selector tables ran on a slot of 2";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("wide_selector: select_bits: 3 select bits (8 tables per layer)"), std::string::npos) << what;
    EXPECT_NE(what.find("LUT of 704 bits"), std::string::npos) << what;
  }
  EXPECT_THROW((void)sim::count_actions(estimator_workload(layer), sim::design_from_hw(hw)), Error);
}

// Tables shared by a group of layers: four layers of T = 8 on a unit of one LUT slot, with their own
// tables, and with layers 1 and 2 sharing layer 0's set (it stores it, they refer to it). Both engines
// keep the set loaded from layer 0 to layer 2, so a token pass loads tables twice instead of four
// times, with the same cycles on both and every weight checked; the estimator counts the same loads (a
// layer that reads the set the layer before it read loads nothing). SystemC elaborates once per
// process, so the two cases are two tests; each load of 8 x 16 entries waits before its layer's first
// beat (one slot: nothing is prefetched), 128 reload cycles per load.
hw::HwConfig one_slot_of_eight_tables() {
  return hw::parse_hw_config(
      "schema_version: 1\nname: shared\ndecode_unit: {lanes: 8, lut: {tables_per_layer: 8, resident_layers: 1}}\n"
      "consumer: {buffer_weights: 64}\n",
      "lut_tables_test.yaml");
}

std::vector<SopLayerResult> four_layers(bool share) {
  std::vector<SopLayerResult> layers;
  for (int i = 0; i < 4; ++i) layers.push_back(make_layer("l" + std::to_string(i), 32, 128, 8, 0, 0.01, 20 + static_cast<uint64_t>(i)));
  if (share) {
    layers[0].table_group = 0;
    for (std::size_t i = 1; i <= 2; ++i) {
      layers[i].codebooks = layers[0].codebooks;
      layers[i].table_group = 0;
      layers[i].tables_stored = false;
    }
  }
  return layers;
}

void expect_loads_on_both_engines_and_the_estimator(bool share, uint64_t loads) {
  const hw::HwConfig hw = one_slot_of_eight_tables();
  const std::vector<SopLayerResult> layers = four_layers(share);
  sysc::SimulateOptions tlm, rtl;
  rtl.engine = sysc::Engine::Rtl;
  const auto results = sysc::simulate(hw, sysc::Workload::from_layers(layers, "shared"), {tlm, rtl});
  for (const auto& r : results) {
    EXPECT_EQ(r.checked, 4u * 32u * 128u) << r.engine;
    EXPECT_EQ(r.mismatches, 0u) << r.engine;
    EXPECT_TRUE(r.complete) << r.engine;
    EXPECT_EQ(r.table_loads, loads) << r.engine;
    EXPECT_EQ(r.stall_lut_reload, loads * 8 * 16) << r.engine;
  }
  EXPECT_EQ(results.at(0).cycles, results.at(1).cycles);
  sim::Workload w;
  w.name = "shared";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    w.layers.push_back(estimator_workload(layers[i]).layers.front());
    if (share && (i == 1 || i == 2)) w.layers.back().tables_from = 0;
  }
  const sim::ActionCounts c = sim::count_actions(w, sim::design_from_hw(hw));
  EXPECT_EQ(c.table_pairs, share ? 2 : 4);
  EXPECT_EQ(c.lut_reloads, static_cast<double>(loads));
  std::printf("4 layers of T=8, 1 slot, %s: %llu loads, %llu cycles (tlm = rtl), estimator %.0f reloads\n",
              share ? "layers 1-2 share layer 0's tables" : "own tables", static_cast<unsigned long long>(results.at(0).table_loads),
              static_cast<unsigned long long>(results.at(0).cycles), c.lut_reloads);
}

TEST(LutTables, OwnTableSetsLoadForEveryLayerOnBothEnginesAndTheEstimator) {
  expect_loads_on_both_engines_and_the_estimator(false, 4);
}

TEST(LutTables, SharedTableSetsLoadOncePerRunOfLayersOnBothEnginesAndTheEstimator) {
  expect_loads_on_both_engines_and_the_estimator(true, 2);
}

// End to end through pack format 2.0: `sop quantize` with the T = 8 recipe and with one table per row,
// then `sop simulate --engine both`: every weight checked on both engines, the same cycles and stalls.
// The T = 8 pack runs on tables8.yaml (a prebuilt RTL variant) and is refused by default.yaml's pair.
// `sop quantize --model MODEL --recipe configs/quant/tables/RECIPE.yaml`, then `sop simulate --engine
// both` of the pack on configs/hw/HW.yaml: the JSON report of both runs (empty on a failure, reported).
nlohmann::json quantize_and_simulate_both(const std::string& model, const std::string& recipe, const std::string& hw,
                                          const std::string& pack) {
  const std::string src = SOP_SOURCE_DIR;
  const testing::ScratchDir dir;
  testing::CommandResult r = testing::run_sop(
      "quantize --model '" + model + "' --recipe '" + src + "/configs/quant/tables/" + recipe + ".yaml' --out '" + pack + "'", dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  const std::string json_path = dir.file("sim.json");
  r = testing::run_sop("simulate --pack '" + pack + "' --hw '" + src + "/configs/hw/" + hw + ".yaml' --engine both --json '" +
                           json_path + "'",
                       dir);
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  if (r.exit_code != 0) return {};
  return nlohmann::json::parse(testing::read_text(json_path));
}

struct PackCase {
  const char* recipe;
  const char* hw;
  bool streamed;
};

class LutTablesPack : public ::testing::TestWithParam<PackCase> {};

TEST_P(LutTablesPack, QuantizedPackRunsBitForBitOnBothEngines) {
  const PackCase c = GetParam();
  testing::ScratchDir dir;
  const nlohmann::json j = quantize_and_simulate_both("synthetic:gaussian?rows=256&cols=512", c.recipe, c.hw, dir.file("m.sop"));
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["scoreboard"]["mismatches"], 0) << run["engine"];
    EXPECT_EQ(run["scoreboard"]["checked"], 131072) << run["engine"];
    EXPECT_EQ(run["lut"]["streamed_tables"].get<uint64_t>() > 0, c.streamed) << run["engine"];
  }
  EXPECT_EQ(j["runs"][0]["cycles"], j["runs"][1]["cycles"]);
  EXPECT_EQ(j["runs"][0]["stall_cycles"], j["runs"][1]["stall_cycles"]);
  std::printf("%s on %s: tlm %llu cycles, rtl %llu cycles, lut reload %llu\n", c.recipe, c.hw,
              static_cast<unsigned long long>(j["runs"][0]["cycles"].get<uint64_t>()),
              static_cast<unsigned long long>(j["runs"][1]["cycles"].get<uint64_t>()),
              static_cast<unsigned long long>(j["runs"][0]["stall_cycles"]["lut_reload"].get<uint64_t>()));
}

INSTANTIATE_TEST_SUITE_P(Packs, LutTablesPack,
                         ::testing::Values(PackCase{"t8", "tables8", false}, PackCase{"rows1", "default", true}),
                         [](const ::testing::TestParamInfo<PackCase>& info) {
                           return std::string(info.param.recipe) + "_on_" + info.param.hw;
                         });

// End to end through pack format 3.0: `sop quantize` with t8-shared7 (8 tables per group of 7
// matrices) on a 2-layer Llama shape, then `sop simulate --engine both`: every weight checked on both
// engines, the same cycles, and fewer table loads than layers (a matrix that reads the set the one
// before it read loads nothing), as many as the estimator counts for the same pack.
TEST(LutTables, SharedTablesPackRunsBitForBitOnBothEnginesWithFewerLoads) {
  testing::ScratchDir dir;
  const std::string src = SOP_SOURCE_DIR;
  const std::string pack = dir.file("shared.sop");
  const nlohmann::json j = quantize_and_simulate_both("synthetic:llm?dim=64&hidden=128&layers=2", "t8-shared7", "tables8", pack);
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["scoreboard"]["mismatches"], 0) << run["engine"];
    EXPECT_EQ(run["scoreboard"]["checked"], 81920) << run["engine"];
    EXPECT_LT(run["lut"]["table_loads"].get<uint64_t>(), 14u) << run["engine"];
  }
  EXPECT_EQ(j["runs"][0]["cycles"], j["runs"][1]["cycles"]);
  EXPECT_EQ(j["runs"][0]["lut"], j["runs"][1]["lut"]);
  // The estimator's table sets: one per layer that stores its own.
  const sim::Workload w = sim::workload_from_pack(pack);
  int own = 0;
  for (const auto& l : w.layers) own += l.tables_from < 0 ? 1 : 0;
  EXPECT_EQ(sim::count_actions(w, sim::design_from_hw(hw::load_hw_config(src + "/configs/hw/tables8.yaml"))).table_pairs, own);
  EXPECT_LE(j["runs"][0]["lut"]["table_loads"].get<int>(), own);
  std::printf("t8-shared7 pack of 14 matrices on tables8: %d table sets, %llu loads, tlm %llu cycles = rtl %llu cycles\n", own,
              static_cast<unsigned long long>(j["runs"][0]["lut"]["table_loads"].get<uint64_t>()),
              static_cast<unsigned long long>(j["runs"][0]["cycles"].get<uint64_t>()),
              static_cast<unsigned long long>(j["runs"][1]["cycles"].get<uint64_t>()));
}

TEST(LutTables, PackOfEightSelectorTablesIsRefusedByThePairUnit) {
  testing::ScratchDir dir;
  const std::string src = SOP_SOURCE_DIR;
  const std::string pack = dir.file("m.sop");
  ASSERT_EQ(testing::run_sop("quantize --model 'synthetic:gaussian?rows=64&cols=256' --recipe '" + src +
                                 "/configs/quant/tables/t8.yaml' --out '" + pack + "'",
                             dir)
                .exit_code,
            0);
  const testing::CommandResult r = testing::run_sop("simulate --pack '" + pack + "' --hw '" + src + "/configs/hw/default.yaml'", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("weight: select_bits: 3 select bits (8 tables per layer) exceed the unit's LUT"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sop
