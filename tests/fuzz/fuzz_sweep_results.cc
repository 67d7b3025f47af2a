// A sweep folder's results.json (what `sop sweep` and `sop sweep merge` write), read as `sop report`
// reads it. Refusals must name the file or its folder.
#include "sim/sweep_results.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  sop::fuzz::write_scratch("results.json", data, size);
  sop::fuzz::expect_only_sop_errors(sop::fuzz::scratch_dir(), [&] { (void)sop::sim::read_results(sop::fuzz::scratch_dir()); });
  return 0;
}
