#include "quantizer/sop/activation_stats.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/text_file.h"

namespace sop {

const std::vector<float>* ActivationStats::find(const std::string& tensor_name) const {
  const auto it = channels.find(tensor_name);
  return it == channels.end() ? nullptr : &it->second;
}

namespace {

ActivationStats parse_json(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(path, "", std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("format", "") != "sop-activation-stats") {
    throw Error(path, "format", "expected \"sop-activation-stats\"");
  }
  if (!j.contains("tensors") || !j["tensors"].is_object()) throw Error(path, "tensors", "missing or not an object");
  ActivationStats s;
  for (const auto& [name, values] : j["tensors"].items()) {
    if (!values.is_array()) throw Error(path, "tensors." + name, "expected an array of numbers");
    std::vector<float> v;
    for (const auto& x : values) {
      if (!x.is_number()) throw Error(path, "tensors." + name, "expected numbers");
      const double d = x.get<double>();
      if (!std::isfinite(d) || d < 0) throw Error(path, "tensors." + name, "E[x^2] must be finite and >= 0");
      v.push_back(static_cast<float>(d));
    }
    s.channels[name] = std::move(v);
  }
  return s;
}

ActivationStats parse_imatrix(const std::string& bytes, const std::string& path) {
  std::size_t pos = 0;
  auto read_i32 = [&](const char* what) {
    if (pos + 4 > bytes.size()) throw Error(path, what, "truncated imatrix file");
    int32_t v;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return v;
  };
  ActivationStats s;
  const int32_t count = read_i32("entry count");
  if (count < 0) throw Error(path, "entry count", "negative");
  for (int32_t e = 0; e < count; ++e) {
    const int32_t len = read_i32("name length");
    if (len <= 0 || pos + static_cast<std::size_t>(len) > bytes.size()) throw Error(path, "name", "bad name length");
    const std::string name = bytes.substr(pos, static_cast<std::size_t>(len));
    pos += static_cast<std::size_t>(len);
    const int32_t ncall = read_i32("ncall");
    const int32_t nval = read_i32("nval");
    if (nval < 0 || pos + 4 * static_cast<std::size_t>(nval) > bytes.size()) throw Error(path, name, "bad value count");
    std::vector<float> v(static_cast<std::size_t>(nval));
    std::memcpy(v.data(), bytes.data() + pos, 4 * v.size());
    pos += 4 * v.size();
    for (float& x : v) {
      if (!std::isfinite(x) || x < 0) throw Error(path, name, "E[x^2] must be finite and >= 0");
      if (ncall > 0) x /= static_cast<float>(ncall);
    }
    s.channels[name] = std::move(v);
  }
  return s;
}

}  // namespace

ActivationStats load_activation_stats(const std::string& path) {
  // Not a small config: a large model's imatrix is tens of MB and its JSON several times that, so
  // the bound only stops a wrong file (a checkpoint passed by mistake) from being read whole.
  constexpr uint64_t kMaxBytes = uint64_t{4} << 30;
  const std::string bytes = read_text_file(path, "activation statistics", kMaxBytes);
  const auto first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && bytes[first] == '{') return parse_json(bytes, path);
  return parse_imatrix(bytes, path);
}

void save_activation_stats_json(const ActivationStats& stats, const std::string& path) {
  nlohmann::json j;
  j["format"] = "sop-activation-stats";
  j["version"] = 1;
  j["tensors"] = nlohmann::json::object();
  for (const auto& [name, v] : stats.channels) j["tensors"][name] = v;
  std::ofstream out(path);
  if (!out) throw Error(path, "", "cannot write activation statistics");
  out << j.dump() << "\n";
}

}  // namespace sop
