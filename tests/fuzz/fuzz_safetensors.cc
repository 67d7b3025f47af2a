// A single .safetensors file: open (header, dtypes, shapes, offsets), then convert every tensor.
#include "quantizer/io/safetensors_reader.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = sop::fuzz::write_scratch("input.safetensors", data, size);
  sop::fuzz::expect_only_sop_errors(path, [&] {
    const auto reader = sop::SafetensorsReader::open_file(path);
    for (const auto& t : reader->tensors()) (void)reader->read(t.name);
    (void)reader->metadata();
  });
  return 0;
}
