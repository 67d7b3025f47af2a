// Tables per layer beyond the pair: T selector tables (a k-means over tables), one table per group of
// rows, every bit counted, and what each asks of the LUT SRAM (lut_capacity.h).
#include <cmath>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "base/error.h"
#include "model/golden/decode.h"
#include "quantizer/evaluate.h"  // matrix_names
#include "quantizer/model_reader.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/lut_capacity.h"
#include "quantizer/sop/sop_plan.h"
#include "quantizer/sop/sop_search.h"
#include "quantizer/synthetic.h"

namespace sop {
namespace {

// A value of one of eight shapes, all within about +-0.05: blocks drawn from different shapes want
// different tables, so more tables must lower the error.
float shaped_value(int shape, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const float x = u(rng);
  switch (shape) {
    case 0: return 0.02f * n(rng);                                      // Gaussian
    case 1: return 0.04f * x;                                           // uniform
    case 2: return 0.04f * x * x * x;                                   // peaked
    case 3: return (x < 0 ? -0.03f : 0.03f) + 0.004f * n(rng);          // two clusters
    case 4: return 0.04f * std::copysign(std::sqrt(std::fabs(x)), x);   // hollow centre
    case 5: return (std::fabs(x) > 0.9f ? 0.05f * x : 0.002f * n(rng)); // sparse spikes
    case 6: return 0.03f * std::round(2.0f * x) / 2.0f + 0.002f * n(rng); // five levels
    default: return x > 0 ? 0.04f * x : 0.01f * x;                      // skewed
  }
}

// rows x cols where each block of `block` weights (or each row, when by_row) takes one shape.
Tensor shaped_matrix(int64_t rows, int64_t cols, int block, bool by_row, uint64_t seed) {
  Tensor t;
  t.name = "w";
  t.shape = {rows, cols};
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < rows; ++i) {
    int shape = 0;
    for (int64_t j = 0; j < cols; ++j) {
      if (by_row ? j == 0 : j % block == 0) shape = static_cast<int>((rng() >> 7) % 8);
      t.values.push_back(shaped_value(shape, rng));
    }
  }
  return t;
}

// The golden decode of a result, table by table as the hardware addresses them.
std::vector<float> golden_dequant(const SopLayerResult& r) {
  golden::LayerTables tables;
  for (const auto& cb : r.codebooks) tables.entries.insert(tables.entries.end(), cb.lut_codes.begin(), cb.lut_codes.end());
  std::vector<golden::Block> blocks;
  const int64_t per_row = r.blocks_per_row();
  for (int64_t b = 0; b < static_cast<int64_t>(r.scale_codes.size()); ++b) {
    const int64_t row = b / per_row, first = b % per_row * r.block_size;
    const int64_t length = std::min<int64_t>(r.block_size, r.cols - first);
    blocks.push_back({r.scale_codes[static_cast<std::size_t>(b)], static_cast<uint32_t>(r.table_of_block(b)),
                      Span<const uint8_t>(r.codes.data() + row * r.cols + first, static_cast<std::size_t>(length))});
  }
  const auto products = golden::decode_stream(r.decode, tables, blocks, {});
  std::vector<float> out;
  for (const auto& p : products) out.push_back(r.tensor_scale * golden::to_float(p));
  return out;
}

SopLayerResult quantize(const Tensor& w, const std::string& layout) {
  SopSearchOptions opt;
  const SopLayerRecipe recipe = search_layer_pair(w, {}, parse_sop_layout(layout), 0.0, opt);
  return quantize_with_recipe(w, {}, recipe, opt);
}

TEST(SopTables, LayoutGrammarWidensTheSelectorAndGroupsRows) {
  const SopLayout eight = parse_sop_layout("g32 sE4M3+sel3");
  EXPECT_EQ(eight.table_count(), 8);
  EXPECT_EQ(eight.scale.select_bits, 3);
  EXPECT_EQ(eight.scale.bits_per_block(), 8 + 3);
  const SopLayout stolen = parse_sop_layout("g16 sE2M2|sel3");  // sign + E2M2 + 3 selector bits = 8
  EXPECT_EQ(stolen.scale.bits_per_block(), 8);
  EXPECT_EQ(stolen.table_count(), 8);
  EXPECT_EQ(parse_sop_layout("g16 sE3M3|sel").table_count(), 2);
  EXPECT_EQ(parse_sop_layout("g32 sE4M3").table_count(), 1);
  const SopLayout rows = parse_sop_layout("g32 sE4M3 rows128");
  EXPECT_EQ(rows.rows_per_table, 128);
  EXPECT_EQ(rows.table_count(), 1);
  EXPECT_EQ(rows.scale.bits_per_block(), 8);
  for (const char* bad : {"g32 sE4M3+sel5", "g32 sE4M3+sel0", "g32 sE4M3 rows0", "g16 E2M3 UE4M4 rows4",
                          "g16 sE4M3+sel rows4", "g16 UE4M3+sel2", "g16 E2M3/E3M2 UE4M4+sel2"}) {
    EXPECT_THROW(parse_sop_layout(bad), Error) << bad;
  }
}

TEST(SopTables, MoreTablesLowerTheErrorAndDecodeThroughTheGoldenLut) {
  const Tensor w = shaped_matrix(64, 256, 32, false, 11);
  double previous = INFINITY, single = 0;
  for (const char* layout : {"g32 sE4M3", "g32 sE4M3+sel", "g32 sE4M3+sel2", "g32 sE4M3+sel3", "g32 sE4M3+sel4"}) {
    const SopLayerResult r = quantize(w, layout);
    const auto tables = static_cast<std::size_t>(parse_sop_layout(layout).table_count());
    ASSERT_EQ(r.codebooks.size(), std::max<std::size_t>(2, tables)) << layout;
    std::set<int> used(r.select.begin(), r.select.end());
    EXPECT_LT(*used.rbegin(), static_cast<int>(tables)) << layout;
    if (tables > 2) {
      EXPECT_GT(used.size(), tables / 2) << layout << ": most tables are chosen by some block";
    }
    // Growing the set never raises the error (each new table starts where the others serve worst).
    EXPECT_LE(r.choice.weighted_error, previous * 1.001) << layout;
    if (tables == 1) single = r.choice.weighted_error;
    // Measured: 0.0304 (1 table), 0.0267, 0.0252, 0.0210, 0.0191 (16 tables).
    if (tables == 16) { EXPECT_LT(r.choice.weighted_error, 0.7 * single) << layout; }
    previous = r.choice.weighted_error;
    const std::vector<float> golden = golden_dequant(r);
    ASSERT_EQ(golden.size(), r.dequant.size());
    for (std::size_t i = 0; i < golden.size(); ++i) ASSERT_EQ(golden[i], r.dequant[i]) << layout << " weight " << i;
  }
}

TEST(SopTables, RowGroupTablesFitEachGroupAndDecodeByRow) {
  const Tensor w = shaped_matrix(48, 128, 32, true, 12);
  const SopLayerResult single = quantize(w, "g32 sE4M3");
  const SopLayerResult per_row = quantize(w, "g32 sE4M3 rows1");
  const SopLayerResult per_16 = quantize(w, "g32 sE4M3 rows16");
  ASSERT_EQ(per_row.codebooks.size(), 48u);
  ASSERT_EQ(per_16.codebooks.size(), 3u);
  EXPECT_EQ(per_row.rows_per_table, 1);
  EXPECT_EQ(per_row.table_of_block(4 * 5 + 3), 5u);  // 4 blocks per row: block 23 is row 5's
  EXPECT_EQ(per_16.table_of_block(4 * 17), 1u);
  for (uint8_t s : per_row.select) EXPECT_EQ(s, 0);
  // Each row holds one shape: its own table fits it better than any layer-wide one (measured: 0.00946
  // against 0.01123; a group of 16 rows mixes shapes again: 0.01106).
  EXPECT_LT(per_row.choice.weighted_error, 0.9 * single.choice.weighted_error);
  EXPECT_LT(per_row.choice.weighted_error, per_16.choice.weighted_error);
  for (const SopLayerResult* r : {&per_row, &per_16}) {
    const std::vector<float> golden = golden_dequant(*r);
    for (std::size_t i = 0; i < golden.size(); ++i) ASSERT_EQ(golden[i], r->dequant[i]) << "weight " << i;
  }
}

TEST(SopTables, EveryBitIsCounted) {
  const Tensor w = shaped_matrix(16, 64, 32, false, 13);
  // g32 sE4M3+sel3 on 16 x 64 (HIF entries, 11 bits): 4 bits per code, 8 + 3 bits per block of 32,
  // every table that is not a fixed one stored (16 x 11 bits; a fixed one is an 8-bit id), the FP32
  // per-tensor scale.
  const SopLayerResult r = quantize(w, "g32 sE4M3+sel3");
  double tables = 0;
  for (const auto& cb : r.codebooks) tables += cb.name.rfind("DD4", 0) == 0 ? 16 * 11 : 8;
  EXPECT_DOUBLE_EQ(r.choice.bits, 16 * 64 * 4 + 16 * 2 * 11 + tables + 32);
  // One table per row: 16 fitted tables.
  const SopLayerResult rows = quantize(w, "g32 sE4M3 rows1");
  EXPECT_DOUBLE_EQ(rows.choice.bits, 16 * 64 * 4 + 16 * 2 * 8 + 16 * 16 * 11 + 32);
  // The tables a menu's row sample leaves out are added back (16 rows measured as 4: 12 more tables).
  EXPECT_DOUBLE_EQ(unmeasured_table_bits(parse_sop_layout("g32 sE4M3 rows1"), 16, 4, 11), 12 * 16 * 11);
  EXPECT_DOUBLE_EQ(unmeasured_table_bits(parse_sop_layout("g32 sE4M3 rows8"), 16, 4, 11), 1 * 16 * 11);
  EXPECT_DOUBLE_EQ(unmeasured_table_bits(parse_sop_layout("g32 sE4M3+sel3"), 16, 4, 11), 0);
}

// Sizes that offer the same selector layouts quantize alike: HIF tables are 22 bytes (16 x 11 bits),
// so one table needs 22, the pair 44, eight 176; FP16 ones 32, 64, 256.
TEST(LutCapacity, EquivalentLutBytesIsTheLargestDemandThatFits) {
  const std::vector<SopLayout> layouts = {parse_sop_layout("g16 sE4M3"), parse_sop_layout("g16 sE3M3|sel"),
                                          parse_sop_layout("g32 sE4M3+sel3")};
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 44), 44);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 100), 44);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 175), 44);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 176), 176);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 1 << 20), 176);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 30), 22);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 16, 63), 32);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 16, 300), 256);
  // Nothing fits: the size itself (the search then refuses it by name); no limit stays no limit.
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 20), 20);
  EXPECT_EQ(equivalent_lut_bytes(layouts, 11, 0), 0);
  // A row-group layout's charge depends on the size and the shapes: no two sizes are assumed alike.
  std::vector<SopLayout> with_rows = layouts;
  with_rows.push_back(parse_sop_layout("g32 sE4M3 rows128"));
  EXPECT_EQ(equivalent_lut_bytes(with_rows, 11, 1000), 1000);
}

TEST(LutCapacity, SelectorTablesMustBeResidentRowGroupsStream) {
  LutCapacity lut;
  lut.sram_bytes = 128;  // 1024 bits
  lut.lanes = 8;
  // 8 HIF tables: 8 x 16 x 11 = 1408 bits > 1024: refused; 4 tables (704 bits) fit.
  const LutDemand eight = lut_demand(parse_sop_layout("g32 sE4M3+sel3"), 64, 64, 11, lut);
  EXPECT_FALSE(eight.fits);
  EXPECT_EQ(eight.resident_bits, 1408);
  EXPECT_NE(eight.reason.find("1024"), std::string::npos);
  EXPECT_TRUE(lut_demand(parse_sop_layout("g32 sE4M3+sel2"), 64, 64, 11, lut).fits);
  // One table per row of 64 weights: 64 tables stream, two resident (352 bits). A row is 8 beats on 8
  // lanes, a table 16 load cycles: each of the 63 later rows waits 8 cycles, charged 8 lanes x 4 bits.
  const LutDemand rows = lut_demand(parse_sop_layout("g32 sE4M3 rows1"), 64, 64, 11, lut);
  EXPECT_TRUE(rows.fits);
  EXPECT_TRUE(rows.streamed);
  EXPECT_EQ(rows.resident_bits, 352);
  EXPECT_EQ(rows.stall_cycles, 63 * 8);
  EXPECT_DOUBLE_EQ(rows.charged_bits, 63.0 * 8 * 8 * 4);
  // Rows of 256 weights decode in 32 cycles: the next table loads meanwhile, no stall.
  EXPECT_EQ(lut_demand(parse_sop_layout("g32 sE4M3 rows1"), 64, 256, 11, lut).stall_cycles, 0);
  // Groups of 2 rows of 64 on 8 lanes: 16 cycles, exactly a load: no stall. A last short group: the
  // stall falls on the group after a full one only.
  EXPECT_EQ(lut_demand(parse_sop_layout("g32 sE4M3 rows2"), 64, 64, 11, lut).stall_cycles, 0);
  // All 3 groups of 24 rows fit (528 bits): nothing streams.
  const LutDemand resident = lut_demand(parse_sop_layout("g32 sE4M3 rows24"), 64, 64, 11, lut);
  EXPECT_FALSE(resident.streamed);
  EXPECT_EQ(resident.resident_bits, 3 * 176);
  // A LUT below two tables cannot stream.
  lut.sram_bytes = 32;
  EXPECT_FALSE(lut_demand(parse_sop_layout("g32 sE4M3 rows1"), 64, 64, 11, lut).fits);
  // No limit: everything fits.
  EXPECT_TRUE(lut_demand(parse_sop_layout("g32 sE4M3+sel4"), 64, 64, 11, LutCapacity{}).fits);
  EXPECT_EQ(group_reload_stall(16, 1, 64, 8), 8);
  EXPECT_EQ(group_reload_stall(16, 1, 65, 8), 7);  // 9 beats: the last one partly filled
}

}  // namespace
}  // namespace sop

namespace sop {
namespace {

TEST(SopTables, RecipesNameTablesAndRowGroupsAndTheLut) {
  const Recipe r = parse_recipe(
      "recipe: 1\nname: t\nbudget: {target_bpw: 4.5}\nlut_sram_bytes: 512\noptions:\n"
      "  - {block: 32, scale_format: sE4M3, select_bit: beside, tables: 8}\n"
      "  - {block: 16, scale_format: sE2M1, select_bit: stolen, tables: 16}\n"
      "  - {block: 32, scale_format: sE4M3, select_bit: none, rows_per_table: 128}\n",
      "t.yaml");
  EXPECT_EQ(r.lut_sram_bytes, 512);
  EXPECT_EQ(r.options[0].layout_name(), "g32 sE4M3+sel3");
  EXPECT_DOUBLE_EQ(r.options[0].nominal_bpw(), 4 + 11.0 / 32);
  EXPECT_EQ(r.options[1].layout_name(), "g16 sE2M1|sel4");
  EXPECT_DOUBLE_EQ(r.options[1].nominal_bpw(), 4.5);  // sign + E2M1 + 4 selector bits = 8 per 16
  EXPECT_EQ(r.options[2].layout_name(), "g32 sE4M3 rows128");
  EXPECT_EQ(layout_of(r.options[0]).table_count(), 8);
  EXPECT_EQ(layout_of(r.options[2]).rows_per_table, 128);
  const char* head = "recipe: 1\nname: t\noptions:\n  - ";
  for (const char* bad : {"{block: 32, scale_format: sE4M3, select_bit: beside, tables: 3}",
                          "{block: 32, scale_format: sE4M3, select_bit: beside, tables: 32}",
                          "{block: 32, scale_format: sE4M3, select_bit: none, tables: 4}",
                          "{block: 32, scale_format: sE4M3, select_bit: beside, tables: 4, fitted: false, codebooks: [NF4, SH4]}",
                          "{block: 32, scale_format: sE4M3, select_bit: beside, rows_per_table: 4}",
                          "{block: 32, scale_format: sE4M3, select_bit: none, rows_per_table: 0}"}) {
    try {
      (void)parse_recipe(std::string(head) + bad + "\n", "bad.yaml");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
      EXPECT_TRUE(std::string(e.what()).find("tables") != std::string::npos ||
                  std::string(e.what()).find("rows_per_table") != std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW((void)parse_recipe("recipe: 1\nname: t\nlut_sram_bytes: -1\noptions:\n  - {block: 32, scale_format: sE4M3}\n",
                                  "bad.yaml"),
               Error);
}

TEST(SopTables, ThePlanOffersOnlyWhatFitsTheLut) {
  const auto model = open_model("synthetic:llm?layers=1");
  const std::vector<std::string> names = matrix_names(*model, "");
  SopBudgetSpec spec;
  spec.name = "lut-test";
  spec.target_bpw = 4.5;
  spec.layouts = {parse_sop_layout("g32 sE4M3+sel3"), parse_sop_layout("g16 sE3M3|sel"), parse_sop_layout("g32 sE4M3")};
  auto chosen_tables = [&](int64_t lut_bytes) {
    SopSearchOptions opt;
    opt.lut.sram_bytes = lut_bytes;
    const SopBudgetPlan plan = plan_sop_budget(*model, names, spec, {}, opt);
    std::set<std::size_t> tables;
    for (std::size_t g = 0; g < plan.names.size(); ++g) {
      tables.insert(plan.recipes[g][static_cast<std::size_t>(plan.solution.choice[g])].tables.size());
    }
    return std::make_pair(tables, plan.solution.error);
  };
  // No limit, and 256 bytes (2048 bits >= 8 x 176): 8 tables are on the menu and win some matrices.
  const auto [unlimited, unlimited_error] = chosen_tables(0);
  EXPECT_TRUE(unlimited.count(8)) << "8 tables never chosen";
  EXPECT_EQ(chosen_tables(256).first, unlimited);
  // 64 bytes (512 bits): the pair (352) fits, 8 tables (1408) do not; the error can only rise.
  const auto [small, small_error] = chosen_tables(64);
  EXPECT_FALSE(small.count(8));
  EXPECT_GT(small_error, unlimited_error);
  // 16 bytes hold no table: refused, naming the matrix and the sizes.
  try {
    (void)chosen_tables(16);
    ADD_FAILURE() << "a 16-byte LUT was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("16 bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(names.front()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sop
