// The logic-area table (configs/tech/logic_area_osu018.json, what `sop area --json` writes), read
// through a fixed technology table that names it.
#include "base/text_file.h"
#include "sim/tech.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const std::string tech_yaml = [] {
    std::string text = sop::read_text_file(SOP_SOURCE_DIR "/configs/tech/45nm.yaml", "technology table");
    const std::string from = "logic_area_osu018.json";
    const std::size_t at = text.find(from);
    if (at == std::string::npos) sop::fuzz::finding("setup", "configs/tech/45nm.yaml names no " + from);
    text.replace(at, from.size(), "input-logic.json");
    // The timing table is not under test here: the shipped one, by its full path.
    const std::string timing = "timing_table: timing_osu018.json";
    const std::size_t t = text.find(timing);
    if (t == std::string::npos) sop::fuzz::finding("setup", "configs/tech/45nm.yaml names no timing table");
    return text.replace(t, timing.size(), "timing_table: " SOP_SOURCE_DIR "/configs/tech/timing_osu018.json");
  }();
  const std::string path = sop::fuzz::write_scratch("input-logic.json", data, size);
  sop::fuzz::expect_only_sop_errors(path, [&] {
    (void)sop::sim::parse_tech_table(tech_yaml, "fuzz-tech.yaml", sop::fuzz::scratch_dir());
  });
  return 0;
}
