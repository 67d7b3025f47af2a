#include "quantizer/sop/activation_stats.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/text_file.h"
#include "quantizer/io/untrusted_json.h"

namespace sop {

const std::vector<float>* ActivationStats::find(const std::string& tensor_name) const {
  const auto it = channels.find(tensor_name);
  return it == channels.end() ? nullptr : &it->second;
}

namespace {

// A mean square E[x^2] is >= 0 and, stored as float32, at most FLT_MAX: a larger double would
// become +Inf and poison the search (issue 16 saw an out-of-range index downstream).
bool is_valid_mean_square(double value) { return std::isfinite(value) && value >= 0 && value <= FLT_MAX; }
constexpr const char* kMeanSquareRule = "E[x^2] must be finite, >= 0 and at most FLT_MAX (3.4e38)";

ActivationStats parse_json(const std::string& text, const std::string& path) {
  const nlohmann::json j = parse_untrusted_json(text, path, "", "activation statistics");
  // Types checked before any get<>(): nlohmann's value("format", "") throws its own type_error on
  // {"format": {...}} (found by the activation_json fuzzer, issue 16).
  const bool has_format = j.is_object() && j.contains("format") && j.at("format").is_string();
  if (!has_format || j.at("format").get<std::string>() != "sop-activation-stats") {
    throw Error(path, "format", "expected \"sop-activation-stats\"");
  }
  if (!j.contains("tensors") || !j.at("tensors").is_object()) throw Error(path, "tensors", "missing or not an object");
  ActivationStats s;
  for (const auto& [name, values] : j.at("tensors").items()) {
    if (!values.is_array()) throw Error(path, "tensors." + name, "expected an array of numbers");
    std::vector<float> v;
    for (const auto& x : values) {
      if (!x.is_number()) throw Error(path, "tensors." + name, "expected numbers");
      const double d = x.get<double>();
      if (!is_valid_mean_square(d)) throw Error(path, "tensors." + name, kMeanSquareRule);
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
    // An entry describes a matrix's input channels; with none it is not statistics of anything.
    if (nval == 0) throw Error(path, name, "entry has no values");
    std::vector<float> v(static_cast<std::size_t>(nval));
    std::memcpy(v.data(), bytes.data() + pos, 4 * v.size());
    pos += 4 * v.size();
    for (float& x : v) {
      if (!is_valid_mean_square(x)) throw Error(path, name, kMeanSquareRule);
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

void check_activation_stats_fit(const ActivationStats& stats, const std::string& stats_path,
                                const std::vector<TensorInfo>& tensors) {
  for (const TensorInfo& t : tensors) {
    if (!t.is_matrix()) continue;
    const std::vector<float>* v = stats.find(t.name);
    if (v != nullptr && static_cast<int64_t>(v->size()) != t.shape[1]) {
      throw Error(stats_path, t.name,
                  "has " + std::to_string(v->size()) + " values but the model's matrix has " +
                      std::to_string(t.shape[1]) + " input channels: statistics of another model?");
    }
  }
}

void save_activation_stats_json(const ActivationStats& stats, const std::string& path) {
  nlohmann::json j;
  j["format"] = "sop-activation-stats";
  j["version"] = 1;
  j["tensors"] = nlohmann::json::object();
  for (const auto& [name, v] : stats.channels) j["tensors"][name] = v;
  write_file_atomically(path, [&](std::ostream& out) { out << j.dump() << "\n"; });
}

}  // namespace sop
