// The one YAML reader of every configuration kind (hardware, technology, recipe, sweep). It wraps
// yaml-cpp so that every error is a sop::Error naming the file, the dotted key path and the line
// ("decode_unit.lanes: 300 is out of range [1, 64] (line 4)"): yaml-cpp's own "bad conversion" names
// neither. Numbers must be finite; unknown keys are rejected, so a misspelt key never falls back to a
// default silently. Nothing here knows what the keys mean.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "base/text_file.h"

namespace sop {

// The schema version every YAML kind carries as `schema_version` (absent means this version).
inline constexpr int kYamlSchemaVersion = 1;

class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  // Parses a whole document; a syntax error names the file and the line. An empty document is an
  // empty mapping.
  YAML::Node parse(const std::string& text) const;

  [[noreturn]] void fail(const std::string& path, const YAML::Node& at, const std::string& message) const;
  [[noreturn]] void fail(const std::string& path, const std::string& message) const;

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // `node` must be a mapping whose keys are plain strings among `allowed`.
  void only_keys(const YAML::Node& node, const std::string& path, std::initializer_list<const char*> allowed) const;
  void only_keys(const YAML::Node& node, const std::string& path, const std::vector<std::string>& allowed) const;
  void require_map(const YAML::Node& node, const std::string& path) const;
  // The keys of a mapping, in file order, each checked to be a plain string.
  std::vector<std::string> keys(const YAML::Node& node, const std::string& path) const;
  // `schema_version` of a document's top level: absent or kYamlSchemaVersion, anything else is refused.
  void check_schema_version(const YAML::Node& root) const;

  // Typed reads of parent[key] at `path`; `def` when the key is absent.
  int64_t integer(const YAML::Node& parent, const std::string& path, const char* key, int64_t def, int64_t lo,
                  int64_t hi) const;
  // integer() for values that are `int` in the program (sizes, bit widths): [lo, hi] must fit an int.
  int int32(const YAML::Node& parent, const std::string& path, const char* key, int def, int lo, int hi) const {
    return static_cast<int>(integer(parent, path, key, def, lo, hi));
  }
  double number(const YAML::Node& parent, const std::string& path, const char* key, double def, double lo,
                double hi) const;
  bool boolean(const YAML::Node& parent, const std::string& path, const char* key, bool def) const;
  std::string string(const YAML::Node& parent, const std::string& path, const char* key,
                     const std::string& def) const;

  // Typed reads of a node itself (`path` names it).
  int64_t integer_value(const YAML::Node& node, const std::string& path, int64_t lo, int64_t hi) const;
  double number_value(const YAML::Node& node, const std::string& path, double lo, double hi) const;
  bool boolean_value(const YAML::Node& node, const std::string& path) const;
  std::string string_value(const YAML::Node& node, const std::string& path) const;
  // A scalar or a sequence of scalars, as a list (a scalar is a list of one); `max_items` bounds it.
  std::vector<std::string> string_list(const YAML::Node& node, const std::string& path,
                                       std::size_t max_items = 1u << 16) const;
  std::vector<double> number_list(const YAML::Node& node, const std::string& path, double lo, double hi,
                                  std::size_t max_items = 1u << 16) const;
  std::vector<int64_t> integer_list(const YAML::Node& node, const std::string& path, int64_t lo, int64_t hi,
                                    std::size_t max_items = 1u << 16) const;

  // How a node reads in an error message: its scalar text, or a short flow rendering.
  static std::string text(const YAML::Node& node);

 private:
  std::string file_;
};

}  // namespace sop
