// A sharded checkpoint's model.safetensors.index.json, beside two small valid shards written once:
// the input is the index (weight_map, shard paths).
#include "quantizer/io/safetensors_reader.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

std::string le_u64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

std::string shard(const std::string& tensor) {
  const std::string header = "{\"" + tensor + "\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
  const float values[4] = {1.0f, -2.0f, 0.5f, 0.25f};
  return le_u64(header.size()) + header + std::string(reinterpret_cast<const char*>(values), sizeof values);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const bool shards_written = [] {
    sop::fuzz::write_scratch("model-00001-of-00002.safetensors", shard("a.weight"));
    sop::fuzz::write_scratch("model-00002-of-00002.safetensors", shard("b.weight"));
    return true;
  }();
  (void)shards_written;
  const std::string path = sop::fuzz::write_scratch("model.safetensors.index.json", data, size);
  sop::fuzz::expect_only_sop_errors(path, [&] {
    const auto reader = sop::SafetensorsReader::open_index(path);
    for (const auto& t : reader->tensors()) (void)reader->read(t.name);
  });
  return 0;
}
