// open_model(): picks a reader by looking at what the path is.
#include "quantizer/model_reader.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "base/error.h"
#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/safetensors_reader.h"
#include "quantizer/synthetic.h"

namespace sop {

namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first 9 bytes decide: "GGUF" is GGUF; a little-endian length followed by '{' is safetensors.
enum class Sniffed { Gguf, Safetensors, Other };

Sniffed sniff(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[9] = {};
  in.read(head, sizeof head);
  const std::streamsize got = in.gcount();
  if (got >= 4 && std::string(head, 4) == "GGUF") return Sniffed::Gguf;
  if (got >= 9 && head[8] == '{') return Sniffed::Safetensors;
  return Sniffed::Other;
}

std::unique_ptr<ModelReader> open_directory(const std::string& path) {
  const fs::path dir(path);
  if (fs::exists(dir / "model.safetensors.index.json")) {
    return SafetensorsReader::open_index((dir / "model.safetensors.index.json").string());
  }
  if (fs::exists(dir / "model.safetensors")) return SafetensorsReader::open_file((dir / "model.safetensors").string());
  std::vector<std::string> indexes;
  std::vector<std::string> safetensors;
  std::vector<std::string> ggufs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().string();
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(name);
    if (ends_with(name, ".safetensors")) safetensors.push_back(name);
    if (ends_with(name, ".gguf")) ggufs.push_back(name);
  }
  if (indexes.size() == 1) return SafetensorsReader::open_index(indexes.front());
  if (indexes.empty() && safetensors.size() == 1) return SafetensorsReader::open_file(safetensors.front());
  if (indexes.empty() && safetensors.empty() && ggufs.size() == 1) return std::make_unique<GgufReader>(ggufs.front());
  throw Error(path, "",
              "directory holds " + std::to_string(indexes.size()) + " safetensors index file(s), " +
                  std::to_string(safetensors.size()) + " .safetensors and " + std::to_string(ggufs.size()) +
                  " .gguf file(s); expected model.safetensors.index.json, model.safetensors, or exactly one "
                  "checkpoint: name the file instead");
}

// The budget in front of a reader: one multiplication and a comparison per read, before the inner
// reader's allocation of element_count() floats.
class BudgetedReader : public ModelReader {
 public:
  BudgetedReader(std::unique_ptr<ModelReader> inner, uint64_t max_bytes) : inner_(std::move(inner)), max_bytes_(max_bytes) {}
  const std::string& path() const override { return inner_->path(); }
  const std::vector<TensorInfo>& tensors() const override { return inner_->tensors(); }
  const ModelReader& underlying() const override { return inner_->underlying(); }
  Tensor read(const std::string& name) const override {
    check(name);
    return inner_->read(name);
  }
  void read_into(const std::string& name, Tensor& out, int threads) const override {
    check(name);
    inner_->read_into(name, out, threads);
  }

 private:
  void check(const std::string& name) const {
    for (const TensorInfo& t : inner_->tensors()) {
      if (t.name != name) continue;
      // Compared as elements against max_bytes / 4, so a huge element count cannot overflow the bytes.
      const uint64_t elements = static_cast<uint64_t>(t.element_count());
      if (elements > max_bytes_ / sizeof(float)) {
        throw Error(path(), name,
                    "needs " + std::to_string(elements) + " FP32 values (" + size_text(static_cast<double>(elements) * sizeof(float)) +
                        ") in memory, more than the memory budget of " + size_text(static_cast<double>(max_bytes_)) + " (--max-memory)");
      }
      break;
    }
  }

  static std::string size_text(double bytes) {
    char text[64];
    if (bytes < (1 << 20)) std::snprintf(text, sizeof text, "%.0f bytes", bytes);
    else std::snprintf(text, sizeof text, "%.1f MiB", bytes / (1 << 20));
    return text;
  }
  std::unique_ptr<ModelReader> inner_;
  uint64_t max_bytes_;
};

}  // namespace

std::unique_ptr<ModelReader> with_memory_budget(std::unique_ptr<ModelReader> reader, uint64_t max_bytes) {
  return std::make_unique<BudgetedReader>(std::move(reader), max_bytes);
}

uint64_t parse_memory_size(const std::string& text) {
  const auto refuse = [&]() -> uint64_t {
    throw std::invalid_argument("'" + text + "' is not a memory size: bytes, or a number with K, M, G or T (e.g. 8G)");
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19) return refuse();
  const uint64_t number = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  int shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else if (unit == "T" || unit == "TiB") shift = 40;
  else return refuse();
  if (number == 0 || number > (UINT64_MAX >> shift)) return refuse();
  return number << shift;
}

std::unique_ptr<ModelReader> open_model(const std::string& path) {
  if (path.rfind(kSyntheticPrefix, 0) == 0) return open_synthetic(path);
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error || !fs::exists(status)) throw Error(path, "", "no such file or directory");
  if (fs::is_directory(status)) return open_directory(path);
  if (ends_with(path, ".json")) return SafetensorsReader::open_index(path);
  const Sniffed kind = sniff(path);
  if (kind == Sniffed::Gguf || ends_with(path, ".gguf")) return std::make_unique<GgufReader>(path);
  if (kind == Sniffed::Safetensors || ends_with(path, ".safetensors")) return SafetensorsReader::open_file(path);
  throw Error(path, "",
              "unrecognized checkpoint (expected a .safetensors file, a model.safetensors.index.json, a .gguf "
              "file, a directory holding one, or synthetic:<spec>)");
}

}  // namespace sop
