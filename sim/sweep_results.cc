#include "sim/sweep_results.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

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

std::string csv_component(const Breakdown& b, const std::string& name) {
  for (const auto& [k, v] : b) {
    if (k == name) return csv_number(v);
  }
  return "";
}

// results.csv's columns: fixed ones, then every energy and area component of the finished points.
std::string csv_header(const std::vector<std::string>& energy_keys, const std::vector<std::string>& area_keys) {
  std::ostringstream out;
  out << "index,status,counts,model,recipe,block,entry_format,lanes,lut_sram_bytes,resident_slots,table_pairs,lut_storage,"
         "bpw,sqnr_db,tokens_per_s,energy_per_token_pj,pj_per_weight,pj_per_weight_on_chip,area_mm2,"
         "relative_die_cost,power_mw,lut_reloads,reload_stall_cycles";
  for (const auto& k : energy_keys) out << ",energy_pj." << k;
  for (const auto& k : area_keys) out << ",area_um2." << k;
  out << ",error\n";
  return out.str();
}

std::string csv_row(const PointRecord& r, const std::vector<std::string>& energy_keys,
                    const std::vector<std::string>& area_keys) {
  std::ostringstream out;
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
  return out.str();
}

// results.json without its points, split where they go: nlohmann's dump(1) of the whole object (keys
// in nlohmann's order) is `head` + the points + `tail`, so the points can be streamed between them.
struct ResultsJsonFrame {
  std::string head;  // up to and including the points' "["
  std::string tail;  // from the points' "]"
};

ResultsJsonFrame results_json_frame(const SweepResults& r, const CountsCheckSummary& check) {
  nlohmann::json j = {{"sweep", r.sweep}, {"description", r.description}, {"counts", r.counts}, {"axes", r.axes},
                      {"total_points", r.total_points}};
  if (check.checked > 0) {
    j["counts_check"] = {{"checked_points", check.checked},
                         {"refused_by_systemc", check.refused},
                         {"max_abs_tokens_per_s_error", check.max_abs_tokens_per_s_error},
                         {"mean_abs_tokens_per_s_error", check.mean_abs_tokens_per_s_error},
                         {"points", check.lines}};
  }
  j["points"] = nlohmann::json::array();
  const std::string text = j.dump(1);
  // The top-level members are the only lines indented by exactly one space, so this is the
  // points array of the results, not counts_check's "points" (indented by two, and never empty).
  const std::string marker = "\n \"points\": [";
  const std::size_t at = text.find(marker + "]");
  if (at == std::string::npos) throw std::logic_error("results.json: no place for the points in " + quoted_excerpt(text));
  return {text.substr(0, at + marker.size()), text.substr(at + marker.size())};
}

// One point of results.json's "points" array as dump(1) of the whole file writes it (two levels
// deep). The dump escapes newlines inside strings, so every line break is nlohmann's own.
std::string results_json_point(const PointRecord& p) {
  const std::string text = point_to_json(p).dump(1);
  std::string out = "  ";
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
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

namespace {

// What the counts-check summary needs of one checked point; the merge keeps only this of a point
// between its passes, not the whole record.
struct CheckedPoint {
  bool refused = false;
  double abs_tokens_per_s_error = 0;
  std::string line;
};

CheckedPoint checked_point(const PointRecord& p) {
  CheckedPoint c;
  const std::string head = "point " + std::to_string(p.index) + " (" + p.key + "): ";
  if (!p.check->error.empty()) {
    c.refused = true;
    c.line = head + "the SystemC model refuses the design: " + p.check->error;
    return c;
  }
  const CountsError e = counts_error(p);
  c.abs_tokens_per_s_error = std::fabs(e.tokens_per_s);
  char line[256];
  std::snprintf(line, sizeof line, "tokens/s analytic %.6g, SystemC %.6g (%+.2f %%); cycles %+.2f %%; energy/token %+.2f %%",
                p.estimate.tokens_per_s, p.check->simulated_tokens_per_s, 100 * e.tokens_per_s, 100 * e.cycles,
                100 * e.energy_per_token);
  c.line = head + line;
  return c;
}

// Adds the checked points in index order (the mean sums in that order).
class CountsCheckTotal {
 public:
  void add(const CheckedPoint& c) {
    ++s_.checked;
    if (c.refused) ++s_.refused;
    else {
      sum_ += c.abs_tokens_per_s_error;
      s_.max_abs_tokens_per_s_error = std::max(s_.max_abs_tokens_per_s_error, c.abs_tokens_per_s_error);
    }
    s_.lines.push_back(c.line);
  }
  CountsCheckSummary summary() const {
    CountsCheckSummary s = s_;
    const int simulated = s.checked - s.refused;
    s.mean_abs_tokens_per_s_error = simulated > 0 ? sum_ / simulated : 0;
    return s;
  }

 private:
  CountsCheckSummary s_;
  double sum_ = 0;
};

}  // namespace

CountsCheckSummary summarize_counts_checks(const std::vector<PointRecord>& points) {
  CountsCheckTotal total;
  for (const PointRecord& p : points) {
    if (p.check) total.add(checked_point(p));
  }
  return total.summary();
}

nlohmann::json point_to_json(const PointRecord& p) {
  nlohmann::json j = {{"index", p.index}, {"key", p.key},       {"axes", p.axes},    {"model", p.model},
                      {"recipe", p.recipe}, {"status", p.status}, {"counts", p.counts}};
  if (!p.pack.empty()) j["pack"] = p.pack;
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
  if (p.quality.counted_bpw) quality["counted_bpw"] = *p.quality.counted_bpw;
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
    p.pack = string_or(j, "pack", "", file, field);  // absent in records written before it
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
    p.quality.counted_bpw = optional_number(q, "counted_bpw");
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

namespace {

// Distinct energy (or area) component names across a merge's points, and each point's list of them
// as ids. results.csv has a column per name, so the names are bounded (real sweeps have about ten).
constexpr std::size_t kMaxComponentNames = 1024;

class ComponentLists {
 public:
  explicit ComponentLists(const char* field) : field_(field) {}

  // The id of `b`'s list of names, adding new names and lists (refused beyond kMaxComponentNames).
  int32_t add(const Breakdown& b, const std::string& file) {
    std::vector<uint16_t> ids;
    ids.reserve(b.size());
    for (const auto& [name, value] : b) {
      auto it = name_ids_.find(name);
      if (it == name_ids_.end()) {
        if (names_.size() >= kMaxComponentNames) {
          throw Error(file, std::string("estimate.") + field_,
                      "the sweep's points name more than " + std::to_string(kMaxComponentNames) +
                          " distinct components (results.csv has a column per component)");
        }
        it = name_ids_.emplace(name, static_cast<uint16_t>(names_.size())).first;
        names_.push_back(name);
      }
      ids.push_back(it->second);
    }
    const auto [at, added] = list_ids_.emplace(std::move(ids), static_cast<int32_t>(lists_.size()));
    if (added) lists_.push_back(&at->first);
    return at->second;
  }

  // The id `b`'s list had when added, or -1 if it was never added.
  int32_t find(const Breakdown& b) const {
    std::vector<uint16_t> ids;
    for (const auto& [name, value] : b) {
      const auto it = name_ids_.find(name);
      if (it == name_ids_.end()) return -1;
      ids.push_back(it->second);
    }
    const auto at = list_ids_.find(ids);
    return at == list_ids_.end() ? -1 : at->second;
  }

  // Every name of the given lists in first-seen order (lists in the order given): the CSV columns.
  std::vector<std::string> names_in_order(const std::vector<int32_t>& lists) const {
    std::vector<std::string> out;
    std::vector<bool> seen(names_.size(), false);
    for (int32_t list : lists) {
      for (uint16_t id : *lists_[static_cast<std::size_t>(list)]) {
        if (!seen[id]) {
          seen[id] = true;
          out.push_back(names_[id]);
        }
      }
    }
    return out;
  }

 private:
  const char* field_;
  std::vector<std::string> names_;
  std::map<std::string, uint16_t> name_ids_;
  std::map<std::vector<uint16_t>, int32_t> list_ids_;
  std::vector<const std::vector<uint16_t>*> lists_;  // by id, into list_ids_'s keys
};

// A point file of a merge: its record, which must be a point of this sweep stored under its own
// index's name (so that the merge can find it again by index).
PointRecord read_point_file(const fs::path& file, const nlohmann::json& keys) {
  const std::string path = file.string();
  PointRecord p = point_from_json(read_sweep_output(path, "point file"), path);
  if (p.index >= static_cast<int>(keys.size()) || p.key != keys[static_cast<std::size_t>(p.index)]) {
    throw Error(path, "", "does not belong to this sweep");
  }
  if (file.filename() != fs::path(point_file("", p.index)).filename()) {
    throw Error(path, "index", "holds point " + std::to_string(p.index) + ", whose file is " +
                                   fs::path(point_file("", p.index)).filename().string());
  }
  return p;
}

}  // namespace

// The merge streams: a first pass reads and checks every point file and keeps, per point, only which
// folder's file is its result and what the CSV header and the counts-check summary need; a second
// pass reads the chosen files again in index order and writes each record straight into results.json
// and results.csv. Memory is the sweep's record (its point keys) plus a few bytes per point, not the
// records themselves (docs/robustness.md has the measurement).
int merge_sweep(const std::vector<std::string>& dirs, const std::string& out_dir, bool allow_partial) {
  if (dirs.empty()) throw Error("", "", "no sweep directories to merge");
  const std::string record_path = (fs::path(dirs.front()) / "sweep.json").string();
  if (!fs::exists(record_path)) throw Error(dirs.front(), "sweep.json", "missing: not a sweep output folder");
  const nlohmann::json record = read_sweep_record(record_path);
  const nlohmann::json& keys = record.at("points");
  const std::size_t total = keys.size();
  SweepResults all;
  all.sweep = record.at("name").get<std::string>();
  all.description = record.at("description").get<std::string>();
  all.counts = record_counts(record);
  try {
    all.axes = record.at("axes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(record_path, "axes", std::string("not a list of axis names: ") + quoted_excerpt(e.what()));
  }
  all.total_points = static_cast<int>(total);
  for (const std::string& dir : dirs) {
    if (dir == dirs.front()) continue;
    const std::string other = (fs::path(dir) / "sweep.json").string();
    if (!fs::exists(other)) throw Error(dir, "sweep.json", "missing: not a sweep output folder");
    const nlohmann::json theirs = read_sweep_record(other);
    if (theirs.at("points") != keys) throw Error(dir, "sweep.json", "a different sweep than " + dirs.front());
    if (record_counts(theirs) != record_counts(record)) {
      throw Error(dir, "sweep.json", "counts from " + record_counts(theirs) + ", " + dirs.front() + " from " + record_counts(record));
    }
  }

  // ---- Pass 1: every point file, checked; per point, the folder of its result --------------------
  constexpr int32_t kNoResult = -1;
  std::vector<int32_t> source(total, kNoResult);  // index into dirs
  std::vector<bool> finished(total, false);
  std::vector<int32_t> energy_list(total, -1), area_list(total, -1);  // finished points
  ComponentLists energy_names("energy_pj_per_token"), area_names("area_um2");
  std::map<int, CheckedPoint> checks;  // by index: the chosen records that carry a check
  for (std::size_t d = 0; d < dirs.size(); ++d) {
    const fs::path pdir = fs::path(dirs[d]) / "points";
    if (!fs::exists(pdir)) continue;
    for (const auto& entry : fs::directory_iterator(pdir)) {
      if (entry.path().extension() != ".json") continue;
      const PointRecord p = read_point_file(entry.path(), keys);
      const std::size_t i = static_cast<std::size_t>(p.index);
      // A finished point wins over a failed record of the same point from another shard folder.
      if (source[i] != kNoResult && (finished[i] || !p.ok())) continue;
      source[i] = static_cast<int32_t>(d);
      finished[i] = p.ok();
      if (p.ok()) {
        energy_list[i] = energy_names.add(p.estimate.energy_pj, entry.path().string());
        area_list[i] = area_names.add(p.estimate.area_um2, entry.path().string());
      }
      checks.erase(p.index);
      if (p.check) checks.emplace(p.index, checked_point(p));
    }
  }
  std::size_t missing = 0;
  std::vector<int32_t> energy_in_order, area_in_order;
  for (std::size_t i = 0; i < total; ++i) {
    if (source[i] == kNoResult) ++missing;
    if (finished[i]) {
      energy_in_order.push_back(energy_list[i]);
      area_in_order.push_back(area_list[i]);
    }
  }
  if (missing > 0 && !allow_partial) {
    throw Error(dirs.front(), "", std::to_string(missing) + " of " + std::to_string(total) +
                                      " points have no result yet (run the missing shards, or merge with --allow-partial)");
  }
  const std::vector<std::string> energy_keys = energy_names.names_in_order(energy_in_order);
  const std::vector<std::string> area_keys = area_names.names_in_order(area_in_order);
  CountsCheckTotal check_total;
  for (const auto& [index, check] : checks) check_total.add(check);
  const ResultsJsonFrame frame = results_json_frame(all, check_total.summary());

  // ---- Pass 2: the chosen files again, in index order, straight into both outputs ----------------
  // Both are temporaries until every point is written, so a failure (a file changed or removed since
  // pass 1) leaves no results file and any earlier one untouched.
  const bool out_existed = fs::exists(out_dir);
  fs::create_directories(out_dir);
  int written = 0;
  try {
    AtomicOutputFile json((fs::path(out_dir) / "results.json").string());
    AtomicOutputFile csv((fs::path(out_dir) / "results.csv").string());
    const auto put = [](AtomicOutputFile& f, const std::string& text) { f.write(text.data(), text.size()); };
    put(json, frame.head);
    put(csv, csv_header(energy_keys, area_keys));
    for (std::size_t i = 0; i < total; ++i) {
      if (source[i] == kNoResult) continue;
      const fs::path file = point_file(dirs[static_cast<std::size_t>(source[i])], static_cast<int>(i));
      const PointRecord p = read_point_file(file, keys);
      if (static_cast<std::size_t>(p.index) != i || p.ok() != finished[i] ||
          (p.ok() && (energy_names.find(p.estimate.energy_pj) != energy_list[i] ||
                      area_names.find(p.estimate.area_um2) != area_list[i])) ||
          static_cast<bool>(p.check) != (checks.count(p.index) > 0)) {
        throw Error(file.string(), "", "changed while the merge read it (is a sweep still writing here?): merge again");
      }
      put(json, (written == 0 ? "\n" : ",\n") + results_json_point(p));
      put(csv, csv_row(p, energy_keys, area_keys));
      ++written;
    }
    put(json, (written == 0 ? "" : "\n ") + frame.tail + "\n");
    json.commit();
    csv.commit();
  } catch (...) {
    std::error_code ignored;
    if (!out_existed) fs::remove(out_dir, ignored);  // only if still empty
    throw;
  }
  if (fs::absolute(out_dir) != fs::absolute(dirs.front())) {
    write_file_atomically((fs::path(out_dir) / "sweep.json").string(), [&](std::ostream& os) { os << record.dump(2) << "\n"; });
  }
  return written;
}

SweepResults read_results(const std::string& dir) {
  const std::string path = (fs::path(dir) / "results.json").string();
  if (!fs::exists(path)) throw Error(dir, "results.json", "missing: run `sop sweep` (or `sop sweep merge`) first");
  return results_from_json(read_sweep_output(path, "results file"), path);
}

}  // namespace sop::sim
