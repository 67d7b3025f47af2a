#include "sim/sweep_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

#include "base/error.h"
#include "base/text_file.h"
#include "base/yaml_reader.h"
#include "quantizer/recipe.h"

namespace sop::sim {
namespace fs = std::filesystem;
namespace {

// ${SOP_MODELS_DIR} in a path: the environment's, else the shared models beside the source tree.
std::string expand_path(const std::string& value, const std::string& base_dir) {
  std::string v = value;
  const std::string var = "${SOP_MODELS_DIR}";
  const std::size_t pos = v.find(var);
  if (pos != std::string::npos) {
    const char* env = std::getenv("SOP_MODELS_DIR");
    const std::string dir = env ? env : std::string(SOP_SOURCE_DIR) + "/../shared/models";
    v.replace(pos, var.size(), dir);
  }
  if (v.rfind("synthetic:", 0) == 0 || v.empty() || v[0] == '/') return v;
  return (fs::path(base_dir) / v).lexically_normal().string();
}

// Sweep numbers carry their own checks (> 0, whole); the reader only makes sure they are finite numbers.
double number_value(const YamlReader& r, const YAML::Node& n, const std::string& path) {
  return r.number_value(n, path, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
}

bool is_integer_text(const std::string& s, long long lo, long long hi) {
  if (s.empty()) return false;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  return *end == '\0' && v >= lo && v <= hi;
}

// ---- The axes ----------------------------------------------------------------------------------

std::string integer_check(const SweepAxisValue& v, long long lo, long long hi, const std::string& what) {
  return is_integer_text(v.text, lo, hi) ? "" : "expected " + what + ", got '" + v.text + "'";
}

std::string positive_number_check(SweepAxisValue& v) { return v.number() > 0 ? "" : "must be > 0"; }

const std::vector<SweepAxis> kAxes = {
    {"lut_sram_bytes",
     [](SweepAxisValue& v) { return integer_check(v, 1, 1LL << 40, "a size in bytes >= 1"); },
     [](const std::string& v, PointChoice& c) { c.design.lut_sram_bytes = std::stoll(v); }, nullptr},
    {"lanes", [](SweepAxisValue& v) { return integer_check(v, 1, 4096, "a lane count in [1, 4096]"); },
     [](const std::string& v, PointChoice& c) { c.design.lanes = std::stoi(v); },
     [](const std::string& v) { return std::to_string(std::stoi(v)) + " lanes"; }},
    {"entry_format",
     [](SweepAxisValue& v) -> std::string {
       try {
         v.text = entry_format_info(parse_entry_format(v.text)).name;  // the canonical spelling
         return "";
       } catch (const std::invalid_argument& e) {
         return e.what();
       }
     },
     [](const std::string& v, PointChoice& c) {
       c.entry_format = v;
       c.design.entry_format = parse_entry_format(v);
     },
     nullptr},
    {"block",
     [](SweepAxisValue& v) {
       return integer_check(v, RecipeLimits::kMinBlock, RecipeLimits::kMaxBlock,
                            "a block size in [" + std::to_string(RecipeLimits::kMinBlock) + ", " +
                                std::to_string(RecipeLimits::kMaxBlock) + "]");
     },
     [](const std::string& v, PointChoice& c) { c.block = std::stoi(v); },
     [](const std::string& v) { return "g" + v; }},
    {"recipe", [](SweepAxisValue& v) {
       return v.spec.recipes.count(v.text) ? std::string() : "no recipe named '" + v.text + "' under recipes:";
     },
     [](const std::string& v, PointChoice& c) { c.recipe = v; }, [](const std::string& v) { return v; }},
    {"model", [](SweepAxisValue& v) {
       return v.spec.models.count(v.text) ? std::string() : "no model named '" + v.text + "' under models:";
     },
     [](const std::string& v, PointChoice& c) { c.model = v; }, nullptr},
    {"clock_mhz", positive_number_check, [](const std::string& v, PointChoice& c) { c.design.clock_mhz = std::stod(v); },
     [](const std::string& v) { return v + " MHz"; }},
    {"dram_gb_s", positive_number_check, [](const std::string& v, PointChoice& c) { c.design.dram_gb_s = std::stod(v); },
     [](const std::string& v) { return v + " GB/s"; }},
};

}  // namespace

const std::vector<SweepAxis>& sweep_axes() { return kAxes; }

const SweepAxis* find_sweep_axis(const std::string& name) {
  for (const SweepAxis& a : kAxes) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

const std::vector<std::string>& sweep_axis_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const SweepAxis& a : kAxes) out.push_back(a.name);
    return out;
  }();
  return names;
}

std::string SweepPoint::key() const {
  std::string s;
  for (const auto& [k, v] : axes) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

std::size_t SweepSpec::point_count() const {
  if (axes.empty()) return 1;
  if (combine == "zip") return axes.front().second.size();
  std::size_t n = 1;
  for (const auto& [axis, values] : axes) n *= values.size();  // parse_sweep bounds it by kMaxSweepPoints
  return n;
}

SweepPoint SweepSpec::point(std::size_t index) const {
  if (index >= point_count()) {
    throw std::out_of_range("sweep " + name + ": point " + std::to_string(index) + " of " + std::to_string(point_count()));
  }
  SweepPoint p;
  p.index = static_cast<int>(index);
  if (combine == "zip") {
    for (const auto& [axis, values] : axes) p.axes[axis] = values[index];
    return p;
  }
  // Grid: the last axis varies fastest, so the index is a mixed-radix number with it as the last digit.
  std::size_t rest = index;
  for (auto a = axes.rbegin(); a != axes.rend(); ++a) {
    p.axes[a->first] = a->second[rest % a->second.size()];
    rest /= a->second.size();
  }
  return p;
}

std::vector<SweepPoint> SweepSpec::points() const {
  std::vector<SweepPoint> out;
  const std::size_t n = point_count();
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(point(i));
  return out;
}

SweepSpec parse_sweep(const std::string& yaml_text, const std::string& source, const std::string& base_dir) {
  const YamlReader r(source);
  const YAML::Node root = r.parse(yaml_text);
  // `system` is the old name of `dram`: still recognized, so that its keys get an error naming the new one.
  r.only_keys(root, "", {"schema_version", "sweep", "name", "description", "tech", "hw", "combine", "dram", "system",
                         "models", "recipes", "axes"});
  r.check_schema_version(root);
  SweepSpec s;
  s.path = source;
  s.text = yaml_text;
  if (!root["sweep"] || number_value(r, root["sweep"], "sweep") != 1) {
    r.fail("sweep", root["sweep"] ? root["sweep"] : root, "missing or unsupported version (expected `sweep: 1`)");
  }
  s.name = r.string(root, "", "name", "");
  if (s.name.empty()) r.fail("name", root, "missing");
  s.description = r.string(root, "", "description", "");
  s.tech = expand_path(r.string(root, "", "tech", ""), base_dir);
  s.hw = expand_path(r.string(root, "", "hw", ""), base_dir);
  if (s.tech.empty()) r.fail("tech", root, "missing (a technology table, e.g. ../tech/45nm.yaml)");
  if (s.hw.empty()) r.fail("hw", root, "missing (the base hardware config, e.g. ../hw/default.yaml)");
  s.combine = r.string(root, "", "combine", "grid");
  if (s.combine != "grid" && s.combine != "zip") {
    r.fail("combine", root["combine"], "must be grid or zip, got '" + s.combine + "'");
  }
  if (const YAML::Node old = root["system"]) {
    // Renamed to the hardware config's spelling (docs/hw-config.md), so one name means one thing.
    r.only_keys(old, "system", {"dram_gb_s", "dram_latency_ns"});
    for (const auto& [old_key, new_key] : {std::pair<const char*, const char*>{"dram_gb_s", "dram.bandwidth_gb_s"},
                                           {"dram_latency_ns", "dram.latency_ns"}}) {
      if (old[old_key]) {
        r.fail(std::string("system.") + old_key, old[old_key],
               std::string("renamed: write ") + new_key + " (the hardware config's key)");
      }
    }
  }
  if (const YAML::Node dram = root["dram"]) {
    r.only_keys(dram, "dram", {"bandwidth_gb_s", "latency_ns"});
    if (dram["bandwidth_gb_s"]) s.dram_bandwidth_gb_s = number_value(r, dram["bandwidth_gb_s"], "dram.bandwidth_gb_s");
    if (dram["latency_ns"]) s.dram_latency_ns = number_value(r, dram["latency_ns"], "dram.latency_ns");
    if (s.dram_bandwidth_gb_s < 0 || s.dram_latency_ns < 0) r.fail("dram", dram, "values must be >= 0");
  }

  const YAML::Node models = root["models"];
  if (!models || !models.IsMap() || models.size() == 0) r.fail("models", models ? models : root, "missing: name at least one model");
  for (const std::string& name : r.keys(models, "models")) {
    const YAML::Node entry = models[name];
    SweepModel m;
    m.name = name;
    const std::string p = "models." + m.name;
    r.only_keys(entry, p, {"model", "pack", "repeat", "quality"});
    m.model = r.string(entry, p, "model", "");
    m.pack = r.string(entry, p, "pack", "");
    if (m.model.empty() == m.pack.empty()) {
      r.fail(p, entry, "give exactly one of `model` (a checkpoint) or `pack` (a .sop file)");
    }
    if (!m.model.empty()) m.model = expand_path(m.model, base_dir);
    if (!m.pack.empty()) m.pack = expand_path(m.pack, base_dir);
    if (entry["repeat"]) {
      const double rep = number_value(r, entry["repeat"], p + ".repeat");
      if (rep < 1 || rep != std::floor(rep) || rep > 100000) r.fail(p + ".repeat", entry["repeat"], "must be a whole number >= 1");
      m.repeat = static_cast<int>(rep);
    }
    m.quality = r.boolean(entry, p, "quality", m.quality);
    s.models[m.name] = m;
  }
  if (const YAML::Node recipes = root["recipes"]) {
    for (const std::string& name : r.keys(recipes, "recipes")) {
      s.recipes[name] = expand_path(r.string_value(recipes[name], "recipes." + name), base_dir);
    }
  }

  const YAML::Node axes = root["axes"];
  if (!axes || !axes.IsMap() || axes.size() == 0) r.fail("axes", axes ? axes : root, "missing: give at least one axis");
  for (const std::string& name : r.keys(axes, "axes")) {
    const YAML::Node list = axes[name];
    const std::string p = "axes." + name;
    const SweepAxis* axis = find_sweep_axis(name);
    if (!axis) {
      std::string names;
      for (const auto& a : sweep_axis_names()) names += (names.empty() ? "" : ", ") + a;
      r.fail(p, list, "unknown axis (axes: " + names + ")");
    }
    if (!list.IsSequence()) r.fail(p, list, "expected a list of values");
    if (list.size() == 0) r.fail(p, list, "empty axis: give at least one value");
    if (list.size() > kMaxSweepPoints) {
      r.fail(p, list, std::to_string(list.size()) + " values: more than the limit of " + std::to_string(kMaxSweepPoints) +
                          " points a sweep may have");
    }
    std::vector<std::string> values;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const YAML::Node v = list[i];
      const std::string pi = p + "[" + std::to_string(i) + "]";
      if (!v.IsScalar()) r.fail(pi, v, "expected a single value");
      SweepAxisValue value{v.Scalar(), s, [&] { return number_value(r, v, pi); }};
      const std::string error = axis->check(value);
      if (!error.empty()) r.fail(pi, v, error);
      const std::string& text = value.text;
      if (std::find(values.begin(), values.end(), text) != values.end()) r.fail(pi, v, "'" + text + "' appears twice");
      values.push_back(text);
    }
    s.axes.emplace_back(name, values);
  }
  if (s.combine == "zip") {
    for (const auto& [name, values] : s.axes) {
      if (values.size() != s.axes.front().second.size()) {
        r.fail("axes." + name, axes[name], "combine: zip needs every axis of the same length (" + s.axes.front().first + " has " +
                                   std::to_string(s.axes.front().second.size()) + ", " + name + " has " +
                                   std::to_string(values.size()) + ")");
      }
    }
  }
  if (s.combine != "zip") {
    // Checked before points() expands the grid: a 48 KB file of long axes made 2.1e9 points.
    uint64_t grid = 1;
    for (const auto& [name, values] : s.axes) {
      grid *= values.size();  // each factor <= kMaxSweepPoints, and grid <= kMaxSweepPoints before it
      if (grid > kMaxSweepPoints) {
        r.fail("axes", axes, "the grid has more than the limit of " + std::to_string(kMaxSweepPoints) +
                                 " points a sweep may have (split it, or use combine: zip)");
      }
    }
  }
  bool has_model_axis = false, has_recipe_axis = false;
  for (const auto& [name, values] : s.axes) {
    has_model_axis |= name == "model";
    has_recipe_axis |= name == "recipe";
  }
  if (!has_model_axis && s.models.size() != 1) r.fail("axes", axes, "several models are named: add a `model` axis");
  bool needs_recipe = false;
  for (const auto& [name, m] : s.models) needs_recipe |= m.pack.empty();
  if (needs_recipe && s.recipes.empty()) r.fail("recipes", root, "missing: a model given as a checkpoint needs a recipe");
  if (needs_recipe && !has_recipe_axis && s.recipes.size() != 1) r.fail("axes", axes, "several recipes are named: add a `recipe` axis");
  return s;
}

SweepSpec load_sweep(const std::string& path) {
  const std::string text = read_text_file(path, "sweep file");
  const fs::path p(path);
  return parse_sweep(text, path, p.has_parent_path() ? p.parent_path().string() : ".");
}

Shard parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  Shard s;
  if (slash == std::string::npos || !is_integer_text(text.substr(0, slash), 0, 1 << 20) ||
      !is_integer_text(text.substr(slash + 1), 1, 1 << 20)) {
    throw std::invalid_argument("--shard expects i/n with 0 <= i < n, got '" + text + "'");
  }
  s.index = std::stoi(text.substr(0, slash));
  s.count = std::stoi(text.substr(slash + 1));
  if (s.index >= s.count) throw std::invalid_argument("--shard expects i/n with 0 <= i < n, got '" + text + "'");
  return s;
}

}  // namespace sop::sim
