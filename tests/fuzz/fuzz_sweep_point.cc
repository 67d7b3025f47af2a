// A sweep folder's point file (OUT/points/NNNNNN.json, what `sop sweep` writes per point), read by
// `sop sweep merge` beside a fixed valid sweep.json of four points; the merge writes into a folder of
// its own. Refusals must name a path inside the scratch folder (the point file or the sweep folder).
#include <filesystem>

#include "sim/sweep_results.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const bool record_written = [] {
    std::filesystem::create_directories(sop::fuzz::scratch_dir() + "/points");
    sop::fuzz::write_scratch("sweep.json", R"({"axes": ["entry_format", "lut_sram_bytes"], "description": "fuzz",
 "name": "fuzz", "points": ["entry_format=hif,lut_sram_bytes=32", "entry_format=hif,lut_sram_bytes=1024",
 "entry_format=fp16,lut_sram_bytes=32", "entry_format=fp16,lut_sram_bytes=1024"], "sweep_file": "sweep.yaml",
 "text": ""})");
    return true;
  }();
  (void)record_written;
  sop::fuzz::write_scratch("points/000001.json", data, size);
  sop::fuzz::expect_only_sop_errors(sop::fuzz::scratch_dir(), [&] {
    (void)sop::sim::merge_sweep({sop::fuzz::scratch_dir()}, sop::fuzz::scratch_dir() + "/merged", true);
    (void)sop::sim::read_results(sop::fuzz::scratch_dir() + "/merged");
  });
  return 0;
}
