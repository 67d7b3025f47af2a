// The SOP per-layer search: signed scales, selection bits, DD4, golden-decode agreement.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "base/error.h"
#include "model/golden/decode.h"
#include "quantizer/codebooks/codebooks.h"
#include "quantizer/sop/activation_stats.h"
#include "quantizer/sop/block_quant.h"
#include "quantizer/sop/sop_search.h"
#include "tests/io/io_test_util.h"

namespace sop {
namespace {

Tensor random_matrix(int64_t rows, int64_t cols, uint64_t seed, bool laplace = false) {
  Tensor t;
  t.name = "w";
  t.shape = {rows, cols};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 0.02f);
  std::exponential_distribution<float> expo(50.0f);
  for (int64_t i = 0; i < rows * cols; ++i) {
    t.values.push_back(laplace ? ((rng() & 1) ? 1.0f : -1.0f) * expo(rng) : normal(rng));
  }
  return t;
}

SopLayerRecipe fixed_recipe(const std::string& layout, std::vector<std::string> names) {
  SopLayerRecipe r;
  r.layout = parse_sop_layout(layout);
  for (const auto& n : names) {
    r.table_names.push_back(n);
    r.tables.push_back(fixed_codebook(n, r.layout.block).values);
  }
  return r;
}

TEST(SopLayout, ParsesScaleAndSelectPlacement) {
  const SopLayout a = parse_sop_layout("g16 sE3M3|sel");
  EXPECT_EQ(a.block, 16);
  EXPECT_EQ(a.scale.bits_per_block(), 8);  // sign + E3M3 + stolen select
  EXPECT_EQ(a.scale.select, SelectBitPlacement::Stolen);
  const SopLayout b = parse_sop_layout("g16 sE4M3+sel");
  EXPECT_EQ(b.scale.bits_per_block(), 9);
  const SopLayout c = parse_sop_layout("g16 E2M3 UE4M4");
  EXPECT_EQ(c.code_bits, 6);
  EXPECT_EQ(c.scale.bits_per_block(), 8);
  EXPECT_FALSE(c.fitted_codebooks);
  EXPECT_THROW(parse_sop_layout("g16 nonsense"), std::exception);
}

TEST(SopSearch, SignedScalePutsTheLargestElementOnPlusOne) {
  // One row, one block of 16 whose largest-magnitude element is negative.
  Tensor w;
  w.name = "w";
  w.shape = {1, 16};
  w.values = {0.1f, -0.3f, 0.2f, -2.5f, 0.7f, 1.1f, -0.05f, 0.0f, 0.4f, -0.9f, 1.5f, 0.33f, -1.2f, 0.8f, 0.01f, 2.0f};
  SopSearchOptions opt;
  opt.scale_steps = 0;  // exactly amax / cb_max, rounded to the scale format
  const SopLayerResult r = quantize_with_recipe(w, {}, fixed_recipe("g16 sE4M3", {"Split87"}), opt);
  ASSERT_EQ(r.scale_codes.size(), 1u);
  const uint32_t sign_bit = 1u << 7;
  EXPECT_NE(r.scale_codes[0] & sign_bit, 0u);                    // negative scale
  EXPECT_EQ(r.codebooks[0].values[r.codes[3]], 1.0f);            // -2.5 maps to +1
  // The per-tensor scale puts this block's scale on the format's largest value: the extreme decodes
  // to -2.5 up to FP32 rounding of the tensor scale.
  EXPECT_NEAR(r.dequant[3], -2.5f, 2.5f * 1e-6f);
}

TEST(SopSearch, SelectBitChoosesTheLowerErrorTable) {
  // Rows alternate between blocks made of exact Split87 levels and blocks of exact NF4 levels.
  const auto split = split87_values();
  const auto nf4 = nf4_values();
  Tensor w;
  w.name = "w";
  w.shape = {8, 32};
  std::mt19937 rng(5);
  for (int64_t i = 0; i < 8 * 32; ++i) {
    const int64_t block = i / 16;
    const auto& table = block % 2 == 0 ? split : nf4;
    float v = table[rng() % 16] * 0.1f;
    if (i % 16 == 0) v = 0.1f;  // the block's extreme, on +1
    w.values.push_back(v);
  }
  SopSearchOptions opt;
  opt.entry_format = golden::EntryFormat::Fp16;  // keep NF4's levels (HIF would round them)
  const SopLayerResult r = quantize_with_recipe(w, {}, fixed_recipe("g16 sE4M3+sel", {"Split87", "NF4"}), opt);
  ASSERT_EQ(r.select.size(), 16u);
  for (std::size_t b = 0; b < r.select.size(); ++b) EXPECT_EQ(r.select[b], b % 2) << "block " << b;
  // And per block, the select bit names the table with the lower error at its best scale.
  const SopLayerRecipe recipe = fixed_recipe("g16 sE4M3+sel", {"NF4", "SH4"});
  const Tensor noisy = random_matrix(16, 64, 11, true);
  const SopLayerResult q = quantize_with_recipe(noisy, {}, recipe, opt);
  const ScaleGrid grid(q.decode.scale, q.tensor_scale);
  const LutCodebook a("NF4", q.decode, recipe.tables[0]), b("SH4", q.decode, recipe.tables[1]);
  std::vector<float> ones(64, 1.0f);
  for (int64_t blk = 0; blk < 64; ++blk) {
    const float* x = noisy.values.data() + blk * 16;
    const float ea = fit_block(x, ones.data(), 16, a, grid, {1, true}).error;
    const float eb = fit_block(x, ones.data(), 16, b, grid, {1, true}).error;
    EXPECT_EQ(q.select[static_cast<std::size_t>(blk)], eb < ea ? 1 : 0);
  }
}

TEST(SopSearch, DequantIsTheGoldenDecodeBitForBit) {
  const Tensor w = random_matrix(12, 80, 21);  // 80 = 5 blocks of 16
  SopSearchOptions opt;
  const SopLayerRecipe recipe = search_layer_pair(w, {}, parse_sop_layout("g16 sE3M3|sel"), 0.0, opt);
  SopLayerRecipe with_sparse = recipe;
  with_sparse.sparse_count = 20;
  const SopLayerResult r = quantize_with_recipe(w, {}, with_sparse, opt);
  ASSERT_EQ(r.sparse.size(), 20u);
  golden::LayerTables tables;
  for (const auto& cb : r.codebooks) tables.entries.insert(tables.entries.end(), cb.lut_codes.begin(), cb.lut_codes.end());
  std::vector<golden::Block> blocks;
  for (std::size_t b = 0; b < r.scale_codes.size(); ++b) {
    blocks.push_back({r.scale_codes[b], r.select[b], Span<const uint8_t>(r.codes.data() + b * 16, 16)});
  }
  std::vector<golden::Residual> residuals;
  for (const auto& s : r.sparse) residuals.push_back({static_cast<uint32_t>(s.index), s.entry});
  const auto products = golden::decode_stream(r.decode, tables, blocks, residuals);
  ASSERT_EQ(products.size(), r.dequant.size());
  for (std::size_t i = 0; i < products.size(); ++i) {
    ASSERT_EQ(golden::to_float(products[i]) * r.tensor_scale, r.dequant[i]) << i;
  }
  // HIF tables: every entry is a HIF code of its value.
  for (const auto& cb : r.codebooks) {
    for (std::size_t k = 0; k < cb.values.size(); ++k) {
      EXPECT_EQ(golden::hif_decode(golden::kHif, cb.lut_codes[k]), cb.values[k]);
    }
  }
}

// A layout with one fixed table and no selector has nothing to search: its recipe is that table
// (the codebook's values, its name, the c exponent given), and quantizing with it is the layout's.
TEST(SopSearch, OneFixedTableIsTheRecipeWithoutAMeasurement) {
  const Tensor w = random_matrix(12, 80, 5);
  SopSearchOptions opt;
  const SopLayout layout = parse_sop_layout("g16 E2M3 UE4M4");
  const SopLayerRecipe recipe = search_layer_pair(w, {}, layout, 0.25, opt);
  ASSERT_EQ(recipe.tables.size(), 1u);
  EXPECT_EQ(recipe.table_names.front(), fixed_codebook("E2M3", 16).name);
  EXPECT_EQ(recipe.tables.front(), fixed_codebook("E2M3", 16).values);
  EXPECT_EQ(recipe.awq_alpha, 0.25);
  const SopLayerResult r = quantize_with_recipe(w, {}, recipe, opt);
  EXPECT_EQ(r.codebooks.front().name, "E2M3");
  EXPECT_GT(10 * std::log10(r.signal / r.noise), 25.0);  // FP6 elements: about 30 dB on Gaussian weights
}

TEST(SopSearch, FittedTableBeatsFixedOnesOnAnOddDistribution) {
  // Bimodal weights (clusters at +-0.6 of each block's max) suit no fixed table.
  Tensor w;
  w.name = "w";
  w.shape = {64, 64};
  std::mt19937 rng(9);
  std::normal_distribution<float> jitter(0, 0.02f);
  for (int i = 0; i < 64 * 64; ++i) w.values.push_back((i % 16 == 0) ? 1.0f : ((rng() & 1) ? 0.6f : -0.6f) + jitter(rng));
  const SopLayerRecipe r = search_layer_pair(w, {}, parse_sop_layout("g16 sE4M3"), 0.0, SopSearchOptions{});
  EXPECT_EQ(r.table_names[0], "DD4");
  const double dd4 = quantize_with_recipe(w, {}, r, {}).choice.weighted_error;
  for (const auto& name : default_pair_codebook_names()) {
    EXPECT_LT(dd4, quantize_with_recipe(w, {}, fixed_recipe("g16 sE4M3", {name}), {}).choice.weighted_error) << name;
  }
}

TEST(SopSearch, PairSearchNoWorseThanEitherTableAlone) {
  const Tensor w = random_matrix(32, 128, 4, true);
  SopSearchOptions opt;
  const auto pair = search_layer_pair(w, {}, parse_sop_layout("g16 sE4M3+sel"), 0.0, opt);
  ASSERT_EQ(pair.tables.size(), 2u);
  const double pair_error = quantize_with_recipe(w, {}, pair, opt).choice.weighted_error;
  for (const auto& name : default_pair_codebook_names()) {
    EXPECT_LE(pair_error, quantize_with_recipe(w, {}, fixed_recipe("g16 sE4M3+sel", {name}), opt).choice.weighted_error);
  }
}

TEST(SopSearch, ImportanceWeightsTheErrorAndSparseResidualLowersIt) {
  const Tensor w = random_matrix(16, 64, 8);
  std::vector<float> imp(64, 1.0f);
  for (int j = 0; j < 8; ++j) imp[static_cast<std::size_t>(j)] = 50.0f;  // a few hot channels
  SopSearchOptions opt;
  const auto layout = parse_sop_layout("g16 sE4M3");
  const double alpha = choose_awq_alpha(w, imp, layout, default_awq_alphas(), opt);
  auto recipe = search_layer_pair(w, imp, layout, alpha, opt);
  const auto r0 = quantize_with_recipe(w, imp, recipe, opt);
  // c is only used when it helps the weighted error.
  recipe.awq_alpha = 0;
  EXPECT_LE(r0.choice.weighted_error, quantize_with_recipe(w, imp, recipe, opt).choice.weighted_error * 1.0001);
  recipe.awq_alpha = alpha;
  recipe.sparse_count = 10;
  const auto r1 = quantize_with_recipe(w, imp, recipe, opt);
  EXPECT_LT(r1.choice.weighted_error, r0.choice.weighted_error);
  EXPECT_EQ(r1.choice.bits - r0.choice.bits, 10.0 * (r1.sparse_index_bits + 11));
}

// Issue 16: bad statistics are refused naming the file and the tensor, never read as +Inf, as a
// null buffer, or as "no statistics".
TEST(SopActivationStats, RefusesValuesBeyondFloatZeroLengthEntriesAndWrongLengths) {
  using sop::testing::expect_error;
  using sop::testing::le_u32;
  sop::testing::ScratchDir dir;
  const std::string json = dir.file("big.json");
  sop::testing::write_file(json, R"({"format":"sop-activation-stats","version":1,"tensors":{"a.weight":[1,1e39]}})");
  expect_error([&] { load_activation_stats(json); }, {json, "tensors.a.weight", "at most FLT_MAX"});
  sop::testing::write_file(json, R"({"format":"sop-activation-stats","tensors":{"a.weight":[-1]}})");
  expect_error([&] { load_activation_stats(json); }, {json, "tensors.a.weight", ">= 0"});
  sop::testing::write_file(json, "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}");
  expect_error([&] { load_activation_stats(json); }, {json, "deeper than the limit"});
  // imatrix: count 1, name "b.weight", ncall 1, nval 0.
  const std::string dat = dir.file("empty.dat");
  sop::testing::write_file(dat, le_u32(1) + le_u32(8) + "b.weight" + le_u32(1) + le_u32(0));
  expect_error([&] { load_activation_stats(dat); }, {dat, "b.weight", "no values"});
  // A vector whose length is not the matrix's input channels.
  ActivationStats s;
  s.channels["m.weight"] = {1, 2, 3};
  TensorInfo matrix;
  matrix.name = "m.weight";
  matrix.shape = {4, 5};
  expect_error([&] { check_activation_stats_fit(s, "stats.json", {matrix}); },
               {"stats.json: m.weight", "has 3 values", "5 input channels"});
  matrix.shape = {4, 3};
  check_activation_stats_fit(s, "stats.json", {matrix});
}

// Issue 16 (activation_json fuzzer): a `format` that is not a string escaped as nlohmann's type_error
// instead of a sop::Error naming the file and field.
TEST(SopActivationStats, AFormatThatIsNotAStringIsRefusedNamingTheFileAndField) {
  sop::testing::ScratchDir dir;
  const std::string json = dir.file("stats.json");
  for (const char* format : {R"({"x": 1})", "[1]", "7", "null", R"("other")"}) {
    sop::testing::write_file(json, std::string(R"({"format":)") + format + R"(,"tensors":{}})");
    sop::testing::expect_error([&] { load_activation_stats(json); },
                               {json + ": format: expected \"sop-activation-stats\""});
  }
}

TEST(SopActivationStats, JsonRoundTripAndImatrix) {
  ActivationStats s;
  s.channels["a.weight"] = {1, 2, 3};
  const std::string json = ::testing::TempDir() + "/stats.json";
  save_activation_stats_json(s, json);
  const auto back = load_activation_stats(json);
  ASSERT_NE(back.find("a.weight"), nullptr);
  EXPECT_EQ(*back.find("a.weight"), (std::vector<float>{1, 2, 3}));
  // llama.cpp legacy imatrix: values / ncall.
  const std::string dat = ::testing::TempDir() + "/imatrix.dat";
  {
    FILE* f = std::fopen(dat.c_str(), "wb");
    const int32_t count = 1, len = 8, ncall = 2, nval = 2;
    const float vals[2] = {4, 6};
    std::fwrite(&count, 4, 1, f);
    std::fwrite(&len, 4, 1, f);
    std::fwrite("b.weight", 1, 8, f);
    std::fwrite(&ncall, 4, 1, f);
    std::fwrite(&nval, 4, 1, f);
    std::fwrite(vals, 4, 2, f);
    std::fclose(f);
  }
  const auto im = load_activation_stats(dat);
  ASSERT_NE(im.find("b.weight"), nullptr);
  EXPECT_EQ(*im.find("b.weight"), (std::vector<float>{2, 3}));
  // A missing file is named, as every whole-file read names it (base read_text_file).
  try {
    (void)load_activation_stats(dat + ".missing");
    ADD_FAILURE() << "read a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dat + ".missing: cannot open the activation statistics");
  }
}

}  // namespace
}  // namespace sop
