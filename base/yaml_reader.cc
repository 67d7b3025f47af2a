#include "base/yaml_reader.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "base/error.h"

namespace sop {
namespace {

std::string line_of(const YAML::Node& at) {
  if (!at.IsDefined()) return "";
  const YAML::Mark mark = at.Mark();
  if (mark.line < 0) return "";
  return " (line " + std::to_string(mark.line + 1) + ")";
}

std::string shown_path(const std::string& path) { return path.empty() ? "<top level>" : path; }

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

YAML::Node YamlReader::parse(const std::string& text) const {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    const std::string where = e.mark.line >= 0 ? " (line " + std::to_string(e.mark.line + 1) + ")" : "";
    throw Error(file_, "", "not valid YAML: " + e.msg + where);
  }
  if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
  return root;
}

void YamlReader::fail(const std::string& path, const YAML::Node& at, const std::string& message) const {
  throw Error(file_, shown_path(path), message + line_of(at));
}

void YamlReader::fail(const std::string& path, const std::string& message) const {
  throw Error(file_, shown_path(path), message);
}

void YamlReader::require_map(const YAML::Node& node, const std::string& path) const {
  if (!node.IsMap()) fail(path, node, "expected a mapping of keys");
}

std::vector<std::string> YamlReader::keys(const YAML::Node& node, const std::string& path) const {
  require_map(node, path);
  std::vector<std::string> out;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) fail(path, entry.first, "a key is not a plain string");
    out.push_back(entry.first.Scalar());
  }
  return out;
}

void YamlReader::only_keys(const YAML::Node& node, const std::string& path,
                           std::initializer_list<const char*> allowed) const {
  only_keys(node, path, std::vector<std::string>(allowed.begin(), allowed.end()));
}

void YamlReader::only_keys(const YAML::Node& node, const std::string& path,
                           const std::vector<std::string>& allowed) const {
  require_map(node, path);
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) fail(path, entry.first, "a key is not a plain string");
    const std::string& key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(join(path, key), entry.first, "unknown key (known here: " + list + ")");
    }
  }
}

void YamlReader::check_schema_version(const YAML::Node& root) const {
  const YAML::Node n = root["schema_version"];
  if (!n) return;
  const int64_t v = integer_value(n, "schema_version", 0, 1 << 30);
  if (v != kYamlSchemaVersion) {
    fail("schema_version", n,
         "version " + std::to_string(v) + " is not supported (this sop reads version " +
             std::to_string(kYamlSchemaVersion) + ")");
  }
}

std::string YamlReader::text(const YAML::Node& node) {
  if (!node.IsDefined()) return "";
  if (node.IsScalar()) return node.Scalar();
  if (node.IsNull()) return "null";
  YAML::Emitter out;
  out << YAML::Flow << node;
  std::string s = out.c_str();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

int64_t YamlReader::integer_value(const YAML::Node& node, const std::string& path, int64_t lo, int64_t hi) const {
  int64_t v = 0;
  bool ok = node.IsScalar();
  if (ok) {
    try {
      v = node.as<int64_t>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  if (!ok) fail(path, node, "expected an integer, got '" + text(node) + "'");
  if (v < lo || v > hi) {
    fail(path, node, std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

double YamlReader::number_value(const YAML::Node& node, const std::string& path, double lo, double hi) const {
  double v = 0;
  bool ok = node.IsScalar();
  if (ok) {
    try {
      v = node.as<double>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  if (!ok) fail(path, node, "expected a number, got '" + text(node) + "'");
  if (!std::isfinite(v)) fail(path, node, "must be a finite number, got '" + text(node) + "'");
  if (v < lo || v > hi) {
    fail(path, node, format_number(v) + " is out of range [" + format_number(lo) + ", " + format_number(hi) + "]");
  }
  return v;
}

bool YamlReader::boolean_value(const YAML::Node& node, const std::string& path) const {
  if (node.IsScalar()) {
    try {
      return node.as<bool>();
    } catch (const YAML::Exception&) {
    }
  }
  fail(path, node, "expected true or false, got '" + text(node) + "'");
}

std::string YamlReader::string_value(const YAML::Node& node, const std::string& path) const {
  if (!node.IsScalar()) fail(path, node, "expected a string, got '" + text(node) + "'");
  return node.Scalar();
}

int64_t YamlReader::integer(const YAML::Node& parent, const std::string& path, const char* key, int64_t def,
                            int64_t lo, int64_t hi) const {
  const YAML::Node n = parent[key];
  return n ? integer_value(n, join(path, key), lo, hi) : def;
}

double YamlReader::number(const YAML::Node& parent, const std::string& path, const char* key, double def,
                          double lo, double hi) const {
  const YAML::Node n = parent[key];
  return n ? number_value(n, join(path, key), lo, hi) : def;
}

bool YamlReader::boolean(const YAML::Node& parent, const std::string& path, const char* key, bool def) const {
  const YAML::Node n = parent[key];
  return n ? boolean_value(n, join(path, key)) : def;
}

std::string YamlReader::string(const YAML::Node& parent, const std::string& path, const char* key,
                               const std::string& def) const {
  const YAML::Node n = parent[key];
  return n ? string_value(n, join(path, key)) : def;
}

namespace {

// A scalar (a list of one) or a sequence of at most max_items scalars, each read by read_one(node, path).
template <class T, class ReadOne>
std::vector<T> list_of(const YamlReader& r, const YAML::Node& node, const std::string& path, std::size_t max_items,
                       const char* expected, ReadOne read_one) {
  if (node.IsScalar()) return {read_one(node, path)};
  if (!node.IsSequence()) r.fail(path, node, std::string("expected ") + expected);
  if (node.size() > max_items) r.fail(path, node, "more than " + std::to_string(max_items) + " items");
  std::vector<T> out;
  for (std::size_t i = 0; i < node.size(); ++i) out.push_back(read_one(node[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

std::vector<std::string> YamlReader::string_list(const YAML::Node& node, const std::string& path,
                                                 std::size_t max_items) const {
  return list_of<std::string>(*this, node, path, max_items, "a value or a list of values",
                              [&](const YAML::Node& n, const std::string& p) { return string_value(n, p); });
}

std::vector<double> YamlReader::number_list(const YAML::Node& node, const std::string& path, double lo, double hi,
                                            std::size_t max_items) const {
  return list_of<double>(*this, node, path, max_items, "a number or a list of numbers",
                         [&](const YAML::Node& n, const std::string& p) { return number_value(n, p, lo, hi); });
}

std::vector<int64_t> YamlReader::integer_list(const YAML::Node& node, const std::string& path, int64_t lo,
                                              int64_t hi, std::size_t max_items) const {
  return list_of<int64_t>(*this, node, path, max_items, "an integer or a list of integers",
                          [&](const YAML::Node& n, const std::string& p) { return integer_value(n, p, lo, hi); });
}

}  // namespace sop
