// Tables shared by a group of layers (issue "LUT SRAM capacity buys fidelity"): a recipe option with
// share_tables: N fits one table set for each group of N consecutive matrices, the planner reserves
// each set's bits once, the first matrix that uses a set stores it and the others refer to it (pack
// format 3.0, `tables_from`), and `sop eval` of the recipe measures the pack's weights bit for bit.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/sop_plan.h"
#include "quantizer/sop/sop_search.h"
#include "quantizer/weight_format.h"
#include "tests/quantizer/pack_test_support.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using testing::same_bits;
using testing::TempDir;
using testing::write_layers;

const std::string kSource = SOP_SOURCE_DIR;
const std::string kRecipe = kSource + "/configs/quant/tables/t8-shared7.yaml";

std::string option_recipe(const std::string& option) {
  return "schema_version: 1\nrecipe: 1\nname: s\nbudget: {target_bpw: 4.5}\noptions:\n  - " + option + "\n";
}

std::string recipe_error(const std::string& option) {
  try {
    (void)parse_recipe(option_recipe(option), "s.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SharedTables, TheRecipeKeyNamesTheLayoutAndIsRefusedWhereTablesCannotBeShared) {
  const Recipe r = parse_recipe(
      option_recipe("{block: 32, scale_format: sE4M3, select_bit: beside, tables: 8, fitted: true, share_tables: 7}"), "s.yaml");
  ASSERT_EQ(r.options.size(), 1u);
  EXPECT_EQ(r.options[0].share_tables, 7);
  EXPECT_EQ(r.options[0].layout_name(), "g32 sE4M3+sel3 shared7");
  const SopLayout layout = parse_sop_layout(r.options[0].layout_name());
  EXPECT_EQ(layout.share_group, 7);
  EXPECT_EQ(layout.table_count(), 8);
  EXPECT_EQ(parse_sop_layout("g16 sE3M3|sel").share_group, 0);
  // A group of one is a private table set.
  EXPECT_EQ(parse_recipe(option_recipe("{block: 16, scale_format: sE3M3, share_tables: 1}"), "s.yaml").options[0].share_tables, 0);

  EXPECT_NE(recipe_error("{block: 32, scale_format: sE4M3, select_bit: none, rows_per_table: 128, share_tables: 4}")
                .find("s.yaml: options[0].share_tables: row-group tables"),
            std::string::npos);
  EXPECT_NE(recipe_error("{block: 16, scale_format: UE4M4, select_bit: none, codebooks: [E2M3], share_tables: 4}")
                .find("options[0].share_tables: shared tables are fitted tables"),
            std::string::npos);
  EXPECT_NE(recipe_error("{block: 16, scale_format: sE3M3, codebooks: [NF4, SH4], fitted: false, share_tables: 4}")
                .find("options[0].share_tables: shared tables are fitted tables"),
            std::string::npos);
  EXPECT_NE(recipe_error("{block: 16, scale_format: sE3M3, share_tables: 0}").find("options[0].share_tables"), std::string::npos);
  EXPECT_THROW((void)parse_sop_layout("g32 sE4M3 rows128 shared4"), Error);
  EXPECT_THROW((void)parse_sop_layout("g16 E2M3 UE4M4 shared4"), Error);
}

// Bits of one table as layer_bits counts it: a fitted (DD4) table at the HIF entry width, a fixed one
// as its 8-bit id.
double table_bits(const SopCodebook& cb) { return cb.name.rfind("DD4", 0) == 0 ? 16.0 * 11 : 8.0; }

// A synthetic Llama-shaped model of 2 decoder layers (14 matrices, two groups of 7), quantized with
// the t8-shared7 recipe, and the same recipe through `sop eval`'s format.
TEST(SharedTables, EachSetIsStoredOnceCountedOnceAndEvalMeasuresThePack) {
  const std::string spec = "synthetic:llm?dim=64&hidden=128&layers=2";
  const auto model = open_model(spec);
  const std::vector<std::string> names = matrix_names(*model, "");
  ASSERT_EQ(names.size(), 14u);

  auto format = make_weight_format("recipe:" + kRecipe);
  QuantOptions qopts;
  qopts.threads = 1;
  format->plan(*model, names, qopts);
  std::map<std::string, QuantResult> evaluated;
  for (const std::string& name : names) {
    const Tensor w = model->read(name);
    evaluated[name] = format->quantize(w, options_for_tensor(qopts, name, w.cols()));
  }

  TempDir dir;
  QuantizeRequest request;
  request.model_path = spec;
  request.out_path = dir.file("shared.sop");
  request.threads = 2;
  const QuantizeSummary summary = quantize_model_to_pack(*model, load_recipe(kRecipe), request);
  const PackFile pack = PackFile::open(request.out_path);
  EXPECT_EQ(pack.version_major(), kPackVersionMajor);
  ASSERT_EQ(pack.layers().size(), names.size());

  double counted = 0, weights = 0, stored_bytes = 0;
  std::size_t references = 0;
  std::set<int64_t> storers;
  for (std::size_t i = 0; i < pack.layers().size(); ++i) {
    const PackedLayerView& l = pack.layers()[i];
    ASSERT_TRUE(evaluated.count(l.name)) << l.name;
    // The weights eval measured are the pack's, and so are the bits.
    EXPECT_TRUE(same_bits(dequantize_layer(l), evaluated[l.name].dequant)) << l.name;
    EXPECT_EQ(l.choice.bits, evaluated[l.name].total_bits) << l.name;
    ASSERT_EQ(l.table_count(), 8u) << l.name;  // every option of the recipe reads 8 tables
    // The bits by hand: codes, block scales + selectors, the per-tensor scale, residuals, and either
    // the stored tables or a 32-bit reference to the layer that stores them.
    const double weights_here = static_cast<double>(l.rows * l.cols);
    double expect = weights_here * 4 + static_cast<double>(l.block_count()) * l.scale_layout.bits_per_block() + 32 +
                    static_cast<double>(l.sparse.size()) * (l.sparse_index_bits + 11);
    if (l.tables_from >= 0) {
      ++references;
      ASSERT_LT(l.tables_from, static_cast<int64_t>(i)) << l.name;
      const PackedLayerView& from = pack.layers()[static_cast<std::size_t>(l.tables_from)];
      EXPECT_EQ(from.tables_from, -1) << l.name;
      EXPECT_EQ(l.tables_from / 7, static_cast<int64_t>(i) / 7) << l.name << ": refers outside its group of 7";
      EXPECT_EQ(from.block_size, l.block_size) << l.name << ": a set belongs to one option's layout";
      EXPECT_EQ(from.scale_layout.name, l.scale_layout.name) << l.name;
      for (std::size_t t = 0; t < l.table_count(); ++t) EXPECT_EQ(l.codebooks[t].lut_codes, from.codebooks[t].lut_codes);
      storers.insert(l.tables_from);
      expect += 32;
    } else {
      for (const SopCodebook& cb : l.codebooks) expect += table_bits(cb);
    }
    EXPECT_DOUBLE_EQ(l.choice.bits, expect) << l.name;
    counted += l.choice.bits;
    weights += weights_here;
    stored_bytes += static_cast<double>(l.data_bytes);
  }
  // Two groups, at most one set per option layout (3) in each: at least 8 of the 14 refer to a set.
  EXPECT_GE(references, 8u);
  EXPECT_LE(storers.size(), 6u);
  EXPECT_LE(counted / weights, 4.5 + 1e-9);
  EXPECT_DOUBLE_EQ(summary.quantized_bits, counted);
  // What is stored is what is counted (the 32-bit reference lives in the layer header).
  EXPECT_NEAR(stored_bytes * 8 / weights, counted / weights, 0.05);
}

// 16 shared tables a set (2816 bits in HIF): reserving the sets of all three options of both groups
// (6 x 2816 bits, 0.21 bpw of this model) leaves too little of 4.5 bpw for the cheapest options
// (4.375 bpw of codes, scales and selectors), but the sets the answer uses fit. The planner finds such
// an answer, within the budget with every set it stores counted once.
TEST(SharedTables, ABudgetTooSmallToReserveEverySetIsMetWithTheSetsTheAnswerUses) {
  const auto model = open_model("synthetic:llm?dim=64&hidden=128&layers=2");
  const std::vector<std::string> names = matrix_names(*model, "");
  const SopBudgetSpec spec = budget_spec_of(load_recipe(kSource + "/configs/quant/tables/t16-shared7.yaml"));
  SopSearchOptions search;
  search.threads = 2;
  const SopBudgetPlan plan = plan_sop_budget(*model, names, spec, {}, search);
  ASSERT_TRUE(plan.solution.feasible);
  EXPECT_LE(plan.solution.bits, plan.budget_bits);
  EXPECT_GE(plan.shared_sets, 2);  // at least one per group
  EXPECT_LE(plan.shared_table_bits, plan.shared_sets * 16.0 * 16 * 11);
  double bits = 0;
  std::set<int64_t> stored;
  for (std::size_t g = 0; g < plan.names.size(); ++g) {
    const auto o = static_cast<std::size_t>(plan.solution.choice[g]);
    bits += plan.options[g][o].bits;
    const SopLayerRecipe& r = plan.recipes[g][o];
    ASSERT_GE(r.table_group, 0) << plan.names[g];
    if (r.stores_tables) {
      EXPECT_TRUE(stored.insert(r.table_group).second) << "set " << r.table_group << " stored twice";
    }
  }
  EXPECT_EQ(static_cast<int>(stored.size()), plan.shared_sets);
  EXPECT_DOUBLE_EQ(bits, plan.solution.bits);
  // Every set a matrix reads is stored by one of them.
  for (std::size_t g = 0; g < plan.names.size(); ++g) {
    EXPECT_EQ(stored.count(plan.recipes[g][static_cast<std::size_t>(plan.solution.choice[g])].table_group), 1u) << plan.names[g];
  }
}

// The writer refers a sharing layer to the layer that stored its set, and refuses a reference it
// cannot make; the reader refuses a reference that does not name an earlier layer holding its own
// tables of the same formats.
TEST(SharedTables, BrokenReferencesAreRefusedByTheWriterAndTheReader) {
  testing::SyntheticLayerSpec spec;
  spec.select_bits = 3;
  spec.channel_factors = false;
  spec.seed = 11;
  SopLayerResult a = testing::make_synthetic_layer("blk.0.a", spec);
  spec.seed = 12;
  SopLayerResult b = testing::make_synthetic_layer("blk.0.b", spec);
  b.codebooks = a.codebooks;  // b reads a's tables
  TempDir dir;
  // b with a's tables as its own: the decode a reference must reproduce.
  write_layers(dir.file("own.sop"), {a, b});
  const PackFile own = PackFile::open(dir.file("own.sop"));
  const std::vector<float> expected = dequantize_layer(own.layers().at(1));

  a.table_group = b.table_group = 0;
  a.tables_stored = true;
  b.tables_stored = false;
  write_layers(dir.file("shared.sop"), {a, b});
  const PackFile shared = PackFile::open(dir.file("shared.sop"));
  EXPECT_EQ(shared.layers().at(0).tables_from, -1);
  EXPECT_EQ(shared.layers().at(1).tables_from, 0);
  EXPECT_TRUE(same_bits(dequantize_layer(shared.layers().at(1)), expected));
  // The reference stores no tables: 8 names (one byte for a known name, else a string) and 8 x 16
  // entries of 11 bits fewer.
  uint64_t name_bytes = 0;
  for (const SopCodebook& cb : a.codebooks) name_bytes += cb.name == "DD4a" ? 1 : 3 + cb.name.size();
  EXPECT_EQ(own.layers().at(1).data_bytes - shared.layers().at(1).data_bytes, name_bytes + (8u * 16u * 11u + 7u) / 8u);

  const auto writer_error = [&](const std::vector<SopLayerResult>& layers) {
    try {
      write_layers(dir.file("refused.sop"), layers);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(writer_error({b}).find("blk.0.b: table_group: set 0 is not stored by an earlier layer"), std::string::npos);
  SopLayerResult c = b;
  c.tensor_name = "blk.0.c";
  c.codebooks[3] = a.codebooks[4];
  EXPECT_NE(writer_error({a, c}).find("blk.0.c: table_group: its tables differ from set 0's"), std::string::npos);

  // tables_from of the second layer, edited (checksums recomputed): itself, and a layer past the end.
  std::vector<uint8_t> bytes = testing::read_bytes(dir.file("shared.sop"));
  const auto sections = testing::list_sections(bytes);
  ASSERT_EQ(sections.size(), 3u);  // MODL, a, b
  // The LAYR header: name (u16 length + bytes), then 42 bytes of fields up to table_count; tables_from follows.
  const std::size_t field = sections[2].payload + 2 + b.tensor_name.size() + 42;
  ASSERT_EQ(testing::le32(bytes, field), 0u);
  const auto reader_error = [&](uint32_t value) {
    std::vector<uint8_t> edited = bytes;
    testing::put32(edited, field, value);
    testing::fix_checksums(edited);
    testing::write_bytes(dir.file("edited.sop"), edited);
    try {
      (void)PackFile::open(dir.file("edited.sop"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(reader_error(1).find("layer 'blk.0.b' tables_from: 1 is not an earlier layer (1 before it)"), std::string::npos)
      << reader_error(1);
  EXPECT_NE(reader_error(7).find("tables_from: 7 is not an earlier layer"), std::string::npos);
}

}  // namespace
}  // namespace sop
