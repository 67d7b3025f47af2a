// open_model(): picks a reader by looking at what the path is.
#include "quantizer/model_reader.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

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

}  // namespace

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
