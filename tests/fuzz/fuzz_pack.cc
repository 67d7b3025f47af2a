// A sop pack file: open (sections, checksums, every layer's fields), then the golden decode of every
// layer and the values of every full-precision tensor, as `sop dequant` does.
#include "quantizer/pack/pack_file.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = sop::fuzz::write_scratch("input.soppack", data, size);
  std::unique_ptr<sop::PackFile> pack;
  sop::fuzz::expect_only_sop_errors(path, [&] { pack = std::make_unique<sop::PackFile>(sop::PackFile::open(path)); });
  if (!pack) return 0;
  // A pack that opened is fully validated: decoding it must not fail in any way.
  try {
    for (const auto& layer : pack->layers()) (void)sop::dequantize_layer(layer);
    for (const auto& tensor : pack->tensors()) (void)sop::tensor_values(tensor);
  } catch (const std::exception& e) {
    sop::fuzz::finding("a pack that opened failed to decode", e.what());
  }
  return 0;
}
