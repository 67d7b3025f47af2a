// A sweep file (configs/sweeps/*.yaml), parsed from memory, then its points (grid or zip) and what
// each point's axis values choose.
#include "sim/sweep_spec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz-sweep.yaml";
  sop::fuzz::expect_only_sop_errors(source, [&] {
    const sop::sim::SweepSpec spec = sop::sim::parse_sweep(text, source, "sweeps");
    const auto points = spec.points();
    for (std::size_t i = 0; i < points.size() && i < 64; ++i) {
      sop::sim::PointChoice choice;
      for (const auto& [axis, value] : points[i].axes) {
        const sop::sim::SweepAxis* a = sop::sim::find_sweep_axis(axis);
        if (a == nullptr) sop::fuzz::finding("a point has an axis the reader did not check", axis);
        a->apply(value, choice);
      }
      (void)points[i].key();
    }
  });
  return 0;
}
