// A quantization recipe (configs/quant/*.yaml), parsed from memory, then each option's derived sizes.
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz-recipe.yaml";
  sop::fuzz::expect_only_sop_errors(source, [&] {
    const sop::Recipe recipe = sop::parse_recipe(text, source);
    for (const auto& option : recipe.options) {
      (void)option.nominal_bpw();
      (void)option.layout_name();
      (void)sop::layout_of(option);
    }
  });
  return 0;
}
