// Recipes: the shipped configs parse and map to SOP layouts; every kind of mistake names the file
// and the key.
#include <string>

#include <gtest/gtest.h>

#include "base/error.h"
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"

namespace sop {
namespace {

std::string config(const std::string& name) { return std::string(SOP_SOURCE_DIR) + "/configs/quant/" + name; }

const char* kMinimal = R"(recipe: 1
name: t
options:
  - {block: 16, scale_format: sE3M3, select_bit: stolen, codebooks: [NF4, Split87], fitted: true}
)";

// Parses `text` expecting an error whose message names the file "bad.yaml" and `key`.
void expect_error(const std::string& text, const std::string& key, const std::string& also = "") {
  try {
    (void)parse_recipe(text, "bad.yaml");
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("bad.yaml: ", 0), 0u) << msg;
    EXPECT_EQ(e.field(), key) << msg;
    if (!also.empty()) {
      EXPECT_NE(msg.find(also), std::string::npos) << msg;
    }
  }
}

std::string with(const std::string& base, const std::string& from, const std::string& to) {
  std::string s = base;
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(RecipeParse, ShippedRecipesLoadAndMapToLayouts) {
  for (const char* name : {"sop-4.5.yaml", "sop-5.0.yaml", "sop-6.5.yaml", "e2m3-ue4m4.yaml"}) {
    const Recipe r = load_recipe(config(name));
    EXPECT_FALSE(r.options.empty()) << name;
    for (const auto& o : r.options) EXPECT_NO_THROW((void)layout_of(o)) << name << ": " << o.layout_name();
  }
  const Recipe fp6 = load_recipe(config("e2m3-ue4m4.yaml"));
  EXPECT_EQ(fp6.target_bpw, 0);
  ASSERT_EQ(fp6.options.size(), 1u);
  EXPECT_EQ(fp6.options[0].layout_name(), "g16 E2M3 UE4M4");
  EXPECT_EQ(fp6.options[0].code_bits(), 6);
  EXPECT_DOUBLE_EQ(fp6.options[0].nominal_bpw(), 6.5);
  const SopLayout l = layout_of(fp6.options[0]);
  EXPECT_EQ(l.code_bits, 6);
  EXPECT_FALSE(l.scale.format.has_sign);

  const Recipe s45 = load_recipe(config("sop-4.5.yaml"));
  EXPECT_DOUBLE_EQ(s45.target_bpw, 4.5);
  EXPECT_EQ(s45.options[0].layout_name(), "g16 sE3M3|sel");
  EXPECT_DOUBLE_EQ(s45.options[0].nominal_bpw(), 4.5);
  const SopLayout pair = layout_of(s45.options[0]);
  EXPECT_EQ(pair.fixed_codebooks[1], "BOF4-S@g16");
  EXPECT_TRUE(pair.fitted_codebooks);
  EXPECT_EQ(s45.sparse_fractions.size(), 2u);
}

TEST(RecipeParse, DefaultsAndCanonicalNames) {
  const Recipe r = parse_recipe(with(kMinimal, "[NF4, Split87]", "[nf4, split87, bof4-s]"), "ok.yaml");
  EXPECT_EQ(r.options[0].codebooks, (std::vector<std::string>{"NF4", "Split87", "BOF4-S"}));
  EXPECT_EQ(r.lut_format, "HIF");
  EXPECT_EQ(r.threads, 0);
  EXPECT_EQ(r.scale_steps, 1);
  EXPECT_TRUE(r.activation_stats.empty());
}

TEST(RecipeParse, ActivationStatsAreRelativeToTheRecipe) {
  const Recipe r = parse_recipe(std::string(kMinimal) + "activation_stats: stats/imatrix.json\n", "/cfg/quant/r.yaml");
  EXPECT_EQ(r.activation_stats, "/cfg/quant/stats/imatrix.json");
}

TEST(RecipeParse, UnknownKeysAreNamed) {
  expect_error(std::string(kMinimal) + "treads: 4\n", "treads", "unknown key");
  expect_error(with(kMinimal, "fitted: true", "fited: true"), "options[0].fited", "unknown key");
  expect_error(std::string(kMinimal) + "budget: {target_bpw: 4.5, slack: 1}\n", "budget.slack", "unknown key");
  expect_error(std::string(kMinimal) + "sparse_residual: {fraction: 0.01}\n", "sparse_residual.fraction");
}

TEST(RecipeParse, WrongTypesAreNamed) {
  expect_error(with(kMinimal, "block: 16", "block: sixteen"), "options[0].block", "expected an integer");
  expect_error(with(kMinimal, "block: 16", "block: 16.5"), "options[0].block", "expected an integer");
  expect_error(with(kMinimal, "fitted: true", "fitted: maybe"), "options[0].fitted", "true or false");
  expect_error(with(kMinimal, "[NF4, Split87]", "NF4"), "options[0].codebooks", "list");
  expect_error(std::string(kMinimal) + "budget: {target_bpw: lots}\n", "budget.target_bpw", "a number");
  expect_error(std::string(kMinimal) + "threads: [1]\n", "threads", "an integer");
  expect_error(std::string(kMinimal) + "keep_full_precision: lm_head\n", "keep_full_precision", "list");
  expect_error("recipe: 1\nname: t\noptions: {block: 16}\n", "options", "list");
}

TEST(RecipeParse, OutOfRangeValuesAreNamed) {
  expect_error(with(kMinimal, "block: 16", "block: 14"), "options[0].block", "out of range");  // not a multiple of 4
  expect_error(with(kMinimal, "block: 16", "block: 512"), "options[0].block", "out of range");
  expect_error(std::string(kMinimal) + "budget: {target_bpw: 1.5}\n", "budget.target_bpw", "out of range");
  expect_error(std::string(kMinimal) + "budget: {target_bpw: 17}\n", "budget.target_bpw", "out of range");
  // Reachable range, but below what the options can do: 4 + 8/16.
  expect_error(std::string(kMinimal) + "budget: {target_bpw: 4.2}\n", "budget.target_bpw", "cheapest");
  expect_error(std::string(kMinimal) + "sparse_residual: {fractions: [0.2]}\n", "sparse_residual.fractions[0]", "out of range");
  expect_error(std::string(kMinimal) + "threads: -2\n", "threads", "out of range");
  expect_error(std::string(kMinimal) + "recipe_extra: 1\n", "recipe_extra", "unknown key");
  expect_error(with(kMinimal, "recipe: 1", "recipe: 2"), "recipe", "schema version");
}

TEST(RecipeParse, NonFiniteNumbersNonScalarKeysAndNewerSchemasAreRefused) {
  expect_error(std::string(kMinimal) + "budget: {target_bpw: .inf}\n", "budget.target_bpw",
               "must be a finite number, got '.inf' (line 5)");
  expect_error(std::string(kMinimal) + "sparse_residual: {fractions: [.nan]}\n", "sparse_residual.fractions[0]",
               "must be a finite number");
  expect_error(std::string(kMinimal) + "? [a, b]\n: 1\n", "<top level>", "a key is not a plain string (line 5)");
  expect_error(with(kMinimal, "fitted: true}", "fitted: true, [x]: 1}"), "options[0]", "a key is not a plain string");
  expect_error("schema_version: 2\n" + std::string(kMinimal), "schema_version",
               "version 2 is not supported (this sop reads version 1) (line 1)");
  EXPECT_NO_THROW((void)parse_recipe("schema_version: 1\n" + std::string(kMinimal), "ok.yaml"));
}

TEST(RecipeParse, InconsistentOptionsAreNamed) {
  expect_error(with(kMinimal, "sE3M3", "sE3X3"), "options[0].scale_format", "sE3M3");
  expect_error(with(kMinimal, "[NF4, Split87]", "[NF4, NF5]"), "options[0].codebooks[1]", "unknown codebook");
  expect_error(with(kMinimal, "select_bit: stolen", "select_bit: maybe"), "options[0].select_bit");
  expect_error(with(with(kMinimal, "[NF4, Split87]", "[NF4]"), "fitted: true", "fitted: false"),
               "options[0].select_bit", "two codebooks");
  expect_error(with(kMinimal, "[NF4, Split87]", "[NF4, E2M3]"), "options[0].codebooks", "mixes");
  expect_error(with(kMinimal, "scale_format: sE3M3", "scale_format: UE4M4"), "options[0].fitted", "signed");
  expect_error(std::string(kMinimal) + "  - {block: 32, scale_format: sE4M3, select_bit: none, codebooks: [NF4]}\n",
               "options", "budget");
  expect_error(std::string(kMinimal) + "lut_format: FP8\n", "lut_format");
  expect_error("recipe: 1\noptions:\n  - {block: 16, scale_format: sE3M3}\n", "name", "missing");
  expect_error("recipe: 1\nname: t\n", "options", "missing");
  expect_error("recipe: 1\nname: t\noptions:\n  - {scale_format: sE3M3}\n", "options[0].block", "missing");
}

TEST(RecipeParse, FileErrorsNameTheFile) {
  try {
    (void)load_recipe("/nonexistent/recipe.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/recipe.yaml"), std::string::npos);
  }
  EXPECT_THROW((void)parse_recipe("recipe: [1\n", "broken.yaml"), Error);
  EXPECT_THROW((void)parse_recipe("", "empty.yaml"), Error);
  EXPECT_THROW((void)parse_recipe("- 1\n- 2\n", "list.yaml"), Error);
}

TEST(RecipeParse, MessagesCarryTheLine) {
  try {
    (void)parse_recipe(std::string(kMinimal) + "threads: many\n", "bad.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(line 5)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sop
