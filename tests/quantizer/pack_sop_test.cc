// The pack file against the SOP quantizer on real weights: what the search measured in memory
// (SopLayerResult::dequant) is exactly what the golden decode of the pack bytes gives back.
#include <cstring>

#include <gtest/gtest.h>

#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/sop/sop_search.h"
#include "tests/quantizer/pack_test_support.h"
#include "tests/test_support.h"

namespace sop {
namespace {

struct LayoutCase {
  const char* layout;
  int64_t sparse_count;
  bool channel_factors;  // exercise c through synthetic importance
};

class PackSopTest : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(PackSopTest, GoldenDecodeOfPackEqualsInMemoryDequantBitForBit) {
  SOP_REQUIRE_MODEL(model_path, "stories260K.safetensors");
  const LayoutCase param = GetParam();
  const auto model = open_model(model_path);
  SopSearchOptions options;
  options.threads = 2;
  const SopLayout layout = parse_sop_layout(param.layout);

  std::vector<SopLayerResult> results;
  PackModelInfo info;
  info.created_by = "sop test";
  info.source = model_path;
  for (const auto& t : model->tensors()) {
    // Every matrix of blocks 0 and 1 (down_proj has 172 columns: short last blocks).
    if (!t.is_matrix() || (t.name.find("layers.0.") == std::string::npos && t.name.find("layers.1.") == std::string::npos)) continue;
    const Tensor w = model->read(t.name);
    std::vector<float> importance;
    if (param.channel_factors) {
      for (int64_t j = 0; j < w.cols(); ++j) importance.push_back(1.0f + static_cast<float>(j % 7));
    }
    SopLayerRecipe recipe = search_layer_pair(w, importance, layout, param.channel_factors ? 0.5 : 0.0, options);
    recipe.sparse_count = param.sparse_count;
    results.push_back(quantize_with_recipe(w, importance, recipe, options));
    info.tensors.push_back({t.name, t.shape, PackedAs::Quantized, ""});
    // Without the reconstruction (what the pack writer asks for): the same codes and sums bit for
    // bit; where nothing follows the blocks' own reconstruction it is not kept at all.
    SopSearchOptions codes_only = options;
    codes_only.keep_dequant = false;
    const SopLayerResult& kept = results.back();
    const SopLayerResult lean = quantize_with_recipe(w, importance, recipe, codes_only);
    EXPECT_EQ(lean.codes, kept.codes) << t.name;
    EXPECT_EQ(lean.scale_codes, kept.scale_codes) << t.name;
    EXPECT_EQ(lean.select, kept.select) << t.name;
    EXPECT_EQ(lean.choice.weighted_error, kept.choice.weighted_error) << t.name;
    EXPECT_EQ(lean.signal, kept.signal) << t.name;
    EXPECT_EQ(lean.noise, kept.noise) << t.name;
    EXPECT_EQ(lean.choice.bits, kept.choice.bits) << t.name;
    const bool pieces_only = param.sparse_count == 0 && !param.channel_factors && !layout.has_select();
    EXPECT_EQ(lean.dequant.empty(), pieces_only) << t.name;
    EXPECT_GT(kept.noise, 0.0) << t.name;
  }
  ASSERT_EQ(results.size(), 14u);

  testing::TempDir dir;
  const std::string path = dir.file("stories.sop");
  {
    PackWriter writer(path, info);
    for (const auto& r : results) writer.add_layer(r);
    writer.finish();
  }
  const PackFile pack = PackFile::open(path);
  ASSERT_EQ(pack.layers().size(), results.size());
  std::size_t residuals = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const std::vector<float> decoded = dequantize_layer(pack.layers()[i]);
    const std::vector<float>& expected = results[i].dequant;
    ASSERT_EQ(decoded.size(), expected.size());
    std::size_t differing = 0;
    for (std::size_t k = 0; k < decoded.size(); ++k) {
      // Bit for bit, the sign of zero included.
      if (std::memcmp(&decoded[k], &expected[k], sizeof(float)) != 0 && ++differing <= 3) {
        ADD_FAILURE() << results[i].tensor_name << " weight " << k << ": golden decode " << decoded[k]
                      << ", in memory " << expected[k];
      }
    }
    EXPECT_EQ(differing, 0u) << results[i].tensor_name << " (" << param.layout << ")";
    EXPECT_EQ(pack.layers()[i].channel_factors.empty(), !param.channel_factors);
    residuals += pack.layers()[i].sparse.size();
  }
  if (param.sparse_count > 0) {
    EXPECT_GT(residuals, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, PackSopTest,
                         ::testing::Values(LayoutCase{"g16 sE3M3|sel", 0, false}, LayoutCase{"g16 sE3M3|sel", 12, true},
                                           LayoutCase{"g32 sE4M3+sel", 5, false}, LayoutCase{"g64 sE4M3", 0, false},
                                           LayoutCase{"g16 E2M3 UE4M4", 0, false},
                                           LayoutCase{"g16 E2M3 UE4M4", 8, true}),
                         [](const ::testing::TestParamInfo<LayoutCase>& test) {
                           std::string name = test.param.layout;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name + "_sparse" + std::to_string(test.param.sparse_count) +
                                  (test.param.channel_factors ? "_c" : "");
                         });

}  // namespace
}  // namespace sop
