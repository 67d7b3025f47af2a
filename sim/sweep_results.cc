#include "sim/sweep_results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/text_file.h"
#include "quantizer/io/untrusted_json.h"
#include "sim/sweep_spec.h"

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

// ---- Fields of records read back from files (point files, results.json) ---------------------------
// These files may come from another machine or a hand edit: nlohmann's get<std::string>() and value()
// throw a type_error that names neither the file nor the field, and get<int>() on a float such as 1e300
// is a float-to-int overflow (undefined behaviour). So every field is checked before conversion.

std::string field_name(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

const nlohmann::json& member(const nlohmann::json& j, const char* key, const std::string& file, const std::string& prefix) {
  if (!j.contains(key)) throw Error(file, field_name(prefix, key), "missing");
  return j.at(key);
}

std::string string_value(const nlohmann::json& v, const std::string& file, const std::string& field) {
  if (!v.is_string()) throw Error(file, field, "must be a string, not " + json_excerpt(v));
  return v.get<std::string>();
}

std::string string_at(const nlohmann::json& j, const char* key, const std::string& file, const std::string& prefix) {
  return string_value(member(j, key, file, prefix), file, field_name(prefix, key));
}

// An optional string field: `fallback` when absent (older records), refused when of another type.
std::string string_or(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& file,
                      const std::string& prefix) {
  return j.contains(key) ? string_at(j, key, file, prefix) : fallback;
}

int64_t integer_at(const nlohmann::json& j, const char* key, int64_t min, int64_t max, const std::string& file,
                   const std::string& prefix) {
  return json_integer(member(j, key, file, prefix), min, max, file, field_name(prefix, key));
}

double number_value(const nlohmann::json& v, const std::string& file, const std::string& field) {
  if (!v.is_number()) throw Error(file, field, "must be a number, not " + json_excerpt(v));
  return v.get<double>();
}

const nlohmann::json& object_at(const nlohmann::json& j, const char* key, const std::string& file, const std::string& prefix) {
  const nlohmann::json& v = member(j, key, file, prefix);
  if (!v.is_object()) throw Error(file, field_name(prefix, key), "must be an object, not " + json_excerpt(v));
  return v;
}

// design_from_json and estimate_from_json (sim/estimate.cc) convert their integer fields with get<int>().
// Which fields those are is read off the writer's own output for a default value (`written`), so a
// field added to the writer is checked here too: in `record` each must hold a JSON integer (a float
// such as 1e300 would overflow the conversion). Nested objects of the writer's output are walked too.
void check_integer_fields(const nlohmann::json& record, const nlohmann::json& written, const std::string& file,
                          const std::string& prefix) {
  if (!record.is_object()) throw Error(file, prefix, "must be an object, not " + json_excerpt(record));
  for (const auto& [key, value] : written.items()) {
    if (!record.contains(key)) continue;  // the reader says whether it may be absent
    const std::string field = field_name(prefix, key);
    if (value.is_number_integer()) {
      (void)json_integer(record.at(key), std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), file,
                         field);
    } else if (value.is_object()) {
      check_integer_fields(record.at(key), value, file, field);
    }
  }
}

// After conversion: an integer beyond int's range must read back unchanged, since an int field of the
// C++ record would have wrapped it (a value within int's range never wraps, and derived fields such as
// pair_bits are not compared).
void check_no_wrap(const nlohmann::json& record, const nlohmann::json& again, const std::string& file,
                   const std::string& prefix) {
  for (const auto& [key, value] : again.items()) {
    if (!record.contains(key)) continue;
    const std::string field = field_name(prefix, key);
    const nlohmann::json& given = record.at(key);
    if (value.is_object() && given.is_object()) {
      check_no_wrap(given, value, file, field);
    } else if (value.is_number_integer() && given.is_number_integer() && given != value) {
      const bool beyond_int = given.is_number_unsigned()
                                  ? given.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max())
                                  : given.get<int64_t>() > std::numeric_limits<int>::max() ||
                                        given.get<int64_t>() < std::numeric_limits<int>::min();
      if (beyond_int) {
        throw Error(file, field,
                    "must be an integer in [" + std::to_string(std::numeric_limits<int>::min()) + ", " +
                        std::to_string(std::numeric_limits<int>::max()) + "], not " + json_excerpt(given));
      }
    }
  }
}

// The estimator's reader on a checked record; its own refusals (a key missing, an unknown entry
// format) get the file and field.
template <class T>
T checked_record(const nlohmann::json& j, T (*from_json)(const nlohmann::json&), nlohmann::json (*to_json)(const T&),
                 const std::string& file, const std::string& field) {
  check_integer_fields(j, to_json(T{}), file, field);
  T value;
  try {
    value = from_json(j);
  } catch (const std::exception& e) {
    throw Error(file, field, std::string("unreadable point record: ") + quoted_excerpt(e.what()));
  }
  check_no_wrap(j, to_json(value), file, field);
  return value;
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

SweepResults results_from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw Error(file, "", "not a results file: expected an object, not " + json_excerpt(j));
  SweepResults r;
  r.sweep = string_or(j, "sweep", "sweep", file, "");
  r.description = string_or(j, "description", "", file, "");
  r.counts = string_or(j, "counts", "analytic", file, "");
  const nlohmann::json& axes = member(j, "axes", file, "");
  if (!axes.is_array()) throw Error(file, "axes", "must be a list of axis names, not " + json_excerpt(axes));
  for (std::size_t i = 0; i < axes.size(); ++i) r.axes.push_back(string_value(axes[i], file, "axes[" + std::to_string(i) + "]"));
  r.total_points = j.contains("total_points")
                       ? static_cast<int>(integer_at(j, "total_points", 0, static_cast<int64_t>(kMaxSweepPoints), file, ""))
                       : 0;
  const nlohmann::json& points = member(j, "points", file, "");
  if (!points.is_array()) throw Error(file, "points", "must be a list of point records, not " + json_excerpt(points));
  for (std::size_t i = 0; i < points.size(); ++i) {
    r.points.push_back(point_from_json(points[i], file, "points[" + std::to_string(i) + "]"));
  }
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

PointRecord point_from_json(const nlohmann::json& j, const std::string& file, const std::string& field) {
  if (!j.is_object()) throw Error(file, field, "not a point record: expected an object, not " + json_excerpt(j));
  // Everything below converts only after checking the type; what is left to nlohmann (a number of
  // the wrong type inside a breakdown, say) and the estimator's own refusals are wrapped with the file.
  try {
    PointRecord p;
    p.index = static_cast<int>(integer_at(j, "index", 0, std::numeric_limits<int>::max(), file, field));
    p.key = string_at(j, "key", file, field);
    for (const auto& [axis, value] : object_at(j, "axes", file, field).items()) {
      p.axes[axis] = string_value(value, file, field_name(field_name(field, "axes"), axis));
    }
    p.model = string_at(j, "model", file, field);
    p.recipe = string_at(j, "recipe", file, field);
    p.status = string_at(j, "status", file, field);
    p.counts = string_or(j, "counts", "analytic", file, field);
    if (!p.ok()) {
      p.error = string_or(j, "error", "", file, field);
      return p;
    }
    p.weights = integer_at(j, "weights", 0, std::numeric_limits<int64_t>::max(), file, field);
    p.layers = integer_at(j, "layers", 0, std::numeric_limits<int64_t>::max(), file, field);
    const nlohmann::json& q = object_at(j, "quality", file, field);
    p.quality.bpw = number_value(member(q, "bpw", file, field_name(field, "quality")), file, field_name(field, "quality.bpw"));
    p.quality.sqnr_db = optional_number(q, "sqnr_db");
    p.quality.mean_layer_sqnr_db = optional_number(q, "mean_layer_sqnr_db");
    p.design = checked_record(object_at(j, "design", file, field), &design_from_json, &design_to_json, file,
                              field_name(field, "design"));
    p.estimate = checked_record(object_at(j, "estimate", file, field), &estimate_from_json, &estimate_to_json, file,
                                field_name(field, "estimate"));
    if (j.contains("check")) {
      const nlohmann::json& c = object_at(j, "check", file, field);
      const std::string at = field_name(field, "check");
      CountsCheck check;
      if (c.contains("refused")) {
        check.error = string_at(c, "refused", file, at);
      } else {
        const nlohmann::json& sim = object_at(c, "simulated", file, at);
        const std::string in = field_name(at, "simulated");
        check.simulated_cycles = number_value(member(sim, "cycles", file, in), file, field_name(in, "cycles"));
        check.simulated_tokens_per_s = number_value(member(sim, "tokens_per_s", file, in), file, field_name(in, "tokens_per_s"));
        check.simulated_energy_per_token_pj =
            number_value(member(sim, "energy_per_token_pj", file, in), file, field_name(in, "energy_per_token_pj"));
      }
      p.check = check;
    }
    return p;
  } catch (const Error& e) {
    if (e.where() == file) throw;
    throw Error(file, field, std::string("unreadable point record: ") + quoted_excerpt(e.what()));
  } catch (const std::exception& e) {
    throw Error(file, field, std::string("unreadable point record: ") + quoted_excerpt(e.what()));
  }
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
      const PointRecord p = point_from_json(read_sweep_output(path, "point file"), path);
      const int index = p.index;
      if (index >= static_cast<int>(keys.size()) || p.key != keys[index]) {
        throw Error(path, "", "does not belong to this sweep");
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
  return results_from_json(read_sweep_output(path, "results file"), path);
}

}  // namespace sop::sim
