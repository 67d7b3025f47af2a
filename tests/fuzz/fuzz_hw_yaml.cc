// A hardware configuration (configs/hw/*.yaml), parsed from memory, then what the model derives from it.
#include "model/hw/hw_config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz-hw.yaml";
  sop::fuzz::expect_only_sop_errors(source, [&] {
    const sop::hw::HwConfig hw = sop::hw::parse_hw_config(text, source);
    (void)sop::hw::unit_formats(hw);
    (void)hw.decode_config();
    (void)hw.lut_bits();
    (void)hw.rtl_parameters();
  });
  return 0;
}
