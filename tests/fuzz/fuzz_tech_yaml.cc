// A technology table (configs/tech/*.yaml), parsed from memory. Its logic-area table is resolved
// against the repository's configs/tech, so a seed naming logic_area_osu018.json reads the real one.
#include "sim/tech.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz-tech.yaml";
  sop::fuzz::expect_only_sop_errors("", [&] { (void)sop::sim::parse_tech_table(text, source, SOP_SOURCE_DIR "/configs/tech"); });
  return 0;
}
