#include "sim/hw_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "base/error.h"

namespace sop::sim {
namespace {

// Reads typed values out of one YAML file, naming the file and the key path in every error. yaml-cpp's
// own conversion errors say "bad conversion" without the key, so every read goes through here.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw Error(source_, key, message);
  }

  void require_map(const YAML::Node& n, const std::string& path) const {
    if (!n.IsMap()) fail(path.empty() ? "(top level)" : path, "expected a mapping of keys");
  }

  void only_keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) const {
    require_map(n, path);
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      if (allowed.count(k) == 0) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(join(path, k), "unknown key (allowed here: " + list + ")");
      }
    }
  }

  int integer(const YAML::Node& parent, const std::string& path, const char* key, int def, int lo, int hi) const {
    const YAML::Node n = parent[key];
    if (!n) return def;
    int v = 0;
    try {
      if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
      v = n.as<int>();
    } catch (const YAML::Exception&) {
      fail(join(path, key), "expected an integer, got '" + text(n) + "'");
    }
    if (v < lo || v > hi) {
      fail(join(path, key), std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return v;
  }

  double number(const YAML::Node& parent, const std::string& path, const char* key, double def, double lo) const {
    const YAML::Node n = parent[key];
    if (!n) return def;
    double v = 0;
    try {
      if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      fail(join(path, key), "expected a number, got '" + text(n) + "'");
    }
    if (!(v >= lo)) fail(join(path, key), "must be >= " + std::to_string(lo));
    return v;
  }

  bool boolean(const YAML::Node& parent, const std::string& path, const char* key, bool def) const {
    const YAML::Node n = parent[key];
    if (!n) return def;
    try {
      if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
      return n.as<bool>();
    } catch (const YAML::Exception&) {
      fail(join(path, key), "expected true or false, got '" + text(n) + "'");
    }
  }

  std::string string(const YAML::Node& parent, const std::string& path, const char* key, const std::string& def) const {
    const YAML::Node n = parent[key];
    if (!n) return def;
    if (!n.IsScalar()) fail(join(path, key), "expected a string");
    return n.as<std::string>();
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  static std::string text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    std::ostringstream s;
    s << n;
    return s.str();
  }
  std::string source_;
};

void read_lut(const Reader& r, const YAML::Node& n, LutConfig& lut) {
  const std::string p = "decode_unit.lut";
  r.only_keys(n, p, {"entries_per_table", "tables_per_layer", "resident_layers", "entry_format", "banks"});
  lut.entries_per_table = r.integer(n, p, "entries_per_table", lut.entries_per_table, 16, 64);
  if (lut.entries_per_table != 16 && lut.entries_per_table != 64) {
    r.fail(p + ".entries_per_table", "must be 16 (4-bit codes) or 64 (6-bit atoms)");
  }
  lut.tables_per_layer = r.integer(n, p, "tables_per_layer", lut.tables_per_layer, 1, 64);
  if (lut.tables_per_layer != 2) r.fail(p + ".tables_per_layer", "the decode unit holds a pair: must be 2");
  lut.resident_layers = r.integer(n, p, "resident_layers", lut.resident_layers, 1, 64);
  const std::string f = r.string(n, p, "entry_format", "hif");
  if (f == "hif") {
    lut.entry_format = golden::EntryFormat::Hif;
  } else if (f == "fp16") {
    lut.entry_format = golden::EntryFormat::Fp16;
  } else {
    r.fail(p + ".entry_format", "must be hif or fp16, got '" + f + "'");
  }
  lut.banks = r.integer(n, p, "banks", lut.banks, 1, 64);
  if (lut.banks != 1) r.fail(p + ".banks", "only 1 is built (a flop LUT gives every lane its own read mux)");
}

void read_scale(const Reader& r, const YAML::Node& n, ScaleConfig& s) {
  const std::string p = "decode_unit.scale";
  r.only_keys(n, p, {"signed", "exp_bits", "man_bits", "bias", "subnormals"});
  s.is_signed = r.boolean(n, p, "signed", s.is_signed);
  s.exp_bits = r.integer(n, p, "exp_bits", s.exp_bits, 1, 8);
  s.man_bits = r.integer(n, p, "man_bits", s.man_bits, 0, 7);
  s.bias = r.integer(n, p, "bias", s.bias, 0, 255);
  s.subnormals = r.boolean(n, p, "subnormals", s.subnormals);
  if ((s.is_signed ? 1 : 0) + s.exp_bits + s.man_bits > 16) r.fail(p, "a scale wider than 16 bits is not supported");
}

void read_fetch(const Reader& r, const YAML::Node& n, FetchConfig& f) {
  const std::string p = "decode_unit.fetch";
  r.only_keys(n, p, {"request_bytes", "outstanding"});
  f.request_bytes = r.integer(n, p, "request_bytes", f.request_bytes, 1, 1 << 24);
  f.outstanding = r.integer(n, p, "outstanding", f.outstanding, 1, 1024);
}

}  // namespace

HwConfig parse_hw_config(const std::string& yaml_text, const std::string& source) {
  const Reader r(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    r.fail("", std::string("not valid YAML: ") + e.what());
  }
  HwConfig c;
  c.source = source;
  r.only_keys(root, "", {"name", "clock_mhz", "decode_unit", "dram", "consumer", "policy"});
  c.name = r.string(root, "", "name", "");
  c.clock_mhz = r.number(root, "", "clock_mhz", c.clock_mhz, 1e-3);
  const YAML::Node du = root["decode_unit"];
  if (!du) r.fail("decode_unit", "missing (the decode unit's parameters)");
  r.only_keys(du, "decode_unit", {"lanes", "lut", "scale", "index_bits", "fetch"});
  c.decode_unit.lanes = r.integer(du, "decode_unit", "lanes", c.decode_unit.lanes, 1, 64);
  c.decode_unit.index_bits = r.integer(du, "decode_unit", "index_bits", c.decode_unit.index_bits, 8, 32);
  if (du["lut"]) read_lut(r, du["lut"], c.decode_unit.lut);
  if (du["scale"]) read_scale(r, du["scale"], c.decode_unit.scale);
  if (du["fetch"]) read_fetch(r, du["fetch"], c.decode_unit.fetch);
  if (const YAML::Node d = root["dram"]) {
    r.only_keys(d, "dram", {"bandwidth_gb_s", "latency_ns", "burst_bytes"});
    c.dram.bandwidth_gb_s = r.number(d, "dram", "bandwidth_gb_s", 0, 0);
    c.dram.latency_ns = r.number(d, "dram", "latency_ns", 0, 0);
    c.dram.burst_bytes = r.integer(d, "dram", "burst_bytes", c.dram.burst_bytes, 1, 1 << 16);
  }
  if (c.decode_unit.fetch.request_bytes < c.dram.burst_bytes) {
    r.fail("decode_unit.fetch.request_bytes", "smaller than one DRAM burst (dram.burst_bytes = " +
                                                  std::to_string(c.dram.burst_bytes) + ")");
  }
  if (const YAML::Node n = root["consumer"]) {
    r.only_keys(n, "consumer", {"weights_per_cycle", "buffer_weights"});
    c.consumer.weights_per_cycle = r.number(n, "consumer", "weights_per_cycle", 0, 0);
    c.consumer.buffer_weights = r.integer(n, "consumer", "buffer_weights", c.consumer.buffer_weights, 1, 1 << 24);
  }
  if (c.consumer.buffer_weights < c.decode_unit.lanes) {
    r.fail("consumer.buffer_weights", std::to_string(c.consumer.buffer_weights) +
                                          " cannot hold one beat of decode_unit.lanes = " +
                                          std::to_string(c.decode_unit.lanes) + " weights");
  }
  if (const YAML::Node n = root["policy"]) {
    r.only_keys(n, "policy", {"prefetch_next_layer"});
    c.policy.prefetch_next_layer = r.boolean(n, "policy", "prefetch_next_layer", c.policy.prefetch_next_layer);
  }
  return c;
}

HwConfig load_hw_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path, "", "cannot open the hardware configuration");
  std::ostringstream s;
  s << in.rdbuf();
  return parse_hw_config(s.str(), path);
}

golden::DecodeConfig HwConfig::decode_config() const {
  golden::DecodeConfig d;
  d.entry_format = decode_unit.lut.entry_format;
  d.code_bits = code_bits();
  const ScaleConfig& s = decode_unit.scale;
  d.scale = golden::ScaleFormat{s.is_signed, s.exp_bits, s.man_bits, s.bias, s.subnormals};
  return d;
}

long HwConfig::lut_bits() const {
  const auto& l = decode_unit.lut;
  return static_cast<long>(l.resident_layers) * l.tables_per_layer * l.entries_per_table * decode_config().entry_bits();
}

std::vector<std::pair<std::string, std::string>> HwConfig::rtl_parameters() const {
  const auto& u = decode_unit;
  auto bit = [](bool b) { return std::string(b ? "1" : "0"); };
  return {{"Lanes", std::to_string(u.lanes)},
          {"CodeBits", std::to_string(code_bits())},
          {"ResidentLayers", std::to_string(u.lut.resident_layers)},
          {"Fp16Entries", bit(u.lut.entry_format == golden::EntryFormat::Fp16)},
          {"ScaleHasSign", bit(u.scale.is_signed)},
          {"ScaleExpBits", std::to_string(u.scale.exp_bits)},
          {"ScaleManBits", std::to_string(u.scale.man_bits)},
          {"ScaleSubnormals", bit(u.scale.subnormals)},
          {"IndexBits", std::to_string(u.index_bits)}};
}

}  // namespace sop::sim
