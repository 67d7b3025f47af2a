// Unit tests of the technology table, the analytic counts model, the estimator, sweep parsing and its
// axis table, and the SVG plotter.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "tests/test_support.h"
#include "tests/cli/cli_support.h"
#include "base/yaml_reader.h"
#include "sim/estimate.h"
#include "sim/estimate_simulated.h"
#include "sim/report.h"
#include "sim/sweep.h"
#include "sim/tech.h"

namespace sop::sim {
namespace {

const std::string kSource = SOP_SOURCE_DIR;

TechTable tech45() { return load_tech_table(kSource + "/configs/tech/45nm.yaml"); }

// Two layer kinds, like an attention and an MLP matrix, repeated.
Workload small_workload(int layers) {
  Workload w;
  w.name = "test";
  w.source = "test";
  w.pack_entry_format = "hif";
  for (int i = 0; i < layers; ++i) {
    WorkloadLayer l;
    l.name = "layer" + std::to_string(i);
    l.rows = i % 2 ? 256 : 128;
    l.cols = 128;
    l.block_size = 16;
    l.code_bits = 4;
    l.scale_bits_per_block = 8;
    l.sparse_entries = 10;
    w.layers.push_back(l);
  }
  return w;
}

Design design(LutEntryFormat f, int64_t lut_bytes) {
  Design d;
  d.name = "test";
  d.entry_format = f;
  d.lut_sram_bytes = lut_bytes;
  return d;
}

TEST(TechCurve, LogLogHitsPointsAndInterpolatesGeometrically) {
  TechCurve c;
  c.points = {{100, 1, "a"}, {10000, 100, "b"}};
  EXPECT_NEAR(c.at(100), 1, 1e-12);
  EXPECT_NEAR(c.at(10000), 100, 1e-9);
  EXPECT_NEAR(c.at(1000), 10, 1e-9);      // the middle in log space
  EXPECT_NEAR(c.at(100000), 1000, 1e-6);  // the end segment extended
}

TEST(TechCurve, LinearExtendsTheLastSlope) {
  TechCurve c;
  c.scale = TechCurve::Scale::Linear;
  c.points = {{0, 0, "a"}, {10, 20, "b"}, {20, 30, "c"}};
  EXPECT_DOUBLE_EQ(c.at(5), 10);
  EXPECT_DOUBLE_EQ(c.at(15), 25);
  EXPECT_DOUBLE_EQ(c.at(40), 50);
}

TEST(TechTable, The45nmTableLoadsWithEveryNumberSourced) {
  const TechTable t = tech45();
  EXPECT_EQ(t.name, "45nm");
  for (const auto& p : t.storage_read_pj_per_bit.points) EXPECT_FALSE(p.source.empty());
  // Horowitz: 64-bit read of 8 KB is 10 pJ.
  EXPECT_NEAR(64 * t.storage_read_pj_per_bit.at(65536), 10, 1e-9);
  EXPECT_NEAR(t.multiply_pj.at(64), 0.2, 1e-12);
  EXPECT_FALSE(t.logic_rows.empty());
  EXPECT_NEAR(t.relative_die_cost(t.reference_die_mm2.value), 1.0, 1e-12);
  EXPECT_GT(t.relative_die_cost(2.0), t.relative_die_cost(1.0));
}

TEST(TechTable, ANumberWithoutASourceIsRejected) {
  const std::string yaml = R"(tech: 1
name: x
node_nm: 45
voltage_v: 0.9
energy_pj:
  storage_read_per_bit: [{bits: 10, pj: 1}]
)";
  try {
    parse_tech_table(yaml, "bad.yaml", kSource + "/configs/tech");
    FAIL() << "accepted a number without a source";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("energy_pj.storage_read_per_bit[0].source"), std::string::npos) << e.what();
  }
}

using ::sop::testing::error_of;

// What every YAML kind refuses alike (base/yaml_reader.h), each named with the file and the line: a
// newer schema_version, and a top-level key that is not a plain string. `error_of` parses a document
// and returns its error ("" when accepted); `valid` is a document it accepts.
void expect_schema_and_key_checks(const std::function<std::string(const std::string&)>& error_of,
                                  const std::string& file, const std::string& valid) {
  ASSERT_EQ(error_of(valid), "");
  EXPECT_EQ(error_of("schema_version: 1\n" + valid), "");
  EXPECT_EQ(error_of("schema_version: 2\n" + valid),
            file + ": schema_version: version 2 is not supported (this sop reads version 1) (line 1)");
  const auto lines = std::count(valid.begin(), valid.end(), '\n');
  EXPECT_EQ(error_of(valid + "? [a, b]\n: 1\n"),
            file + ": <top level>: a key is not a plain string (line " + std::to_string(lines + 1) + ")");
}

// The message parse_tech_table throws for `yaml`, or "" when it accepts it.
std::string tech_error(const std::string& yaml) {
  return error_of([&] { parse_tech_table(yaml, "bad.yaml", kSource + "/configs/tech"); });
}

TEST(TechTable, NonFiniteNumbersNonScalarKeysAndNewerSchemasAreRefused) {
  EXPECT_EQ(tech_error("tech: 1\nname: x\nnode_nm: .inf\n"),
            "bad.yaml: node_nm: must be a finite number, got '.inf' (line 3)");
  EXPECT_EQ(tech_error("tech: 1\nname: x\nnode_nm: 45\nvoltage_v: 0.9\nenergy_pj:\n"
                       "  storage_read_per_bit: [{bits: 10, pj: .nan, source: s}]\n"),
            "bad.yaml: energy_pj.storage_read_per_bit[0].pj: must be a finite number, got '.nan' (line 6)");
  EXPECT_EQ(tech_error("- 1\n"), "bad.yaml: <top level>: expected a mapping of keys (line 1)");
  // The shipped table, without its own schema_version line, is the valid document.
  std::string valid = read_text_file(kSource + "/configs/tech/45nm.yaml", "technology table");
  const std::string version_line = "schema_version: 1\n";
  const std::size_t at = valid.find("\n" + version_line);
  ASSERT_NE(at, std::string::npos) << "configs/tech/45nm.yaml carries schema_version: 1";
  valid.erase(at + 1, version_line.size());
  expect_schema_and_key_checks(tech_error, "bad.yaml", valid);
}

// Issue 16: a logic-area row with lanes 1e300 was converted to int (undefined behaviour) and
// accepted. Integers are checked for type and range first; the message names the file and field.
TEST(TechTable, LogicAreaIntegersAreCheckedBeforeConversion) {
  const std::string yaml = read_text_file(kSource + "/configs/tech/45nm.yaml", "technology table");
  const std::string table = read_text_file(kSource + "/configs/tech/logic_area_osu018.json", "logic area table");
  const std::string lanes = "\"Lanes\": 4,";
  ASSERT_NE(table.find(lanes), std::string::npos);
  sop::testing::ScratchDir dir;
  const std::string bad_table = dir.file("logic_area_osu018.json");
  std::ofstream(dir.file("timing_osu018.json"))
      << read_text_file(kSource + "/configs/tech/timing_osu018.json", "timing table");
  for (const std::string value : {"1e+300", "-4", "4.5", "\"4\"", "2147483648"}) {
    std::string damaged = table;
    damaged.replace(damaged.find(lanes), lanes.size(), "\"Lanes\": " + value + ",");
    std::ofstream(bad_table) << damaged;
    EXPECT_EQ(error_of([&] { parse_tech_table(yaml, "45nm.yaml", dir.path().string()); }),
              bad_table + ": [0].rtl_parameters.Lanes: must be an integer in [1, 1048576], not " + value);
  }
  std::ofstream(bad_table) << std::string(1000, '[') + std::string(1000, ']');
  EXPECT_NE(error_of([&] { parse_tech_table(yaml, "45nm.yaml", dir.path().string()); }).find("deeper than the limit"),
            std::string::npos);
}

TEST(TechTable, LogicAreaInterpolatesInLanesAndGrowsWithThem) {
  const TechTable t = tech45();
  const LogicAreaRow a8 = t.logic_area(8, 16, "hif");
  const LogicAreaRow a16 = t.logic_area(16, 16, "hif");
  const LogicAreaRow a12 = t.logic_area(12, 16, "hif");
  EXPECT_GT(a16.lanes_um2, a8.lanes_um2);
  EXPECT_NEAR(a12.lanes_um2, (a8.lanes_um2 + a16.lanes_um2) / 2, 1e-6 * a16.lanes_um2);
  EXPECT_GT(t.logic_area(8, 16, "fp16").lanes_um2, a8.lanes_um2);  // the wider multiplier
  EXPECT_THROW(t.logic_area(8, 32, "hif"), Error);
}

TEST(CountActions, AllPairsResidentMeansNoReloads) {
  const Workload w = small_workload(6);
  const ActionCounts c = count_actions(w, design(LutEntryFormat::Hif, 1 << 20));
  EXPECT_EQ(c.table_pairs, 6);
  EXPECT_DOUBLE_EQ(c.lut_reloads, 0);
  EXPECT_DOUBLE_EQ(c.decoded_weights, static_cast<double>(w.weights()));
  EXPECT_DOUBLE_EQ(c.lut_reads, c.decoded_weights);
  EXPECT_DOUBLE_EQ(c.decode_cycles, static_cast<double>(w.weights() / 8));
  EXPECT_DOUBLE_EQ(c.lut_sram_read_bits, 6.0 * 352);
}

TEST(CountActions, ASmallLutStreamsAllButThePinnedPairs) {
  const Workload w = small_workload(6);
  const Design d = design(LutEntryFormat::Hif, 3 * 44);  // 3 HIF pairs of 44 bytes
  const ActionCounts c = count_actions(w, d);
  EXPECT_EQ(c.resident_slots, 3);
  EXPECT_DOUBLE_EQ(c.lut_reloads, 6 - (3 - 1));  // one slot streams
  EXPECT_DOUBLE_EQ(c.dram_table_bits, 4 * 512.0);  // 352 bits rounded up to one 64-byte burst
}

TEST(CountActions, ALutSmallerThanOnePairIsAnError) {
  try {
    count_actions(small_workload(2), design(LutEntryFormat::Fp16, 32));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot hold one layer's table pair"), std::string::npos) << e.what();
  }
}

TEST(CountActions, SixBitCodesNeedSixtyFourEntryTables) {
  Workload w = small_workload(1);
  w.layers[0].code_bits = 6;
  EXPECT_THROW(count_actions(w, design(LutEntryFormat::Hif, 4096)), Error);
}

TEST(Estimate, BreakdownsAddUpAndHifBeatsFp16OnChip) {
  const TechTable t = tech45();
  const Workload w = small_workload(6);
  const Design hif = design(LutEntryFormat::Hif, 4096), fp16 = design(LutEntryFormat::Fp16, 4096);
  const Estimate eh = estimate(count_actions(w, hif), hif, t);
  const Estimate ef = estimate(count_actions(w, fp16), fp16, t);
  double sum = 0;
  for (const auto& [k, v] : eh.energy_pj) {
    EXPECT_GE(v, 0) << k;
    sum += v;
  }
  EXPECT_NEAR(sum, eh.energy_per_token_pj, 1e-9 * sum);
  double area = 0;
  for (const auto& [k, v] : eh.area_um2) area += v;
  EXPECT_NEAR(area * 1e-6, eh.area_mm2, 1e-12);
  EXPECT_EQ(hif.pair_bits(), 352);
  EXPECT_EQ(fp16.pair_bits(), 512);
  EXPECT_LT(eh.pj_per_weight_on_chip, ef.pj_per_weight_on_chip);
  EXPECT_LT(eh.area_mm2, ef.area_mm2);
  EXPECT_GT(eh.tokens_per_s, 0);
  EXPECT_GT(eh.pj_per_weight, eh.pj_per_weight_on_chip);  // DRAM is counted in the total only
}

// The estimator's design is derived from the one hardware description: its LUT size is the config's
// resident pairs (hand count: 2 slots x 2 tables x 16 entries x 11 HIF bits = 704 bits = 88 bytes;
// FP16: 2 x 2 x 16 x 16 = 1024 bits = 128 bytes, BF16 entries the same width).
TEST(Estimate, DesignFromHwSizesTheLutAsTheConfigDoes) {
  const hw::HwConfig h = hw::parse_hw_config("decode_unit: {lanes: 8}\n", "x.yaml");
  const Design d = design_from_hw(h);
  EXPECT_EQ(d.lut_sram_bytes, 88);
  EXPECT_EQ(d.lut_sram_bytes * 8, h.lut_bits());
  const hw::HwConfig f = hw::parse_hw_config("decode_unit: {lut: {entry_format: fp16}}\n", "f.yaml");
  EXPECT_EQ(design_from_hw(f).lut_sram_bytes, 128);
  EXPECT_EQ(design_from_hw(f).lut_sram_bytes * 8, f.lut_bits());
  Design b = d;
  b.entry_format = LutEntryFormat::Bf16;
  EXPECT_EQ(b.bytes_for_pairs(2), 128);
  EXPECT_EQ(entry_format_info(LutEntryFormat::Bf16).significand_bits, 8);
  EXPECT_EQ(entry_format_info(LutEntryFormat::Fp16).significand_bits, 11);
  EXPECT_EQ(design_from_hw(h, 1000).lut_sram_bytes, 1000);  // an explicit size wins
}

double part(const Breakdown& b, const std::string& key) {
  for (const auto& [k, v] : b) {
    if (k == key) return v;
  }
  ADD_FAILURE() << "no " << key;
  return 0;
}

// 8 tables per slot (tables_per_layer: 8) against the pair, by hand from configs/tech/45nm.yaml: the LUT
// of 2 slots x 8 tables x 16 entries x 11 bits = 2816 bits lies above the flop/SRAM crossover (1536
// bits) and is priced on the SRAM segment of the storage curve; the pair's 704 bits on the flop segment.
TEST(Estimate, EightTablesPerSlotArePricedFromTheTechTablesStorageCurve) {
  const TechTable t = tech45();
  const Workload w = small_workload(2);
  const Design pair = design_from_hw(hw::parse_hw_config("decode_unit: {lanes: 8}\n", "pair.yaml"));
  const Design t8 = design_from_hw(hw::parse_hw_config("decode_unit: {lanes: 8, lut: {tables_per_layer: 8}}\n", "t8.yaml"));
  EXPECT_EQ(t8.lut_sram_bytes, 352);
  EXPECT_EQ(t8.pair_bits(), 8 * 16 * 11);
  const Estimate ep = estimate(count_actions(w, pair), pair, t);
  const Estimate e8 = estimate(count_actions(w, t8), t8, t);
  EXPECT_EQ(ep.storage_kind, "flops");
  EXPECT_EQ(e8.storage_kind, "sram");
  EXPECT_NEAR(part(ep.area_um2, "lut_sram"), 704.0 * 6945.8 / 1536.0, 1e-6);
  EXPECT_NEAR(part(e8.area_um2, "lut_sram"), 6945.8 + (2816.0 - 1536.0) * (16406.0 - 6945.8) / (32768.0 - 1536.0), 1e-6);
  // The measured flop LUT (a pair per slot) grows with the stored bits: 4 x for 8 tables.
  EXPECT_NEAR(part(e8.area_um2, "active_lut_and_read_muxes"), 4.0 * part(ep.area_um2, "active_lut_and_read_muxes"), 1e-9);
  // The SRAM's read energy per bit at its capacity (log-log between 384 and 32768 bits).
  const double read_pj = std::exp(std::log(0.010542) + (std::log(2816.0) - std::log(384.0)) *
                                                           (std::log(0.122438) - std::log(0.010542)) /
                                                           (std::log(32768.0) - std::log(384.0)));
  EXPECT_NEAR(part(e8.energy_pj, "lut_sram.read"), 2 * 1408.0 * read_pj, 1e-9);  // both layers resident
}

// A layer of per-row tables streams all but the first window: each streamed table is read from DRAM with
// the chunks and written into the LUT, 16 x 11 bits at the register energy, by hand.
TEST(Estimate, StreamedTableWritesAreCountedAndPriced) {
  const TechTable t = tech45();
  Workload w = small_workload(1);
  w.layers[0].rows = 256;
  w.layers[0].cols = 64;
  w.layers[0].sparse_entries = 0;
  w.layers[0].tables = 256;
  w.layers[0].rows_per_table = 1;
  const Design d = design_from_hw(hw::parse_hw_config("decode_unit: {lanes: 8}\n", "pair.yaml"));
  const ActionCounts c = count_actions(w, d);
  EXPECT_EQ(c.streamed_tables, 254.0);
  EXPECT_EQ(c.streamed_table_bits, 254.0 * 16 * 11);
  // As the TLM counts it (tests/cosim/lut_tables_test.cc): the first window, then 8 cycles per row
  // less one after each chunk's first row (113 rows per chunk).
  EXPECT_EQ(c.table_stream_stall_cycles, 2.0 * 16 + 254 * 8 - 2);
  const Estimate e = estimate(c, d, t);
  EXPECT_NEAR(part(e.energy_pj, "active_lut.stream_fill"), 254.0 * 16 * 11 * 0.010542, 1e-9);
  Workload none = w;
  none.layers[0].tables = 2;
  none.layers[0].rows_per_table = 0;
  const ActionCounts n = count_actions(none, d);
  EXPECT_NEAR(c.dram_table_bits - n.dram_table_bits, 254.0 * 16 * 11, 1e-9);
}

TEST(Estimate, AreaGrowsWithTheLutSram) {
  const TechTable t = tech45();
  const Workload w = small_workload(4);
  double last = 0;
  for (int64_t bytes : {64, 256, 1024, 4096, 16384}) {
    const Design d = design(LutEntryFormat::Hif, bytes);
    const Estimate e = estimate(count_actions(w, d), d, t);
    EXPECT_GT(e.area_mm2, last) << bytes;
    last = e.area_mm2;
  }
}

// A simulated pass of small_workload(4): 4 table loads, 100000 DRAM bytes.
sysc::SimulateResult simulated_pass(const Workload& w) {
  sysc::SimulateResult r;
  r.cycles = 20000;
  r.beats = 15000;
  r.stall_dram = 3000;
  r.stall_lut_reload = 1500;
  r.weights = static_cast<uint64_t>(w.weights());
  r.residuals = 40;
  r.table_loads = 4;
  r.table_fetches = 4;
  r.dram_bytes = 100000;
  r.clock_mhz = 1000;
  return r;
}

TEST(Estimate, SimulatedCountsReplaceTheTimedOnes) {
  const Workload w = small_workload(4);
  const Design d = design(LutEntryFormat::Hif, 2 * 44);
  const ActionCounts c = counts_from_simulation(simulated_pass(w), w, d);
  EXPECT_DOUBLE_EQ(c.cycles, 20000);
  EXPECT_DOUBLE_EQ(c.reload_stall_cycles, 1500);
  EXPECT_DOUBLE_EQ(c.lut_reloads, 4);
  EXPECT_DOUBLE_EQ(c.dram_table_bits, 4 * 512.0);
  EXPECT_DOUBLE_EQ(c.dram_weight_bits, 800000 - 4 * 512.0);
  EXPECT_DOUBLE_EQ(c.seconds, 20e-6);
  EXPECT_DOUBLE_EQ(c.blocks, count_actions(w, d).blocks);  // structural counts from the analytic model
  // With every pair resident the pass's table loads are the one-time load: no reload per token.
  const ActionCounts resident = counts_from_simulation(simulated_pass(w), w, design(LutEntryFormat::Hif, 4 * 44));
  EXPECT_DOUBLE_EQ(resident.lut_reloads, 0);
  EXPECT_DOUBLE_EQ(resident.dram_table_bits, 0);
  EXPECT_DOUBLE_EQ(resident.dram_weight_bits, 800000 - 4 * 512.0);  // the pass's table bytes are still not weights
  EXPECT_DOUBLE_EQ(resident.lut_sram_read_bits, 4 * 352.0);
}

// ---- hw_for_design: a sweep point's design as the SystemC model's hardware config -------------------

hw::HwConfig default_hw() { return hw::load_hw_config(kSource + "/configs/hw/default.yaml"); }

TEST(HwForDesign, MapsEveryAxisOntoTheConfig) {
  const hw::HwConfig base = default_hw();
  Design d = design_from_hw(base);
  d.lanes = 16;
  d.clock_mhz = 500;
  d.dram_gb_s = 1000;
  d.dram_latency_ns = 50;
  d.entry_format = LutEntryFormat::Fp16;
  d.lut_sram_bytes = 5 * 64 + 63;  // five FP16 pairs (64 bytes each) and a part of a sixth
  const hw::HwConfig h = hw_for_design(base, d);
  EXPECT_EQ(h.decode_unit.lanes, 16);
  EXPECT_EQ(h.clock_mhz, 500);
  EXPECT_EQ(h.dram.bandwidth_gb_s, 1000);
  EXPECT_EQ(h.dram.latency_ns, 50);
  EXPECT_EQ(h.dram.burst_bytes, base.dram.burst_bytes);
  EXPECT_EQ(h.decode_unit.lut.entry_format, golden::EntryFormat::Fp16);
  EXPECT_EQ(h.decode_unit.lut.resident_layers, 5);
  EXPECT_EQ(h.decode_unit.lut.entries_per_table, 16);
  // What a design does not describe stays the base's.
  EXPECT_EQ(h.decode_unit.scale.exp_bits, base.decode_unit.scale.exp_bits);
  EXPECT_EQ(h.decode_unit.fetch.request_bytes, base.decode_unit.fetch.request_bytes);
  EXPECT_EQ(h.consumer.buffer_weights, base.consumer.buffer_weights);
  // Back to a design: the same one, its LUT SRAM rounded down to whole pairs.
  Design back = design_from_hw(h);
  EXPECT_EQ(back.lut_sram_bytes, 5 * 64);
  back.lut_sram_bytes = d.lut_sram_bytes;
  EXPECT_EQ(design_to_json(back), design_to_json(d));
  // The base config's own design maps onto the base config.
  const hw::HwConfig same = hw_for_design(base, design_from_hw(base));
  EXPECT_EQ(same.rtl_parameters(), base.rtl_parameters());
  EXPECT_EQ(same.dram.bandwidth_gb_s, base.dram.bandwidth_gb_s);
  EXPECT_EQ(same.clock_mhz, base.clock_mhz);
}

TEST(HwForDesign, RefusesWhatTheUnitCannotBeNamingTheField) {
  const hw::HwConfig base = default_hw();
  const Design d = design_from_hw(base);
  const auto refusal = [&](const std::function<void(Design&)>& change) {
    Design x = d;
    change(x);
    return error_of([&] { hw_for_design(base, x); });
  };
  EXPECT_EQ(refusal([](Design& x) { x.entry_format = LutEntryFormat::Bf16; }),
            "default: entry_format: bf16 LUT entries are an estimator-only what-if: the SystemC model and the RTL have "
            "hif and fp16 entries (decode_unit.lut.entry_format); --counts analytic estimates bf16");
  EXPECT_EQ(refusal([](Design& x) { x.lanes = 512; }),
            "default: lanes: 512 lanes: the SystemC model's unit has 1 to 256 (decode_unit.lanes); --counts analytic "
            "estimates wider units");
  EXPECT_EQ(refusal([](Design& x) { x.lanes = 256; }), "");  // default.yaml's consumer buffer holds 256 weights
  EXPECT_EQ(refusal([](Design& x) { x.lut_sram_bytes = 32; }),
            "default: lut_sram_bytes: 32 bytes cannot hold one layer's table pair (44 bytes of hif entries)");
  EXPECT_EQ(refusal([](Design& x) { x.lut_sram_bytes = int64_t{44} << 20; }),
            "default: lut_sram_bytes: 46137344 bytes hold 1048576 table pairs, more than the 65536 LUT slots of the "
            "SystemC model (decode_unit.lut.resident_layers)");
  EXPECT_NE(refusal([](Design& x) { x.scale_exponent_bits = 5; }).find("default: scale_significand_bits: "), std::string::npos);
  hw::HwConfig narrow = base;
  narrow.consumer.buffer_weights = 16;
  Design wide = d;
  wide.lanes = 32;
  EXPECT_EQ(error_of([&] { hw_for_design(narrow, wide); }),
            "default: lanes: 32 lanes: one beat does not fit the consumer's buffer (consumer.buffer_weights = 16 in " +
                kSource + "/configs/hw/default.yaml)");
  EXPECT_EQ(refusal([](Design& x) { x.lanes = 64; }), "");
}

TEST(SweepRun, TheCountsCheckSampleSpreadsOverTheSweep) {
  EXPECT_EQ(counts_check_sample(1), std::vector<int>({0}));
  EXPECT_EQ(counts_check_sample(4), std::vector<int>({0, 1, 2, 3}));
  EXPECT_EQ(counts_check_sample(5), std::vector<int>({0, 1, 2, 3, 4}));
  EXPECT_EQ(counts_check_sample(12), std::vector<int>({0, 3, 6, 8, 11}));
  EXPECT_EQ(counts_check_sample(100), std::vector<int>({0, 25, 50, 74, 99}));
}

TEST(SweepRun, CountsSourceNames) {
  EXPECT_EQ(parse_counts_source("simulate"), CountsSource::Simulate);
  EXPECT_EQ(parse_counts_source("analytic"), CountsSource::Analytic);
  EXPECT_STREQ(counts_source_name(CountsSource::Simulate), "simulate");
  try {
    parse_counts_source("rtl");
    FAIL() << "accepted rtl";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "--counts must be simulate (the SystemC model) or analytic, got 'rtl'");
  }
}

const char* const kSweepHead = R"(sweep: 1
name: t
tech: tech.yaml
hw: hw.yaml
models:
  a: {model: "synthetic:llm"}
  b: {pack: b.sop}
recipes:
  r: r.yaml
)";

std::string sweep_document_error(const std::string& yaml) {
  return error_of([&] { parse_sweep(yaml, "s.yaml", "/tmp"); });
}

std::string sweep_error(const std::string& axes_yaml) { return sweep_document_error(std::string(kSweepHead) + axes_yaml); }

TEST(SweepSpec, GridAndZipExpand) {
  const SweepSpec g = parse_sweep(std::string(kSweepHead) +
                                      "axes:\n  model: [a, b]\n  lanes: [4, 8, 16]\n  entry_format: [HIF, fp16]\n",
                                  "s.yaml", "/tmp");
  const auto points = g.points();
  ASSERT_EQ(points.size(), 12u);
  EXPECT_EQ(points[0].key(), "entry_format=hif,lanes=4,model=a");
  EXPECT_EQ(points[11].key(), "entry_format=fp16,lanes=16,model=b");
  const SweepSpec z = parse_sweep(std::string(kSweepHead) + "combine: zip\naxes:\n  model: [a, b]\n  lanes: [4, 8]\n",
                                  "s.yaml", "/tmp");
  ASSERT_EQ(z.points().size(), 2u);
  EXPECT_EQ(z.points()[1].key(), "lanes=8,model=b");
}

// `sop sweep --list` computes each point from its index (SweepSpec::point) instead of expanding the
// grid: the same points in the same order as the expansion, the last axis varying fastest.
TEST(SweepSpec, EachPointIsComputedFromItsIndexInTheExpansionsOrder) {
  const SweepSpec g = parse_sweep(std::string(kSweepHead) +
                                      "axes:\n  model: [a, b]\n  lanes: [4, 8, 16]\n  entry_format: [HIF, fp16]\n",
                                  "s.yaml", "/tmp");
  ASSERT_EQ(g.point_count(), 12u);
  EXPECT_EQ(g.point(1).key(), "entry_format=fp16,lanes=4,model=a");
  EXPECT_EQ(g.point(2).key(), "entry_format=hif,lanes=8,model=a");
  EXPECT_EQ(g.point(6).key(), "entry_format=hif,lanes=4,model=b");
  const SweepSpec z = parse_sweep(std::string(kSweepHead) + "combine: zip\naxes:\n  model: [a, b]\n  lanes: [4, 8]\n",
                                  "s.yaml", "/tmp");
  const SweepSpec none{};  // no axes: the one point of the base design
  for (const SweepSpec* spec : {&g, &z, &none}) {
    const auto points = spec->points();
    ASSERT_EQ(points.size(), spec->point_count());
    for (std::size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(spec->point(i).index, points[i].index);
      EXPECT_EQ(spec->point(i).key(), points[i].key());
    }
    EXPECT_THROW(spec->point(spec->point_count()), std::out_of_range);
  }
  EXPECT_EQ(none.point_count(), 1u);
}

TEST(SweepSpec, BadFilesNameTheKey) {
  EXPECT_NE(sweep_error("axes:\n  model: [a]\n  lut_size: [1]\n").find("axes.lut_size: unknown axis"), std::string::npos);
  EXPECT_NE(sweep_error("axes:\n  model: [a]\n  lanes: []\n").find("axes.lanes: empty axis"), std::string::npos);
  EXPECT_NE(sweep_error("axes:\n  model: [c]\n").find("no model named 'c'"), std::string::npos);
  EXPECT_NE(sweep_error("axes:\n  model: [a]\n  entry_format: [fp8]\n").find("axes.entry_format[0]"), std::string::npos);
  EXPECT_NE(sweep_error("axes:\n  model: [a]\n  lut_sram_bytes: [0]\n").find("axes.lut_sram_bytes[0]"), std::string::npos);
  EXPECT_NE(sweep_error("axes:\n  lanes: [4]\n").find("add a `model` axis"), std::string::npos);
  EXPECT_NE(sweep_error("combine: zip\naxes:\n  model: [a, b]\n  lanes: [4]\n").find("same length"), std::string::npos);
  EXPECT_NE(sweep_error("axes:\n  model: [a, a]\n").find("appears twice"), std::string::npos);
}

// Issue 16: a 48 KB sweep file expanded to 2.1e9 points and grew until std::bad_alloc. The grid is
// counted before it is expanded, and refused past the stated limit.
TEST(SweepSpec, GridsBeyondThePointLimitAreRefusedBeforeExpanding) {
  const auto values = [](int n) {
    std::string list = "[";
    for (int i = 1; i <= n; ++i) list += (i > 1 ? ", " : "") + std::to_string(i);
    return list + "]";
  };
  EXPECT_NE(sweep_error("axes:\n  model: [a]\n  lanes: " + values(400) + "\n  clock_mhz: " + values(300) + "\n")
                .find("s.yaml: axes: the grid has more than the limit of 100000 points"),
            std::string::npos);
  const SweepSpec ok = parse_sweep(std::string(kSweepHead) + "axes:\n  model: [a]\n  lanes: " + values(400) +
                                       "\n  clock_mhz: " + values(250) + "\n",
                                   "s.yaml", "/tmp");
  EXPECT_EQ(ok.points().size(), 100000u);
}

TEST(SweepSpec, NonFiniteNumbersNonScalarKeysAndNewerSchemasAreRefused) {
  EXPECT_EQ(sweep_error("axes:\n  model: [a]\n  clock_mhz: [.inf]\n"),
            "s.yaml: axes.clock_mhz[0]: must be a finite number, got '.inf' (line 12)");
  EXPECT_EQ(sweep_error("dram: {bandwidth_gb_s: .nan}\naxes:\n  model: [a]\n"),
            "s.yaml: dram.bandwidth_gb_s: must be a finite number, got '.nan' (line 10)");
  EXPECT_EQ(sweep_error("axes:\n  ? [model]\n  : [a]\n"), "s.yaml: axes: a key is not a plain string (line 11)");
  expect_schema_and_key_checks(sweep_document_error, "s.yaml", std::string(kSweepHead) + "axes:\n  model: [a]\n");
}

TEST(SweepSpec, DramOverridesUseTheHardwareConfigsKeyNames) {
  const SweepSpec s = parse_sweep(std::string(kSweepHead) + "dram:\n  bandwidth_gb_s: 51.2\n  latency_ns: 80\n"
                                                            "axes:\n  model: [a]\n",
                                  "s.yaml", "/tmp");
  EXPECT_DOUBLE_EQ(s.dram_bandwidth_gb_s, 51.2);
  EXPECT_DOUBLE_EQ(s.dram_latency_ns, 80);
  // The old spelling is recognized, and the error says what to write instead.
  EXPECT_EQ(sweep_error("system:\n  dram_gb_s: 25.6\naxes:\n  model: [a]\n"),
            "s.yaml: system.dram_gb_s: renamed: write dram.bandwidth_gb_s (the hardware config's key) (line 11)");
  EXPECT_EQ(sweep_error("system: {dram_latency_ns: 100}\naxes:\n  model: [a]\n"),
            "s.yaml: system.dram_latency_ns: renamed: write dram.latency_ns (the hardware config's key) (line 10)");
}

TEST(SweepSpec, ShippedSweepsParse) {
  for (const char* name : {"hw_7b.yaml", "lut_sram.yaml", "stories260k_lut.yaml"}) {
    const SweepSpec s = load_sweep(kSource + "/configs/sweeps/" + name);
    EXPECT_GT(s.dram_bandwidth_gb_s, 0) << name;
    EXPECT_FALSE(s.points().empty()) << name;
  }
}

TEST(SweepSpec, Shards) {
  const Shard s = parse_shard("1/3");
  EXPECT_TRUE(s.contains(4));
  EXPECT_FALSE(s.contains(3));
  EXPECT_THROW(parse_shard("3/3"), std::invalid_argument);
  EXPECT_THROW(parse_shard("x"), std::invalid_argument);
}

// ---- The axis table: every axis takes a good value, refuses a bad one naming the file, key and line,
// changes the point as its row says and labels it for the report.

// The sweep with `axis: [value]`, after a `model: [a]` axis (line 11) unless the axis is the model.
std::string sweep_with(const std::string& axis, const std::string& value) {
  return std::string(kSweepHead) + "axes:\n" + (axis == "model" ? "" : "  model: [a]\n") + "  " + axis + ": [" + value + "]\n";
}

struct AxisCase {
  std::string good;      // as written
  std::string canonical; // as the spec keeps it
  std::string bad;
  std::string error;     // the whole message for the bad value, worked out by hand
};

// One case per axis; the test below fails when an axis is added to the table without one.
const std::map<std::string, AxisCase> kCases = {
    {"lut_sram_bytes", {"1024", "1024", "0", "s.yaml: axes.lut_sram_bytes[0]: expected a size in bytes >= 1, got '0' (line 12)"}},
    {"lanes", {"16", "16", "4097", "s.yaml: axes.lanes[0]: expected a lane count in [1, 4096], got '4097' (line 12)"}},
    {"entry_format",
     {"BF16", "bf16", "fp8", "s.yaml: axes.entry_format[0]: unknown LUT entry format 'fp8' (hif, fp16 or bf16) (line 12)"}},
    {"block", {"32", "32", "3", "s.yaml: axes.block[0]: expected a block size in [4, 256], got '3' (line 12)"}},
    {"recipe", {"r", "r", "q", "s.yaml: axes.recipe[0]: no recipe named 'q' under recipes: (line 12)"}},
    {"model", {"b", "b", "c", "s.yaml: axes.model[0]: no model named 'c' under models: (line 11)"}},
    {"clock_mhz", {"500", "500", "0", "s.yaml: axes.clock_mhz[0]: must be > 0 (line 12)"}},
    {"dram_gb_s", {"51.2", "51.2", "-1", "s.yaml: axes.dram_gb_s[0]: must be > 0 (line 12)"}},
};

TEST(SweepAxes, EveryAxisTakesAGoodValueAndRefusesABadOneNamingTheFileAndKey) {
  ASSERT_EQ(sweep_axis_names().size(), kCases.size());
  for (const std::string& name : sweep_axis_names()) {
    ASSERT_TRUE(kCases.count(name)) << "no test case for axis " << name;
    const AxisCase& c = kCases.at(name);
    const SweepSpec s = parse_sweep(sweep_with(name, c.good), "s.yaml", "/tmp");
    ASSERT_EQ(s.axes.back().first, name);
    EXPECT_EQ(s.axes.back().second, std::vector<std::string>{c.canonical}) << name;
    EXPECT_EQ(error_of([&] { parse_sweep(sweep_with(name, c.bad), "s.yaml", "/tmp"); }), c.error) << name;
  }
}

TEST(SweepAxes, UnknownAxisListsTheTable) {
  EXPECT_EQ(error_of([&] { parse_sweep(sweep_with("lut_size", "1"), "s.yaml", "/tmp"); }),
            "s.yaml: axes.lut_size: unknown axis (axes: lut_sram_bytes, lanes, entry_format, block, recipe, model, "
            "clock_mhz, dram_gb_s) (line 12)");
}

TEST(SweepAxes, EachAxisChangesWhatItsRowSays) {
  const auto apply = [](const std::string& name, const std::string& value) {
    PointChoice c;
    find_sweep_axis(name)->apply(value, c);
    return c;
  };
  EXPECT_EQ(apply("lut_sram_bytes", "1024").design.lut_sram_bytes, 1024);
  EXPECT_EQ(apply("lanes", "16").design.lanes, 16);
  const PointChoice f = apply("entry_format", "bf16");
  EXPECT_EQ(f.entry_format, "bf16");  // the pack's tables
  EXPECT_EQ(f.design.entry_format, LutEntryFormat::Bf16);  // and the unit's
  EXPECT_EQ(apply("block", "32").block, 32);
  EXPECT_EQ(apply("recipe", "r").recipe, "r");
  EXPECT_EQ(apply("model", "b").model, "b");
  EXPECT_DOUBLE_EQ(apply("clock_mhz", "500").design.clock_mhz, 500);
  EXPECT_DOUBLE_EQ(apply("dram_gb_s", "51.2").design.dram_gb_s, 51.2);
  EXPECT_EQ(find_sweep_axis("lut_size"), nullptr);
}

TEST(SweepAxes, SeriesLabelsForTheReport) {
  const std::map<std::string, std::string> want = {
      {"lanes", "16 lanes"}, {"block", "g32"}, {"recipe", "r"}, {"clock_mhz", "500 MHz"}, {"dram_gb_s", "51.2 GB/s"}};
  for (const SweepAxis& a : sweep_axes()) {
    if (!want.count(a.name)) {
      EXPECT_EQ(a.series_label, nullptr) << a.name;  // the model, the LUT size (x axis), the entry format (leads)
      continue;
    }
    ASSERT_NE(a.series_label, nullptr) << a.name;
    EXPECT_EQ(a.series_label(kCases.at(a.name).good), want.at(a.name)) << a.name;
  }
}

TEST(Report, ParetoFrontKeepsOnlyUndominatedPoints) {
  const auto front = pareto_front({{1, 5}, {2, 3}, {2, 4}, {3, 3}, {4, 1}, {5, 2}});
  const std::vector<std::pair<double, double>> want = {{1, 5}, {2, 3}, {4, 1}};
  EXPECT_EQ(front, want);
}

// Three objectives, all minimized (SQNR negated): a point beaten in every coordinate, or equal in
// some and beaten in one, is off the front; equal points both stay; a trade-off stays.
TEST(Report, ThreeWayParetoFrontKeepsPointsNoOtherBeatsInEveryObjective) {
  const std::vector<std::vector<double>> points = {
      {-25.0, 1.0, 1.0},  // 0: on the front
      {-24.0, 2.0, 2.0},  // 1: worse than 0 everywhere
      {-26.0, 3.0, 1.0},  // 2: best SQNR: on the front
      {-25.0, 1.0, 1.0},  // 3: equal to 0: kept
      {-25.0, 1.0, 1.5},  // 4: equal to 0 in two, worse in area: off
      {-20.0, 0.5, 5.0},  // 5: least energy: on the front
  };
  EXPECT_EQ(pareto_optimal(points), (std::vector<std::size_t>{0, 2, 3, 5}));
  EXPECT_TRUE(pareto_optimal({}).empty());
}

TEST(Report, SvgHasTitleAxesSeriesAndLegend) {
  Plot p;
  p.title = "Energy <per> token";
  p.x_label = "LUT SRAM size";
  p.y_label = "uJ";
  p.log2_x = true;
  p.bytes_x = true;
  p.series = {{"hif", {{64, 1}, {128, 2}, {1024, 3}}, true, ""}, {"fp16", {{64, 2}, {1024, 4}}, true, ""}};
  const std::string svg = render_svg(p);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<title>Energy &lt;per&gt; token</title>"), std::string::npos);
  EXPECT_NE(svg.find(">1 KiB<"), std::string::npos);
  EXPECT_NE(svg.find(">64 B<"), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find(">fp16<"), std::string::npos);
  EXPECT_EQ(format_bytes(32768), "32 KiB");
}

}  // namespace
}  // namespace sop::sim
