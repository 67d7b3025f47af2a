// A GGUF file: header, metadata, tensor descriptions; then every listing and typed getter the CLI
// uses, and every tensor read (the block types sop decodes are dequantized, the rest refused by read()).
#include "quantizer/io/gguf_reader.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = sop::fuzz::write_scratch("input.gguf", data, size);
  sop::fuzz::expect_only_sop_errors(path, [&] {
    const sop::GgufReader reader(path);
    for (const auto& [key, value] : reader.metadata()) {
      (void)value.to_display();
      if (value.is_array() && value.element_type() == sop::GgufType::String) (void)reader.get_string_array(key);
    }
    for (const char* key : {"general.architecture", "general.alignment", "tokenizer.ggml.tokens"}) {
      if (reader.has(key)) (void)reader.get(key).to_display(3);
    }
    for (const auto& t : reader.tensors()) {
      (void)reader.ggml_type(t.name);
      if (t.dtype != sop::DType::Quantized) (void)reader.read(t.name);
    }
  });
  return 0;
}
