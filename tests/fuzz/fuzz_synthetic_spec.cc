// A synthetic model spec ("synthetic:llm?dim=64&layers=2", what --model accepts): the parser and the
// tensor listing. Reading is skipped for models over 2^16 weights per tensor (time, not correctness).
#include "quantizer/synthetic.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string spec = std::string(sop::kSyntheticPrefix) + std::string(reinterpret_cast<const char*>(data), size);
  sop::fuzz::expect_only_sop_errors("", [&] {
    const auto reader = sop::open_synthetic(spec);
    int reads = 0;
    for (const auto& t : reader->tensors()) {
      if (t.element_count() <= (1 << 16) && reads++ < 4) (void)reader->read(t.name);
    }
  });
  return 0;
}
