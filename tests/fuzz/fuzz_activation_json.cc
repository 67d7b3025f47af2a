// Activation statistics in the project's JSON format (the reader picks JSON by a leading '{').
#include "quantizer/sop/activation_stats.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = sop::fuzz::write_scratch("input.json", data, size);
  sop::fuzz::expect_only_sop_errors(path, [&] { (void)sop::load_activation_stats(path); });
  return 0;
}
