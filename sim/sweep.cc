#include "sim/sweep.h"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/half.h"
#include "base/text_file.h"
#include "base/yaml_reader.h"
#include "quantizer/metrics.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/pack/quantize_model.h"
#include "base/parallel.h"
#include "quantizer/recipe.h"
#include "sim/estimate.h"
#include "model/hw/hw_config.h"
#include "sim/tech.h"

namespace sop::sim {
namespace fs = std::filesystem;
namespace {

// The sweep file is a config (read_text_file's default bound); the JSON files the sweep writes itself
// grow with the number of points (results.json holds every point's record), so they get a wider bound.
constexpr uint64_t kSweepOutputMaxBytes = uint64_t{1} << 30;

std::string read_output(const std::string& path, const char* what) {
  return read_text_file(path, what, kSweepOutputMaxBytes);
}

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

// ---- Quantization shared by points --------------------------------------------------------------

// What a point needs quantized: one pack per (model, recipe, block, table format).
struct QuantKey {
  std::string model;
  std::string recipe;   // empty for a pack model
  int block = 0;        // 0: the recipe's own
  std::string lut_format;  // "hif" or "fp16" (BF16 points reuse the FP16 pack)
  bool operator<(const QuantKey& o) const {
    return std::tie(model, recipe, block, lut_format) < std::tie(o.model, o.recipe, o.block, o.lut_format);
  }
  std::string slug() const {
    std::string s = model + (recipe.empty() ? "" : "_" + recipe) + (block ? "_g" + std::to_string(block) : "") +
                    (lut_format.empty() ? "" : "_" + lut_format);
    for (char& c : s) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    }
    return s;
  }
};

struct QuantResult {
  std::string error;  // non-empty: every point that needs this pack fails with it
  Workload workload;
  nlohmann::json quality;  // {bpw, sqnr_db, ...} per table format actually used by points
};

// An FP16 table entry re-rounded to BF16, stored back as FP16 (every BF16 value of a codebook's range
// is an FP16 value).
uint32_t fp16_entry_as_bf16(uint32_t code) {
  const float entry = static_cast<float>(golden::fp16_decode(static_cast<uint16_t>(code)));
  return golden::fp16_encode(bf16_to_fp32(fp32_to_bf16(entry)));
}

// SQNR of the pack's decode against the checkpoint, over all quantized layers; with bf16 the tables of
// an FP16 pack are re-rounded to BF16 first (same codes and scales).
nlohmann::json measure_quality(const std::string& model_path, const std::string& pack_path, bool bf16) {
  const auto model = open_model(model_path);
  const PackFile pack = PackFile::open(pack_path);
  double signal = 0, noise = 0, layer_db_sum = 0;
  int layers = 0;
  for (const PackedLayerView& original : pack.layers()) {
    PackedLayerView view = original;
    if (bf16) {
      if (view.decode.entry_format != golden::EntryFormat::Fp16) throw Error(pack_path, view.name, "BF16 needs an FP16 pack");
      for (SopCodebook& cb : view.codebooks) {
        for (uint32_t& code : cb.lut_codes) code = fp16_entry_as_bf16(code);
      }
      for (SopSparseEntry& s : view.sparse) s.entry = fp16_entry_as_bf16(s.entry);
    }
    const std::vector<float> q = dequantize_layer(view);
    const Tensor w = model->read(view.name);
    if (w.values.size() != q.size()) throw Error(pack_path, view.name, "shape differs from the checkpoint's");
    const ErrorMetrics m = compute_metrics(w.values, q, view.cols, {});
    double s = 0, e = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      const double d = static_cast<double>(w.values[i]) - q[i];
      s += static_cast<double>(w.values[i]) * w.values[i];
      e += d * d;
    }
    signal += s;
    noise += e;
    layer_db_sum += std::isfinite(m.sqnr_db) ? m.sqnr_db : 200.0;
    ++layers;
  }
  return {{"sqnr_db", noise > 0 ? 10 * std::log10(signal / noise) : 200.0},
          {"mean_layer_sqnr_db", layers ? layer_db_sum / layers : 0.0},
          {"layers", layers}};
}

class QuantCache {
 public:
  QuantCache(const SweepSpec& spec, std::string out_dir, std::function<void(const std::string&)> log)
      : spec_(spec), dir_((fs::path(out_dir) / "packs").string()), log_(std::move(log)) {}

  const QuantResult& get(const QuantKey& key, bool need_bf16_quality) {
    auto it = results_.find(key);
    if (it == results_.end()) it = results_.emplace(key, prepare(key)).first;
    QuantResult& r = it->second;
    if (need_bf16_quality && r.error.empty() && !r.quality.contains("bf16")) add_quality(key, r, true);
    return r;
  }

 private:
  QuantResult prepare(const QuantKey& key) {
    QuantResult r;
    try {
      const SweepModel& m = spec_.models.at(key.model);
      std::string pack = m.pack;
      if (pack.empty()) {
        fs::create_directories(dir_);
        pack = (fs::path(dir_) / (key.slug() + ".sop")).string();
        if (!fs::exists(pack)) quantize(key, m, pack);
      }
      r.workload = workload_from_pack(pack, m.name, m.repeat);
      pack_of_[key] = pack;
      add_quality(key, r, false);
    } catch (const std::exception& e) {
      r.error = e.what();
      if (log_) log_("  quantization " + key.slug() + " failed: " + r.error);
    }
    return r;
  }

  void quantize(const QuantKey& key, const SweepModel& m, const std::string& pack) {
    Recipe recipe = load_recipe(spec_.recipes.at(key.recipe));
    if (key.block > 0) {
      for (RecipeOption& o : recipe.options) o.block = key.block;
    }
    recipe.lut_format = key.lut_format == "fp16" ? "FP16" : "HIF";
    if (log_) log_("  quantizing " + m.model + " with " + key.recipe + " -> packs/" + key.slug() + ".sop");
    const auto model = open_model(m.model);
    // Write under a name of this process, then rename: shards running at once on a shared folder
    // never see a partial pack.
    const std::string temp = pack + ".q" + std::to_string(::getpid());
    QuantizeRequest request;
    request.model_path = m.model;
    request.out_path = temp;
    request.threads = 0;
    request.created_by = "sop sweep";
    quantize_model_to_pack(*model, recipe, request);
    fs::rename(temp, pack);
  }

  void add_quality(const QuantKey& key, QuantResult& r, bool bf16) {
    const SweepModel& m = spec_.models.at(key.model);
    const std::string field = bf16 ? "bf16" : key.lut_format;
    if (!m.quality || m.model.empty()) {
      r.quality[field] = nullptr;
      return;
    }
    const std::string pack = pack_of_.at(key);
    const std::string path = (fs::path(dir_) / (key.slug() + (bf16 ? ".bf16" : "") + ".quality.json")).string();
    nlohmann::json q;
    if (fs::exists(path)) {
      q = nlohmann::json::parse(read_output(path, "quality record"));
    } else {
      if (log_) log_("  measuring SQNR of packs/" + key.slug() + (bf16 ? " with BF16 tables" : ""));
      q = measure_quality(m.model, pack, bf16);
      fs::create_directories(dir_);
      write_file_atomically(path, [&](std::ostream& os) { os << q.dump(2) << "\n"; });
    }
    r.quality[field] = q;
  }

  const SweepSpec& spec_;
  std::string dir_;
  std::function<void(const std::string&)> log_;
  std::map<QuantKey, QuantResult> results_;
  std::map<QuantKey, std::string> pack_of_;
};

std::string point_file(const std::string& out_dir, int index) {
  char name[32];
  std::snprintf(name, sizeof name, "%06d.json", index);
  return (fs::path(out_dir) / "points" / name).string();
}

// The spec's record in OUT: a resumed or sharded run must be the same sweep.
nlohmann::json sweep_record(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  nlohmann::json keys = nlohmann::json::array();
  for (const SweepPoint& p : points) keys.push_back(p.key());
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& [name, values] : spec.axes) axes.push_back(name);
  return {{"name", spec.name}, {"description", spec.description}, {"sweep_file", spec.path}, {"text", spec.text},
          {"axes", axes}, {"points", keys}};
}

struct PointContext {
  const SweepSpec& spec;
  const hw::HwConfig& hw;
  const TechTable& tech;
};

QuantKey quant_key_of(const SweepSpec& spec, const hw::HwConfig& hw, const SweepPoint& p) {
  QuantKey k;
  k.model = p.axes.count("model") ? p.axes.at("model") : spec.models.begin()->first;
  const SweepModel& m = spec.models.at(k.model);
  const std::string hw_format = hw.decode_unit.lut.entry_format == golden::EntryFormat::Hif ? "hif" : "fp16";
  const std::string fmt = p.axes.count("entry_format") ? p.axes.at("entry_format") : hw_format;
  // A pack model keeps the tables it was made with.
  k.lut_format = !m.pack.empty() ? "" : fmt == "hif" ? "hif" : "fp16";
  if (m.pack.empty()) {
    k.recipe = p.axes.count("recipe") ? p.axes.at("recipe") : spec.recipes.begin()->first;
    if (p.axes.count("block")) k.block = std::stoi(p.axes.at("block"));
  }
  return k;
}

nlohmann::json run_point(const PointContext& ctx, const SweepPoint& p, const QuantResult& q, const QuantKey& key) {
  nlohmann::json j = {{"index", p.index}, {"key", p.key()}, {"axes", p.axes}};
  j["model"] = key.model;
  j["recipe"] = key.recipe;
  try {
    if (!q.error.empty()) throw std::runtime_error("quantization failed: " + q.error);
    Design d = design_from_hw(ctx.hw, 0);
    if (p.axes.count("lanes")) d.lanes = std::stoi(p.axes.at("lanes"));
    if (p.axes.count("clock_mhz")) d.clock_mhz = std::stod(p.axes.at("clock_mhz"));
    if (p.axes.count("dram_gb_s")) d.dram_gb_s = std::stod(p.axes.at("dram_gb_s"));
    else if (ctx.spec.dram_bandwidth_gb_s > 0) d.dram_gb_s = ctx.spec.dram_bandwidth_gb_s;
    if (ctx.spec.dram_latency_ns > 0) d.dram_latency_ns = ctx.spec.dram_latency_ns;
    if (p.axes.count("entry_format")) d.entry_format = parse_entry_format(p.axes.at("entry_format"));
    d.lut_sram_bytes = p.axes.count("lut_sram_bytes") ? std::stoll(p.axes.at("lut_sram_bytes"))
                                                      : (ctx.hw.decode_unit.lut.resident_layers * d.pair_bits() + 7) / 8;
    const ActionCounts counts = count_actions(q.workload, d);
    const Estimate e = estimate(counts, d, ctx.tech);
    const std::string fmt = entry_format_info(d.entry_format).name;
    nlohmann::json quality = {{"bpw", counts.dram_weight_bits / std::max(1.0, counts.decoded_weights)}};
    const std::string qfield = fmt == "bf16" ? "bf16" : (key.lut_format.empty() ? q.workload.pack_entry_format : key.lut_format);
    if (q.quality.contains(qfield) && q.quality[qfield].is_object()) {
      quality["sqnr_db"] = q.quality[qfield]["sqnr_db"];
      quality["mean_layer_sqnr_db"] = q.quality[qfield]["mean_layer_sqnr_db"];
    }
    j["status"] = "ok";
    j["weights"] = q.workload.weights();
    j["layers"] = q.workload.layers.size();
    j["quality"] = quality;
    j["design"] = design_to_json(d);
    j["estimate"] = estimate_to_json(e);
  } catch (const std::exception& e) {
    j["status"] = "failed";
    j["error"] = e.what();
  }
  return j;
}

// CSV: one row per point, fixed columns first, then every energy and area component.
std::string csv_field(const nlohmann::json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v.get<double>());
    s = buf;
  } else s = v.dump();
  if (s.find_first_of(",\"\n") != std::string::npos) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  }
  return s;
}

std::string results_csv(const std::vector<nlohmann::json>& rows) {
  std::vector<std::string> energy_keys, area_keys;
  for (const auto& r : rows) {
    if (r.value("status", "") != "ok") continue;
    for (const auto& [k, v] : r["estimate"]["energy_pj_per_token"].items()) {
      if (std::find(energy_keys.begin(), energy_keys.end(), k) == energy_keys.end()) energy_keys.push_back(k);
    }
    for (const auto& [k, v] : r["estimate"]["area_um2"].items()) {
      if (std::find(area_keys.begin(), area_keys.end(), k) == area_keys.end()) area_keys.push_back(k);
    }
  }
  std::ostringstream out;
  out << "index,status,model,recipe,block,entry_format,lanes,lut_sram_bytes,resident_slots,table_pairs,lut_storage,"
         "bpw,sqnr_db,tokens_per_s,energy_per_token_pj,pj_per_weight,pj_per_weight_on_chip,area_mm2,"
         "relative_die_cost,power_mw,lut_reloads,reload_stall_cycles";
  for (const auto& k : energy_keys) out << ",energy_pj." << k;
  for (const auto& k : area_keys) out << ",area_um2." << k;
  out << ",error\n";
  for (const auto& r : rows) {
    const bool ok = r.value("status", "") == "ok";
    const nlohmann::json none;
    const auto& axes = r["axes"];
    out << r["index"].get<int>() << "," << csv_field(r["status"]) << "," << csv_field(r["model"]) << ","
        << csv_field(r["recipe"]) << "," << csv_field(axes.contains("block") ? axes["block"] : none);
    if (ok) {
      const auto& d = r["design"];
      const auto& e = r["estimate"];
      const auto& c = e["counts_per_token"];
      out << "," << csv_field(d["entry_format"]) << "," << csv_field(d["lanes"]) << "," << csv_field(d["lut_sram_bytes"])
          << "," << csv_field(c["resident_slots"]) << "," << csv_field(c["table_pairs"]) << ","
          << csv_field(e["lut_storage"]) << "," << csv_field(r["quality"]["bpw"]) << ","
          << csv_field(r["quality"].contains("sqnr_db") ? r["quality"]["sqnr_db"] : none);
      for (const char* k : {"tokens_per_s", "energy_per_token_pj", "pj_per_weight", "pj_per_weight_on_chip", "area_mm2",
                            "relative_die_cost", "power_mw"}) {
        out << "," << csv_field(e[k]);
      }
      out << "," << csv_field(c["lut_reloads"]) << "," << csv_field(c["reload_stall_cycles"]);
      for (const auto& k : energy_keys) out << "," << csv_field(e["energy_pj_per_token"].value(k, nlohmann::json()));
      for (const auto& k : area_keys) out << "," << csv_field(e["area_um2"].value(k, nlohmann::json()));
      out << ",\n";
    } else {
      out << "," << csv_field(axes.contains("entry_format") ? axes["entry_format"] : none) << ","
          << csv_field(axes.contains("lanes") ? axes["lanes"] : none) << ","
          << csv_field(axes.contains("lut_sram_bytes") ? axes["lut_sram_bytes"] : none);
      for (int i = 0; i < 14 + static_cast<int>(energy_keys.size() + area_keys.size()); ++i) out << ",";
      out << "," << csv_field(r["error"]) << "\n";
    }
  }
  return out.str();
}

}  // namespace

std::string SweepPoint::key() const {
  std::string s;
  for (const auto& [k, v] : axes) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

const std::vector<std::string>& sweep_axis_names() {
  static const std::vector<std::string> names = {"lut_sram_bytes", "lanes", "entry_format", "block",
                                                 "recipe", "model", "clock_mhz", "dram_gb_s"};
  return names;
}

std::vector<SweepPoint> SweepSpec::points() const {
  std::vector<SweepPoint> out;
  if (axes.empty()) {
    out.push_back(SweepPoint{});
    return out;
  }
  if (combine == "zip") {
    const std::size_t n = axes.front().second.size();
    for (std::size_t i = 0; i < n; ++i) {
      SweepPoint p;
      p.index = static_cast<int>(i);
      for (const auto& [axis, values] : axes) p.axes[axis] = values[i];
      out.push_back(p);
    }
    return out;
  }
  // Grid: the last axis varies fastest.
  std::vector<std::size_t> at(axes.size(), 0);
  for (int index = 0;; ++index) {
    SweepPoint p;
    p.index = index;
    for (std::size_t a = 0; a < axes.size(); ++a) p.axes[axes[a].first] = axes[a].second[at[a]];
    out.push_back(p);
    std::size_t a = axes.size();
    while (a > 0) {
      --a;
      if (++at[a] < axes[a].second.size()) break;
      at[a] = 0;
      if (a == 0) return out;
    }
  }
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
  const auto& allowed = sweep_axis_names();
  for (const std::string& name : r.keys(axes, "axes")) {
    const YAML::Node list = axes[name];
    const std::string p = "axes." + name;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      r.fail(p, list, "unknown axis (axes: " + names + ")");
    }
    if (!list.IsSequence()) r.fail(p, list, "expected a list of values");
    if (list.size() == 0) r.fail(p, list, "empty axis: give at least one value");
    std::vector<std::string> values;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const YAML::Node v = list[i];
      const std::string pi = p + "[" + std::to_string(i) + "]";
      if (!v.IsScalar()) r.fail(pi, v, "expected a single value");
      std::string text = v.Scalar();
      if (name == "lut_sram_bytes" && !is_integer_text(text, 1, 1LL << 40)) r.fail(pi, v, "expected a size in bytes >= 1, got '" + text + "'");
      if (name == "lanes" && !is_integer_text(text, 1, 4096)) r.fail(pi, v, "expected a lane count in [1, 4096], got '" + text + "'");
      if (name == "block" && !is_integer_text(text, RecipeLimits::kMinBlock, RecipeLimits::kMaxBlock)) {
        r.fail(pi, v, "expected a block size in [" + std::to_string(RecipeLimits::kMinBlock) + ", " +
                       std::to_string(RecipeLimits::kMaxBlock) + "], got '" + text + "'");
      }
      if (name == "entry_format") {
        try {
          text = entry_format_info(parse_entry_format(text)).name;
        } catch (const std::invalid_argument& e) {
          r.fail(pi, v, e.what());
        }
      }
      if ((name == "clock_mhz" || name == "dram_gb_s") && !(number_value(r, v, pi) > 0)) r.fail(pi, v, "must be > 0");
      if (name == "model" && s.models.count(text) == 0) r.fail(pi, v, "no model named '" + text + "' under models:");
      if (name == "recipe" && s.recipes.count(text) == 0) r.fail(pi, v, "no recipe named '" + text + "' under recipes:");
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

SweepRunSummary run_sweep(const SweepSpec& spec, const SweepRunOptions& options) {
  if (options.out_dir.empty()) throw Error(spec.path, "", "no output directory");
  std::mutex log_mutex;
  const auto log = [&](const std::string& line) {
    if (!options.log) return;
    std::lock_guard<std::mutex> lock(log_mutex);
    options.log(line);
  };
  const std::vector<SweepPoint> points = spec.points();
  const TechTable tech = load_tech_table(spec.tech);
  const hw::HwConfig hw = hw::load_hw_config(spec.hw);
  fs::create_directories(fs::path(options.out_dir) / "points");

  // The sweep's record: created once, and a rerun into the same folder must be the same sweep.
  const nlohmann::json record = sweep_record(spec, points);
  const std::string record_path = (fs::path(options.out_dir) / "sweep.json").string();
  if (fs::exists(record_path)) {
    const nlohmann::json old = nlohmann::json::parse(read_output(record_path, "sweep record"));
    if (old.value("points", nlohmann::json()) != record["points"]) {
      throw Error(options.out_dir, "sweep.json",
                  "this folder holds results of a different sweep (its points differ): use another --out");
    }
  } else {
    write_file_atomically(record_path, [&](std::ostream& os) { os << record.dump(2) << "\n"; });
  }

  SweepRunSummary summary;
  summary.total = static_cast<int>(points.size());
  std::vector<const SweepPoint*> todo;
  for (const SweepPoint& p : points) {
    if (!options.shard.contains(p.index)) continue;
    ++summary.in_shard;
    const std::string file = point_file(options.out_dir, p.index);
    if (fs::exists(file)) {
      bool keep = true;
      try {
        const nlohmann::json old = nlohmann::json::parse(read_output(file, "point file"));
        keep = old.value("key", "") == p.key() && (old.value("status", "") == "ok" || !options.retry_failed);
      } catch (const std::exception&) {
        keep = false;  // unreadable: run it again
      }
      if (keep) {
        ++summary.skipped;
        continue;
      }
    }
    todo.push_back(&p);
  }
  log("sweep " + spec.name + ": " + std::to_string(summary.total) + " points, " + std::to_string(summary.in_shard) +
      " in this shard, " + std::to_string(summary.skipped) + " already finished");

  // Quantization first, in the calling thread (the quantizer uses every core itself); points then
  // run on worker threads and only read the cache.
  QuantCache cache(spec, options.out_dir, log);
  std::vector<QuantKey> keys(todo.size());
  std::vector<const QuantResult*> quant(todo.size());
  for (std::size_t i = 0; i < todo.size(); ++i) {
    keys[i] = quant_key_of(spec, hw, *todo[i]);
    const bool bf16 = todo[i]->axes.count("entry_format") && todo[i]->axes.at("entry_format") == "bf16";
    quant[i] = &cache.get(keys[i], bf16);
  }
  if (options.prepare_only) return summary;
  const PointContext ctx{spec, hw, tech};
  std::atomic<std::size_t> next{0};
  std::atomic<int> failed{0}, done{0};
  const int workers = std::max(1, std::min<int>(resolve_threads(options.jobs), static_cast<int>(todo.size())));
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < todo.size(); i = next++) {
        const SweepPoint& p = *todo[i];
        nlohmann::json j = run_point(ctx, p, *quant[i], keys[i]);
        const bool ok = j["status"] == "ok";
        try {
          write_file_atomically(point_file(options.out_dir, p.index), [&](std::ostream& os) { os << j.dump(1) << "\n"; });
        } catch (const std::exception& e) {
          log("  point " + std::to_string(p.index) + ": cannot write its result: " + e.what());
          ++failed;
          continue;
        }
        if (!ok) ++failed;
        const int n = ++done;
        log("  [" + std::to_string(n) + "/" + std::to_string(todo.size()) + "] point " + std::to_string(p.index) + " " +
            p.key() + (ok ? "" : "  FAILED: " + j.value("error", std::string())));
      }
    });
  }
  for (auto& th : pool) th.join();
  summary.ran = done;
  summary.failed = failed;

  summary.complete = true;
  for (const SweepPoint& p : points) {
    if (!fs::exists(point_file(options.out_dir, p.index))) {
      summary.complete = false;
      break;
    }
  }
  if (summary.complete && options.write_results) merge_sweep({options.out_dir}, options.out_dir);
  return summary;
}

int merge_sweep(const std::vector<std::string>& dirs, const std::string& out_dir, bool allow_partial) {
  if (dirs.empty()) throw Error("", "", "no sweep directories to merge");
  const std::string record_path = (fs::path(dirs.front()) / "sweep.json").string();
  if (!fs::exists(record_path)) throw Error(dirs.front(), "sweep.json", "missing: not a sweep output folder");
  const nlohmann::json record = nlohmann::json::parse(read_output(record_path, "sweep record"));
  const auto& keys = record["points"];
  std::vector<nlohmann::json> rows(keys.size());
  std::vector<bool> have(keys.size(), false);
  for (const std::string& dir : dirs) {
    const std::string other = (fs::path(dir) / "sweep.json").string();
    if (dir != dirs.front()) {
      if (!fs::exists(other)) throw Error(dir, "sweep.json", "missing: not a sweep output folder");
      if (nlohmann::json::parse(read_output(other, "sweep record"))["points"] != keys) throw Error(dir, "sweep.json", "a different sweep than " + dirs.front());
    }
    const fs::path pdir = fs::path(dir) / "points";
    if (!fs::exists(pdir)) continue;
    for (const auto& entry : fs::directory_iterator(pdir)) {
      if (entry.path().extension() != ".json") continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(read_output(entry.path().string(), "point file"));
      } catch (const std::exception& e) {
        throw Error(entry.path().string(), "", std::string("unreadable point file: ") + e.what());
      }
      const int index = j.value("index", -1);
      if (index < 0 || index >= static_cast<int>(keys.size()) || j.value("key", "") != keys[index]) {
        throw Error(entry.path().string(), "", "does not belong to this sweep");
      }
      // A finished point wins over a failed record of the same point from another shard folder.
      if (!have[index] || (rows[index].value("status", "") != "ok" && j.value("status", "") == "ok")) {
        rows[index] = j;
        have[index] = true;
      }
    }
  }
  std::vector<nlohmann::json> present;
  int missing = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (have[i]) present.push_back(rows[i]);
    else ++missing;
  }
  if (missing > 0 && !allow_partial) {
    throw Error(dirs.front(), "", std::to_string(missing) + " of " + std::to_string(rows.size()) +
                                      " points have no result yet (run the missing shards, or merge with --allow-partial)");
  }
  fs::create_directories(out_dir);
  nlohmann::json all = {{"sweep", record["name"]}, {"description", record["description"]}, {"axes", record["axes"]},
                        {"total_points", rows.size()}, {"points", present}};
  write_file_atomically((fs::path(out_dir) / "results.json").string(), [&](std::ostream& os) { os << all.dump(1) << "\n"; });
  write_file_atomically((fs::path(out_dir) / "results.csv").string(), [&](std::ostream& os) { os << results_csv(present); });
  if (fs::absolute(out_dir) != fs::absolute(dirs.front())) {
    write_file_atomically((fs::path(out_dir) / "sweep.json").string(), [&](std::ostream& os) { os << record.dump(2) << "\n"; });
  }
  return static_cast<int>(present.size());
}

nlohmann::json read_results(const std::string& dir) {
  const std::string path = (fs::path(dir) / "results.json").string();
  if (!fs::exists(path)) throw Error(dir, "results.json", "missing: run `sop sweep` (or `sop sweep merge`) first");
  return nlohmann::json::parse(read_output(path, "results file"));
}

}  // namespace sop::sim
