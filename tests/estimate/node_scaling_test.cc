// Node scaling (sim/node_scaling.h), the derived 7 nm table, the clock limit from the timing table and
// clock_mhz: auto (sim/clock.h). Expected values are hand computations from the paper's polynomials
// and its own corrected worked example, not from the code under test.
#include <cmath>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/text_file.h"
#include "model/hw/hw_config.h"
#include "sim/clock.h"
#include "sim/estimate.h"
#include "sim/node_scaling.h"
#include "sim/tech.h"
#include "tests/cli/cli_support.h"
#include "tests/test_support.h"

namespace sop::sim {
namespace {

const std::string kSource = SOP_SOURCE_DIR;
using ::sop::testing::error_of;

// The paper's corrected example (section 4.2.1): 1 pJ/op at 65 nm and 1.3 V is 0.1755 pJ/op at 32 nm
// (HP) and 0.9 V, from EnergyFactor_32 = 0.8367 (0.9)^2 - 0.4341 (0.9) + 0.1701 = 0.4571 and
// EnergyFactor_65 = 3.755 (1.3)^2 - 4.398 (1.3) + 1.975 = 2.604.
TEST(NodeScaling, ThePapersWorkedExample) {
  const ScalingModel& hp32 = scaling_model("HP32", "t", "k");
  const ScalingModel& n65 = scaling_model("65", "t", "k");
  EXPECT_NEAR(energy_factor(hp32, 0.9), 0.4571, 5e-5);
  EXPECT_NEAR(energy_factor(n65, 1.3), 2.604, 5e-4);
  // The paper divides its rounded factors (0.4571 / 2.604 = 0.17554); unrounded the ratio is 0.17558.
  EXPECT_NEAR(node_scale(n65, 1.3, hp32, 0.9).energy * 1.0, 0.1755, 1e-4);
}

// Delay from the synthesis library (180 nm model at 1.8 V) to the 45 nm table's node (HP45 at 0.9 V):
// d_180(1.8) = 97.09 x 3.24 - 356.7 x 1.8 + 406.5 = 79.0116;
// d_HP45(0.9) = -501.6 x 0.729 + 1567 x 0.81 - 1619 x 0.9 + 566.1 = 12.6036; ratio 0.159516.
TEST(NodeScaling, DelayAndAreaFactorsByHand) {
  const ScalingModel& n180 = scaling_model("180", "t", "k");
  const ScalingModel& hp45 = scaling_model("HP45", "t", "k");
  EXPECT_NEAR(delay_factor(n180, 1.8), 79.0116, 1e-4);
  EXPECT_NEAR(delay_factor(hp45, 0.9), 12.6036, 1e-4);
  const NodeScale s = node_scale(n180, 1.8, hp45, 0.9);
  EXPECT_NEAR(s.delay, 12.6036 / 79.0116, 1e-6);
  EXPECT_DOUBLE_EQ(s.area, 0.053);  // the paper's area table, row 180 nm, column 45 nm
  EXPECT_DOUBLE_EQ(area_ratio(45, 7), 0.059);
  EXPECT_DOUBLE_EQ(area_ratio(7, 180), 320);
  EXPECT_NE(error_of([] { area_ratio(28, 7); }).find("28 nm is not a node"), std::string::npos);
  EXPECT_NE(error_of([] { scaling_model("HP9", "t.yaml", "node_scaling.model.name"); })
                .find("t.yaml: node_scaling.model.name: 'HP9' is not a Stillmaker-Baas device model (one of 180, 130"),
            std::string::npos);
}

// The 7 nm table is the 45 nm one scaled: energy by e_HP7(0.7) / e_HP45(0.9) =
// (0.1776 x 0.49 - 0.09097 x 0.7 + 0.02447) / (1.018 x 0.81 - 0.3107 x 0.9 + 0.1539) = 0.047815 / 0.69885,
// areas by 0.059; DRAM energy, leakage and the cost model are the base's.
TEST(NodeScaling, TheSevenNanometreTableIsTheFortyFiveScaledWithItsSourcesSaying) {
  const TechTable t45 = load_tech_table(kSource + "/configs/tech/45nm.yaml");
  const TechTable t7 = load_tech_table(kSource + "/configs/tech/7nm.yaml");
  const double e = 0.047815 / 0.69885;
  EXPECT_EQ(t7.name, "7nm");
  EXPECT_EQ(t7.node_nm, 7);
  EXPECT_EQ(t7.scaling.model, "HP7");
  EXPECT_EQ(t7.scaling.synthesis_model, "180");
  ASSERT_EQ(t7.storage_read_pj_per_bit.points.size(), t45.storage_read_pj_per_bit.points.size());
  for (std::size_t i = 0; i < t7.storage_read_pj_per_bit.points.size(); ++i) {
    EXPECT_NEAR(t7.storage_read_pj_per_bit.points[i].y, t45.storage_read_pj_per_bit.points[i].y * e, 1e-5);
    EXPECT_NE(t7.storage_read_pj_per_bit.points[i].source.find("Stillmaker-Baas 2017 energy, HP45 at 0.90 V -> HP7 at 0.70 V"),
              std::string::npos)
        << t7.storage_read_pj_per_bit.points[i].source;
  }
  EXPECT_NEAR(t7.multiply_pj.at(64), 0.2 * e, 1e-5);  // Horowitz's 8-bit multiply
  EXPECT_NEAR(t7.register_pj_per_bit.value, t45.register_pj_per_bit.value * e, 1e-7);
  EXPECT_NEAR(t7.storage_area_um2.at(32768), 16406 * 0.059, 1e-6);  // fakeram45 macro
  EXPECT_NEAR(t7.nand2_um2.value, 0.798 * 0.059, 1e-9);
  EXPECT_EQ(t7.dram_pj_per_bit.value, t45.dram_pj_per_bit.value);
  EXPECT_EQ(t7.leakage_mw_per_mm2.value, t45.leakage_mw_per_mm2.value);
  EXPECT_EQ(t7.leakage_mw_per_mm2.source, t45.leakage_mw_per_mm2.source);
  EXPECT_EQ(t7.defect_density_per_cm2.value, t45.defect_density_per_cm2.value);
  // Logic area follows its NAND2 equivalents: 7 nm logic = 45 nm logic x 0.059.
  const LogicAreaRow a45 = t45.logic_area(8, 16, "hif"), a7 = t7.logic_area(8, 16, "hif");
  EXPECT_NEAR(a7.lanes_um2, a45.lanes_um2 * 0.059, 1e-6 * a45.lanes_um2);
}

TEST(NodeScaling, DerivedTablesAndVoltagesOutsideTheFitsAreRefused) {
  const std::string dir = kSource + "/configs/tech";
  const auto derived = [&](const std::string& extra) {
    return error_of([&] {
      parse_tech_table("tech: 1\nname: x\nnode_nm: 7\nvoltage_v: 0.7\nderived_from: {table: 45nm.yaml}\n"
                       "node_scaling:\n  model: {name: HP7, source: s}\n" + extra,
                       "x.yaml", dir);
    });
  };
  EXPECT_EQ(derived(""), "");
  EXPECT_EQ(derived("energy_pj: {}\n"),
            "x.yaml: energy_pj: unknown key (known here: schema_version, tech, name, node_nm, voltage_v, derived_from, "
            "node_scaling, cost) (line 8)");
  EXPECT_NE(error_of([&] {
              parse_tech_table("tech: 1\nname: x\nnode_nm: 16\nvoltage_v: 0.7\nderived_from: {table: 45nm.yaml}\n"
                               "node_scaling:\n  model: {name: HP7, source: s}\n",
                               "x.yaml", dir);
            }).find("x.yaml: node_nm: differs from the node of HP7 (7 nm)"),
            std::string::npos);
  // HP45's delay fit turns negative at 2 V: -501.6 x 8 + 1567 x 4 - 1619 x 2 + 566.1 = -416.7.
  std::string t45 = read_text_file(dir + "/45nm.yaml", "technology table");
  t45.replace(t45.find("voltage_v: 0.9"), 14, "voltage_v: 2.0");
  EXPECT_NE(error_of([&] { parse_tech_table(t45, "hot.yaml", dir); })
                .find("hot.yaml: voltage_v: the Stillmaker-Baas fits give no positive factor at this voltage for HP45"),
            std::string::npos);
}

// A tech table whose timing table is a hand-made file: 8 lanes 4.0 ns, 64 lanes 5.0 ns (hif, 16 entries,
// one stage).
struct HandTimedTech {
  sop::testing::ScratchDir dir;
  TechTable tech;
  HandTimedTech() {
    const std::string src = kSource + "/configs/tech";
    std::ofstream(dir.file("logic_area_osu018.json")) << read_text_file(src + "/logic_area_osu018.json", "logic");
    const auto row = [](int lanes, double ns) {
      return "{\"rtl_parameters\": {\"Lanes\": " + std::to_string(lanes) +
             ", \"CodeBits\": 4}, \"entry_format\": \"hif\", \"timing\": {\"critical_path_ns\": " + std::to_string(ns) +
             ", \"startpoint\": \"a\", \"endpoint\": \"b\"}}";
    };
    std::ofstream(dir.file("timing_osu018.json")) << "[" << row(8, 4.0) << "," << row(64, 5.0) << "]\n";
    tech = parse_tech_table(read_text_file(src + "/45nm.yaml", "tech"), "45nm.yaml", dir.path().string());
  }
};

TEST(ClockLimit, InterpolatesInLog2LanesAndScalesByTheDelayFactor) {
  const HandTimedTech h;
  const double k = 12.6036 / 79.0116;  // 180 nm at 1.8 V -> HP45 at 0.9 V, by hand above
  // 16 lanes: log2 16 = 4 lies a third of the way from log2 8 = 3 to log2 64 = 6: 4.0 + 1.0 / 3.
  ClockLimit c = h.tech.clock_limit(16, 16, "hif", 1);
  EXPECT_NEAR(c.synthesis_critical_path_ns, 4.0 + 1.0 / 3, 1e-9);
  EXPECT_NEAR(c.fmax_mhz, 1000 / ((4.0 + 1.0 / 3) * k), 1e-3);
  EXPECT_NE(c.basis.find("interpolated from 8 and 64 lanes"), std::string::npos) << c.basis;
  EXPECT_NEAR(h.tech.clock_limit(8, 16, "hif", 1).fmax_mhz, 1000 / (4.0 * k), 1e-3);
  // Beyond the ends the segment is extended (256 lanes: 4 + 5/3 ns), never below the smallest measured.
  EXPECT_NEAR(h.tech.clock_limit(256, 16, "hif", 1).synthesis_critical_path_ns, 4.0 + 5.0 / 3, 1e-9);
  EXPECT_NEAR(h.tech.clock_limit(2, 16, "hif", 1).synthesis_critical_path_ns, 4.0, 1e-9);
  EXPECT_NE(h.tech.clock_limit(2, 16, "hif", 1).basis.find("the smallest measured unit's, 8 lanes"), std::string::npos);
  EXPECT_NE(h.tech.clock_limit(256, 16, "hif", 1).basis.find("extended from 8 and 64 lanes"), std::string::npos);
  // bf16 has no RTL: the hif rows; an unmeasured stage count or format is refused naming the table.
  EXPECT_NEAR(h.tech.clock_limit(8, 16, "bf16", 1).synthesis_critical_path_ns, 4.0, 1e-9);
  EXPECT_NE(error_of([&] { h.tech.clock_limit(8, 16, "fp16", 1); }).find("timing_osu018.json: no critical path measured"),
            std::string::npos);

  const ClockCheck ok = check_clock(1000, 16, 16, "hif", 1, h.tech);
  EXPECT_TRUE(ok.known);
  EXPECT_FALSE(ok.over_limit);
  EXPECT_EQ(ok.describe("45nm").rfind("clock 1000 MHz: meets the unit's 1447 MHz limit at 45nm", 0), 0u)
      << ok.describe("45nm");
  const ClockCheck over = check_clock(1500, 16, 16, "hif", 1, h.tech);
  EXPECT_TRUE(over.over_limit);
  EXPECT_EQ(over.describe("45nm").rfind("warning: clock 1500 MHz exceeds the 1447 MHz", 0), 0u) << over.describe("45nm");
  const ClockCheck unknown = check_clock(1000, 16, 64, "hif", 1, h.tech);
  EXPECT_FALSE(unknown.known);
  EXPECT_FALSE(unknown.over_limit);
}

TEST(ClockLimit, AutoTakesTheLimitAndUnresolvedAutoIsRefused) {
  const HandTimedTech h;
  hw::HwConfig hw = hw::parse_hw_config("name: a\nclock_mhz: auto\ndecode_unit:\n  lanes: 8\n", "a.yaml");
  EXPECT_TRUE(hw.clock_auto);
  EXPECT_EQ(hw.clock_mhz, 0);
  const ClockCheck c = apply_clock(hw, h.tech);
  EXPECT_TRUE(c.from_auto);
  EXPECT_EQ(hw.clock_mhz, std::floor(1000 / (4.0 * 12.6036 / 79.0116)));  // 1567 MHz
  EXPECT_EQ(c.describe("45nm").rfind("clock 1567 MHz: auto", 0), 0u) << c.describe("45nm");
  // An estimate of a design over its limit carries the flag into its record (and a sweep's point files).
  Design d = design_from_hw(hw, 0);
  d.clock_mhz = 2000;
  ActionCounts counts;
  counts.decoded_weights = 1;
  counts.cycles = 1;
  counts.seconds = 1e-9;
  const Estimate e = estimate(counts, d, h.tech);
  EXPECT_TRUE(e.clock_over_limit);
  EXPECT_NEAR(e.clock_limit_mhz, 1000 / (4.0 * 12.6036 / 79.0116), 1e-3);
  const nlohmann::json j = estimate_to_json(e);
  EXPECT_EQ(j.at("clock_over_limit"), true);
  EXPECT_EQ(estimate_from_json(j).clock_over_limit, true);
  // auto without a timing row for the unit is an error naming the config and the key.
  hw::HwConfig wide = hw::parse_hw_config("name: w\nclock_mhz: auto\ndecode_unit:\n  lanes: 8\n  lut: {entries_per_table: 64}\n",
                                          "w.yaml");
  EXPECT_NE(error_of([&] { apply_clock(wide, h.tech); }).find("w.yaml: clock_mhz: auto: "), std::string::npos);
}

// End to end: sop simulate resolves auto, and flags a clock above the limit on stdout and stderr.
TEST(ClockLimit, SimulatePrintsTheCheck) {
  sop::testing::ScratchDir dir;
  std::ofstream(dir.file("auto.yaml")) << "name: auto\nclock_mhz: auto\ndecode_unit:\n  lanes: 8\n";
  std::ofstream(dir.file("fast.yaml")) << "name: fast\nclock_mhz: 50000\ndecode_unit:\n  lanes: 8\n";
  const std::string tech = "--tech '" + kSource + "/configs/tech/45nm.yaml'";
  const auto a = sop::testing::run_sop("simulate --shapes 'llama-small?layers=1' --counts-only --hw '" +
                                           dir.file("auto.yaml") + "' " + tech,
                                       dir);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("MHz: auto, the unit's limit at 45nm"), std::string::npos) << a.out;
  const auto f = sop::testing::run_sop("simulate --shapes 'llama-small?layers=1' --counts-only --hw '" +
                                           dir.file("fast.yaml") + "' " + tech,
                                       dir);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.out.find("warning: clock 50000 MHz exceeds the"), std::string::npos) << f.out;
  EXPECT_NE(f.err.find("warning: clock 50000 MHz exceeds the"), std::string::npos) << f.err;
}

}  // namespace
}  // namespace sop::sim
