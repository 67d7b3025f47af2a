// Activation statistics as a llama.cpp imatrix .dat file. An input starting with '{' takes the JSON
// path (the reader picks by content); the seeds are binary imatrix files.
#include "quantizer/sop/activation_stats.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = sop::fuzz::write_scratch("input.dat", data, size);
  sop::fuzz::expect_only_sop_errors(path, [&] { (void)sop::load_activation_stats(path); });
  return 0;
}
