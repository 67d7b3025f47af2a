#include "model/hw/hw_config.h"

#include <iterator>

#include "base/error.h"
#include "base/yaml_reader.h"

namespace sop::hw {
namespace {

// Physical bounds of the keys (beyond them a config is a typo, not a design).
constexpr double kMaxClockMhz = 1e6;
constexpr double kMaxBandwidthGbS = 1e6;
constexpr double kMaxLatencyNs = 1e9;
constexpr double kMaxWeightsPerCycle = 1e9;

void read_lut(const YamlReader& r, const YAML::Node& n, LutConfig& lut) {
  const std::string p = "decode_unit.lut";
  r.only_keys(n, p, {"entries_per_table", "tables_per_layer", "resident_layers", "entry_format", "banks", "sharing"});
  lut.entries_per_table = r.int32(n, p, "entries_per_table", lut.entries_per_table, 16, 64);
  if (lut.entries_per_table != 16 && lut.entries_per_table != 64) {
    r.fail(p + ".entries_per_table", n["entries_per_table"], "must be 16 (4-bit codes) or 64 (6-bit atoms)");
  }
  lut.tables_per_layer = r.int32(n, p, "tables_per_layer", lut.tables_per_layer, 2, 16);
  // The RTL's TableBits selector addresses 2^TableBits tables per slot, 1..4 bits.
  if ((lut.tables_per_layer & (lut.tables_per_layer - 1)) != 0) {
    r.fail(p + ".tables_per_layer", n["tables_per_layer"], "must be a power of two, 2..16 (the RTL's TableBits = 1..4)");
  }
  lut.resident_layers = r.int32(n, p, "resident_layers", lut.resident_layers, 1, kMaxResidentLayers);
  const std::string f = r.string(n, p, "entry_format", "hif");
  if (f == "hif") {
    lut.entry_format = golden::EntryFormat::Hif;
  } else if (f == "fp16") {
    lut.entry_format = golden::EntryFormat::Fp16;
  } else {
    r.fail(p + ".entry_format", n["entry_format"], "must be hif or fp16, got '" + f + "'");
  }
  lut.banks = r.int32(n, p, "banks", lut.banks, 1, 64);
  if (lut.banks != 1) r.fail(p + ".banks", n["banks"], "only 1 is built (a flop LUT gives every lane its own read mux)");
  const std::string sharing = r.string(n, p, "sharing", lut.shared ? "shared" : "private");
  if (sharing != "private" && sharing != "shared") {
    r.fail(p + ".sharing", n["sharing"], "must be private (each unit loads its own tables) or shared, got '" + sharing + "'");
  }
  lut.shared = sharing == "shared";
}

void read_scale(const YamlReader& r, const YAML::Node& n, golden::ScaleFormat& s) {
  const std::string p = "decode_unit.scale";
  r.only_keys(n, p, {"signed", "exp_bits", "man_bits", "bias", "subnormals"});
  s.has_sign = r.boolean(n, p, "signed", s.has_sign);
  s.exp_bits = r.int32(n, p, "exp_bits", s.exp_bits, 1, 8);
  s.man_bits = r.int32(n, p, "man_bits", s.man_bits, 0, 7);
  s.bias = r.int32(n, p, "bias", s.bias, 0, 255);
  s.subnormals = r.boolean(n, p, "subnormals", s.subnormals);
  if ((s.has_sign ? 1 : 0) + s.exp_bits + s.man_bits > 16) r.fail(p, n, "a scale wider than 16 bits is not supported");
}

void read_fetch(const YamlReader& r, const YAML::Node& n, FetchConfig& f) {
  const std::string p = "decode_unit.fetch";
  r.only_keys(n, p, {"request_bytes", "outstanding"});
  f.request_bytes = r.int32(n, p, "request_bytes", f.request_bytes, 1, 1 << 24);
  f.outstanding = r.int32(n, p, "outstanding", f.outstanding, 1, 1024);
}

// The DRAM keys of `n` over `d` (a preset's row, or a config's dram section over its preset).
void read_dram_keys(const YamlReader& r, const YAML::Node& n, const std::string& p, DramConfig& d) {
  d.channels = r.int32(n, p, "channels", d.channels, 1, 4096);
  d.bandwidth_gb_s = r.number(n, p, "bandwidth_gb_s", d.bandwidth_gb_s, 0, kMaxBandwidthGbS);
  d.latency_ns = r.number(n, p, "latency_ns", d.latency_ns, 0, kMaxLatencyNs);
  d.burst_bytes = r.int32(n, p, "burst_bytes", d.burst_bytes, 1, 1 << 16);
  d.queue_depth = r.int32(n, p, "queue_depth", d.queue_depth, 1, 1 << 16);
  d.energy_pj_per_bit = r.number(n, p, "energy_pj_per_bit", d.energy_pj_per_bit, 0, 1e4);
  d.energy_source = r.string(n, p, "energy_source", d.energy_source);
}

const char* const kDramKeys[] = {"channels", "bandwidth_gb_s", "latency_ns", "burst_bytes", "queue_depth",
                                 "energy_pj_per_bit", "energy_source"};

std::vector<std::pair<std::string, DramConfig>> parse_memory_presets() {
  const YamlReader r("configs/tech/memory.yaml (built in)");
  const YAML::Node root = r.parse(memory_presets_text());
  r.only_keys(root, "", {"schema_version", "memory_presets", "presets"});
  r.check_schema_version(root);
  std::vector<std::pair<std::string, DramConfig>> out;
  for (const auto& kv : root["presets"]) {
    const std::string name = kv.first.as<std::string>();
    const std::string p = "presets." + name;
    std::vector<std::string> keys(std::begin(kDramKeys), std::end(kDramKeys));
    keys.insert(keys.end(), {"description", "bandwidth_source"});
    r.only_keys(kv.second, p, keys);
    DramConfig d;
    d.preset = name;
    read_dram_keys(r, kv.second, p, d);
    out.emplace_back(name, d);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, DramConfig>> memory_presets() {
  static const std::vector<std::pair<std::string, DramConfig>> presets = parse_memory_presets();
  return presets;
}

HwConfig parse_hw_config(const std::string& yaml_text, const std::string& source) {
  const YamlReader r(source);
  const YAML::Node root = r.parse(yaml_text);
  HwConfig c;
  c.source = source;
  r.only_keys(root, "", {"schema_version", "name", "clock_mhz", "units", "decode_unit", "dram", "consumer", "policy"});
  r.check_schema_version(root);
  c.name = r.string(root, "", "name", "");
  // `auto`: the clock the unit meets at the technology's node, set by the command from its tech table
  // (sim/clock.h); until then clock_mhz is 0, which every consumer of the clock refuses.
  const YAML::Node clock = root["clock_mhz"];
  if (clock && clock.IsScalar() && clock.Scalar() == "auto") {
    c.clock_auto = true;
    c.clock_mhz = 0;
  } else {
    c.clock_mhz = r.number(root, "", "clock_mhz", c.clock_mhz, 1e-3, kMaxClockMhz);
  }
  c.units = r.int32(root, "", "units", c.units, 1, 256);
  const YAML::Node du = root["decode_unit"];
  if (!du) r.fail("decode_unit", "missing (the decode unit's parameters)");
  r.only_keys(du, "decode_unit", {"lanes", "lut", "scale", "index_bits", "pipeline_stages", "fetch"});
  c.decode_unit.lanes = r.int32(du, "decode_unit", "lanes", c.decode_unit.lanes, 1, kMaxLanes);
  c.decode_unit.index_bits = r.int32(du, "decode_unit", "index_bits", c.decode_unit.index_bits, 8, 32);
  c.decode_unit.pipeline_stages = r.int32(du, "decode_unit", "pipeline_stages", c.decode_unit.pipeline_stages, 1, 3);
  {
    // The RTL compares a residual's offset on its low clog2(lanes) + 2 bits, within the index's low half.
    int lane_bits = 1;
    while ((1 << lane_bits) < c.decode_unit.lanes) ++lane_bits;
    const int need = 2 * (lane_bits + 2);
    if (c.decode_unit.index_bits < need) {
      r.fail("decode_unit.index_bits", std::to_string(c.decode_unit.index_bits) + " is too narrow for " +
                                           std::to_string(c.decode_unit.lanes) + " lanes (at least " +
                                           std::to_string(need) + ")");
    }
  }
  if (du["lut"]) read_lut(r, du["lut"], c.decode_unit.lut);
  if (du["scale"]) read_scale(r, du["scale"], c.decode_unit.scale);
  if (du["fetch"]) read_fetch(r, du["fetch"], c.decode_unit.fetch);
  if (const YAML::Node d = root["dram"]) {
    std::vector<std::string> keys(std::begin(kDramKeys), std::end(kDramKeys));
    keys.push_back("preset");
    r.only_keys(d, "dram", keys);
    if (d["preset"]) {
      const std::string name = r.string(d, "dram", "preset", "");
      std::string known;
      bool found = false;
      for (const auto& [preset, row] : memory_presets()) {
        known += (known.empty() ? "" : ", ") + preset;
        if (preset == name) {
          c.dram = row;
          found = true;
        }
      }
      if (!found) r.fail("dram.preset", d["preset"], "unknown memory preset '" + name + "' (known: " + known + ")");
    }
    read_dram_keys(r, d, "dram", c.dram);
    if (d["energy_pj_per_bit"] && !d["energy_source"]) {
      r.fail("dram.energy_source", d["energy_pj_per_bit"], "missing: say where dram.energy_pj_per_bit comes from");
    }
  }
  if (c.decode_unit.fetch.request_bytes < c.dram.burst_bytes) {
    r.fail("decode_unit.fetch.request_bytes", "smaller than one DRAM burst (dram.burst_bytes = " +
                                                  std::to_string(c.dram.burst_bytes) + ")");
  }
  if (const YAML::Node n = root["consumer"]) {
    r.only_keys(n, "consumer", {"weights_per_cycle", "buffer_weights"});
    c.consumer.weights_per_cycle = r.number(n, "consumer", "weights_per_cycle", 0, 0, kMaxWeightsPerCycle);
    c.consumer.buffer_weights = r.int32(n, "consumer", "buffer_weights", c.consumer.buffer_weights, 1, 1 << 24);
  }
  if (c.consumer.buffer_weights < c.decode_unit.lanes) {
    r.fail("consumer.buffer_weights", std::to_string(c.consumer.buffer_weights) +
                                          " cannot hold one beat of decode_unit.lanes = " +
                                          std::to_string(c.decode_unit.lanes) + " weights");
  }
  if (const YAML::Node n = root["policy"]) {
    r.only_keys(n, "policy", {"prefetch_next_layer", "fetch_across_layers"});
    c.policy.prefetch_next_layer = r.boolean(n, "policy", "prefetch_next_layer", c.policy.prefetch_next_layer);
    c.policy.fetch_across_layers = r.boolean(n, "policy", "fetch_across_layers", c.policy.fetch_across_layers);
  }
  return c;
}

HwConfig load_hw_config(const std::string& path) {
  return parse_hw_config(read_text_file(path, "hardware configuration"), path);
}

golden::DecodeConfig HwConfig::decode_config() const {
  golden::DecodeConfig d;
  d.entry_format = decode_unit.lut.entry_format;
  d.code_bits = code_bits();
  const golden::ScaleFormat& s = decode_unit.scale;
  d.scale = golden::ScaleFormat{s.has_sign, s.exp_bits, s.man_bits, s.bias, s.subnormals};
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
          {"TableBits", std::to_string(table_bits())},
          {"Fp16Entries", bit(u.lut.entry_format == golden::EntryFormat::Fp16)},
          {"ScaleHasSign", bit(u.scale.has_sign)},
          {"ScaleExpBits", std::to_string(u.scale.exp_bits)},
          {"ScaleManBits", std::to_string(u.scale.man_bits)},
          {"ScaleSubnormals", bit(u.scale.subnormals)},
          {"IndexBits", std::to_string(u.index_bits)},
          {"PipeStages", std::to_string(u.pipeline_stages)}};
}

UnitFormats unit_formats(const HwConfig& hw) {
  UnitFormats u;
  u.lanes = hw.decode_unit.lanes;
  u.decode = hw.decode_config();
  u.index_bits = hw.decode_unit.index_bits;
  u.tables_per_slot = hw.decode_unit.lut.tables_per_layer;
  u.lut_bits = hw.lut_bits();
  return u;
}

}  // namespace sop::hw
