#include "sim/sweep_results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/text_file.h"
#include "quantizer/io/untrusted_json.h"

namespace sop::sim {
namespace fs = std::filesystem;
namespace {

// The sweep file is a config (read_text_file's default bound); the JSON files the sweep writes itself
// grow with the number of points (results.json holds every point's record), so they get a wider bound.
constexpr uint64_t kSweepOutputMaxBytes = uint64_t{1} << 30;

std::optional<double> optional_number(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

// ---- CSV: one row per point, fixed columns first, then every energy and area component ----------

std::string csv_text(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Nine significant digits; empty for a number JSON cannot hold (it is written as null).
std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string csv_optional(const std::optional<double>& v) { return v ? csv_number(*v) : ""; }

std::string csv_axis(const PointRecord& r, const char* axis) {
  const auto it = r.axes.find(axis);
  return it == r.axes.end() ? "" : csv_text(it->second);
}

// The components of a breakdown in first-seen order over the finished points.
std::vector<std::string> component_names(const std::vector<PointRecord>& rows, Breakdown Estimate::*breakdown) {
  std::vector<std::string> names;
  for (const PointRecord& r : rows) {
    if (!r.ok()) continue;
    for (const auto& [k, v] : r.estimate.*breakdown) {
      if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
    }
  }
  return names;
}

std::string csv_component(const Breakdown& b, const std::string& name) {
  for (const auto& [k, v] : b) {
    if (k == name) return csv_number(v);
  }
  return "";
}

std::string results_csv(const std::vector<PointRecord>& rows) {
  const std::vector<std::string> energy_keys = component_names(rows, &Estimate::energy_pj);
  const std::vector<std::string> area_keys = component_names(rows, &Estimate::area_um2);
  std::ostringstream out;
  out << "index,status,counts,model,recipe,block,entry_format,lanes,lut_sram_bytes,resident_slots,table_pairs,lut_storage,"
         "bpw,sqnr_db,tokens_per_s,energy_per_token_pj,pj_per_weight,pj_per_weight_on_chip,area_mm2,"
         "relative_die_cost,power_mw,lut_reloads,reload_stall_cycles";
  for (const auto& k : energy_keys) out << ",energy_pj." << k;
  for (const auto& k : area_keys) out << ",area_um2." << k;
  out << ",error\n";
  for (const PointRecord& r : rows) {
    out << r.index << "," << csv_text(r.status) << "," << csv_text(r.counts) << "," << csv_text(r.model) << "," << csv_text(r.recipe) << ","
        << csv_axis(r, "block");
    if (r.ok()) {
      const Design& d = r.design;
      const Estimate& e = r.estimate;
      const ActionCounts& c = e.counts;
      out << "," << entry_format_info(d.entry_format).name << "," << d.lanes << "," << d.lut_sram_bytes << ","
          << c.resident_slots << "," << c.table_pairs << "," << csv_text(e.storage_kind) << ","
          << csv_number(r.quality.bpw) << "," << csv_optional(r.quality.sqnr_db);
      for (double v : {e.tokens_per_s, e.energy_per_token_pj, e.pj_per_weight, e.pj_per_weight_on_chip, e.area_mm2,
                       e.relative_die_cost, e.power_mw, c.lut_reloads, c.reload_stall_cycles}) {
        out << "," << csv_number(v);
      }
      for (const auto& k : energy_keys) out << "," << csv_component(e.energy_pj, k);
      for (const auto& k : area_keys) out << "," << csv_component(e.area_um2, k);
      out << ",\n";
    } else {
      out << "," << csv_axis(r, "entry_format") << "," << csv_axis(r, "lanes") << "," << csv_axis(r, "lut_sram_bytes");
      for (int i = 0; i < 14 + static_cast<int>(energy_keys.size() + area_keys.size()); ++i) out << ",";
      out << "," << csv_text(r.error) << "\n";
    }
  }
  return out.str();
}

nlohmann::json results_to_json(const SweepResults& r) {
  nlohmann::json points = nlohmann::json::array();
  for (const PointRecord& p : r.points) points.push_back(point_to_json(p));
  nlohmann::json j = {{"sweep", r.sweep}, {"description", r.description}, {"counts", r.counts}, {"axes", r.axes},
                      {"total_points", r.total_points}};
  const CountsCheckSummary check = summarize_counts_checks(r.points);
  if (check.checked > 0) {
    j["counts_check"] = {{"checked_points", check.checked},
                         {"refused_by_systemc", check.refused},
                         {"max_abs_tokens_per_s_error", check.max_abs_tokens_per_s_error},
                         {"mean_abs_tokens_per_s_error", check.mean_abs_tokens_per_s_error},
                         {"points", check.lines}};
  }
  j["points"] = points;
  return j;
}

SweepResults results_from_json(const nlohmann::json& j) {
  SweepResults r;
  r.sweep = j.value("sweep", std::string("sweep"));
  r.description = j.value("description", std::string());
  r.counts = j.value("counts", std::string("analytic"));
  r.axes = j.at("axes").get<std::vector<std::string>>();
  r.total_points = j.value("total_points", 0);
  for (const auto& p : j.at("points")) r.points.push_back(point_from_json(p));
  return r;
}

}  // namespace

CountsError counts_error(const PointRecord& p) {
  const auto relative = [](double estimate, double simulated) {
    return simulated != 0 ? (estimate - simulated) / simulated : 0.0;
  };
  const CountsCheck& c = *p.check;
  return {relative(p.estimate.tokens_per_s, c.simulated_tokens_per_s), relative(p.estimate.counts.cycles, c.simulated_cycles),
          relative(p.estimate.energy_per_token_pj, c.simulated_energy_per_token_pj)};
}

CountsCheckSummary summarize_counts_checks(const std::vector<PointRecord>& points) {
  CountsCheckSummary s;
  double sum = 0;
  for (const PointRecord& p : points) {
    if (!p.check) continue;
    ++s.checked;
    const std::string head = "point " + std::to_string(p.index) + " (" + p.key + "): ";
    if (!p.check->error.empty()) {
      ++s.refused;
      s.lines.push_back(head + "the SystemC model refuses the design: " + p.check->error);
      continue;
    }
    const CountsError e = counts_error(p);
    sum += std::fabs(e.tokens_per_s);
    s.max_abs_tokens_per_s_error = std::max(s.max_abs_tokens_per_s_error, std::fabs(e.tokens_per_s));
    char line[256];
    std::snprintf(line, sizeof line, "tokens/s analytic %.6g, SystemC %.6g (%+.2f %%); cycles %+.2f %%; energy/token %+.2f %%",
                  p.estimate.tokens_per_s, p.check->simulated_tokens_per_s, 100 * e.tokens_per_s, 100 * e.cycles,
                  100 * e.energy_per_token);
    s.lines.push_back(head + line);
  }
  const int simulated = s.checked - s.refused;
  s.mean_abs_tokens_per_s_error = simulated > 0 ? sum / simulated : 0;
  return s;
}

nlohmann::json point_to_json(const PointRecord& p) {
  nlohmann::json j = {{"index", p.index}, {"key", p.key},       {"axes", p.axes},    {"model", p.model},
                      {"recipe", p.recipe}, {"status", p.status}, {"counts", p.counts}};
  if (!p.ok()) {
    j["error"] = p.error;
    return j;
  }
  if (p.check) {
    if (!p.check->error.empty()) {
      j["check"] = {{"refused", p.check->error}};
    } else {
      const CountsError e = counts_error(p);
      j["check"] = {{"simulated", {{"cycles", p.check->simulated_cycles},
                                   {"tokens_per_s", p.check->simulated_tokens_per_s},
                                   {"energy_per_token_pj", p.check->simulated_energy_per_token_pj}}},
                    {"relative_error",
                     {{"tokens_per_s", e.tokens_per_s}, {"cycles", e.cycles}, {"energy_per_token", e.energy_per_token}}}};
    }
  }
  nlohmann::json quality = {{"bpw", p.quality.bpw}};
  if (p.quality.sqnr_db) quality["sqnr_db"] = *p.quality.sqnr_db;
  if (p.quality.mean_layer_sqnr_db) quality["mean_layer_sqnr_db"] = *p.quality.mean_layer_sqnr_db;
  j["weights"] = p.weights;
  j["layers"] = p.layers;
  j["quality"] = quality;
  j["design"] = design_to_json(p.design);
  j["estimate"] = estimate_to_json(p.estimate);
  return j;
}

PointRecord point_from_json(const nlohmann::json& j) {
  PointRecord p;
  p.index = j.at("index").get<int>();
  p.key = j.at("key").get<std::string>();
  p.axes = j.at("axes").get<std::map<std::string, std::string>>();
  p.model = j.at("model").get<std::string>();
  p.recipe = j.at("recipe").get<std::string>();
  p.status = j.at("status").get<std::string>();
  p.counts = j.value("counts", std::string("analytic"));
  if (!p.ok()) {
    p.error = j.value("error", std::string());
    return p;
  }
  p.weights = j.at("weights").get<int64_t>();
  p.layers = j.at("layers").get<int64_t>();
  const nlohmann::json& q = j.at("quality");
  p.quality.bpw = q.at("bpw").get<double>();
  p.quality.sqnr_db = optional_number(q, "sqnr_db");
  p.quality.mean_layer_sqnr_db = optional_number(q, "mean_layer_sqnr_db");
  p.design = design_from_json(j.at("design"));
  p.estimate = estimate_from_json(j.at("estimate"));
  if (j.contains("check")) {
    const nlohmann::json& c = j.at("check");
    CountsCheck check;
    if (c.contains("refused")) {
      check.error = c.at("refused").get<std::string>();
    } else {
      const nlohmann::json& sim = c.at("simulated");
      check.simulated_cycles = sim.at("cycles").get<double>();
      check.simulated_tokens_per_s = sim.at("tokens_per_s").get<double>();
      check.simulated_energy_per_token_pj = sim.at("energy_per_token_pj").get<double>();
    }
    p.check = check;
  }
  return p;
}

std::string point_file(const std::string& out_dir, int index) {
  char name[32];
  std::snprintf(name, sizeof name, "%06d.json", index);
  return (fs::path(out_dir) / "points" / name).string();
}

nlohmann::json read_sweep_output(const std::string& path, const char* what) {
  return parse_untrusted_json(read_text_file(path, what, kSweepOutputMaxBytes), path, "", what);
}

nlohmann::json read_sweep_record(const std::string& path) {
  nlohmann::json j = read_sweep_output(path, "sweep record");
  const auto is_string = [&](const char* key) { return j.contains(key) && j.at(key).is_string(); };
  if (!j.is_object() || !j.contains("points") || !j.at("points").is_array() || !is_string("name") ||
      !is_string("description") || !j.contains("axes") || !j.at("axes").is_array()) {
    throw Error(path, "", "not a sweep record: expected an object with \"name\", \"description\", \"axes\" and \"points\"");
  }
  if (j.contains("counts") && !(is_string("counts") && (j.at("counts") == "simulate" || j.at("counts") == "analytic"))) {
    throw Error(path, "counts", "expected \"simulate\" or \"analytic\"");
  }
  return j;
}

std::string record_counts(const nlohmann::json& record) { return record.value("counts", std::string("analytic")); }

int merge_sweep(const std::vector<std::string>& dirs, const std::string& out_dir, bool allow_partial) {
  if (dirs.empty()) throw Error("", "", "no sweep directories to merge");
  const std::string record_path = (fs::path(dirs.front()) / "sweep.json").string();
  if (!fs::exists(record_path)) throw Error(dirs.front(), "sweep.json", "missing: not a sweep output folder");
  const nlohmann::json record = read_sweep_record(record_path);
  const auto& keys = record.at("points");
  std::vector<PointRecord> rows(keys.size());
  std::vector<bool> have(keys.size(), false);
  for (const std::string& dir : dirs) {
    const std::string other = (fs::path(dir) / "sweep.json").string();
    if (dir != dirs.front()) {
      if (!fs::exists(other)) throw Error(dir, "sweep.json", "missing: not a sweep output folder");
      const nlohmann::json theirs = read_sweep_record(other);
      if (theirs.at("points") != keys) throw Error(dir, "sweep.json", "a different sweep than " + dirs.front());
      if (record_counts(theirs) != record_counts(record)) {
        throw Error(dir, "sweep.json", "counts from " + record_counts(theirs) + ", " + dirs.front() + " from " + record_counts(record));
      }
    }
    const fs::path pdir = fs::path(dir) / "points";
    if (!fs::exists(pdir)) continue;
    for (const auto& entry : fs::directory_iterator(pdir)) {
      if (entry.path().extension() != ".json") continue;
      const std::string path = entry.path().string();
      const nlohmann::json j = read_sweep_output(path, "point file");
      if (!j.is_object()) throw Error(path, "", "not a point record: expected an object");
      const int index = j.value("index", -1);
      if (index < 0 || index >= static_cast<int>(keys.size()) || j.value("key", "") != keys[index]) {
        throw Error(path, "", "does not belong to this sweep");
      }
      PointRecord p;
      try {
        p = point_from_json(j);
      } catch (const std::exception& e) {
        throw Error(path, "", std::string("unreadable point file: ") + e.what());
      }
      // A finished point wins over a failed record of the same point from another shard folder.
      if (!have[index] || (!rows[index].ok() && p.ok())) {
        rows[index] = p;
        have[index] = true;
      }
    }
  }
  SweepResults all;
  all.sweep = record.at("name").get<std::string>();
  all.description = record.at("description").get<std::string>();
  all.counts = record_counts(record);
  try {
    all.axes = record.at("axes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(record_path, "axes", std::string("not a list of axis names: ") + quoted_excerpt(e.what()));
  }
  all.total_points = static_cast<int>(rows.size());
  int missing = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (have[i]) all.points.push_back(rows[i]);
    else ++missing;
  }
  if (missing > 0 && !allow_partial) {
    throw Error(dirs.front(), "", std::to_string(missing) + " of " + std::to_string(rows.size()) +
                                      " points have no result yet (run the missing shards, or merge with --allow-partial)");
  }
  fs::create_directories(out_dir);
  write_file_atomically((fs::path(out_dir) / "results.json").string(),
                        [&](std::ostream& os) { os << results_to_json(all).dump(1) << "\n"; });
  write_file_atomically((fs::path(out_dir) / "results.csv").string(), [&](std::ostream& os) { os << results_csv(all.points); });
  if (fs::absolute(out_dir) != fs::absolute(dirs.front())) {
    write_file_atomically((fs::path(out_dir) / "sweep.json").string(), [&](std::ostream& os) { os << record.dump(2) << "\n"; });
  }
  return static_cast<int>(all.points.size());
}

SweepResults read_results(const std::string& dir) {
  const std::string path = (fs::path(dir) / "results.json").string();
  if (!fs::exists(path)) throw Error(dir, "results.json", "missing: run `sop sweep` (or `sop sweep merge`) first");
  const nlohmann::json j = read_sweep_output(path, "results file");
  try {
    return results_from_json(j);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, "", std::string("unreadable results file: ") + e.what());
  }
}

}  // namespace sop::sim
