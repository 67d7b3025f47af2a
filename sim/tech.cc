#include "sim/tech.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "base/error.h"
#include "base/yaml_reader.h"
#include "base/text_file.h"
#include "quantizer/io/untrusted_json.h"

namespace sop::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Tech numbers carry their own range checks below (>= 0, > 0, increasing); the reader only makes
// sure they are finite numbers.
constexpr double kLargest = std::numeric_limits<double>::max();

// parent[key], which must be present (every tech number is required: none has a default).
YAML::Node child(const YamlReader& r, const YAML::Node& parent, const std::string& path, const char* key) {
  const YAML::Node n = parent[key];
  if (!n) r.fail(YamlReader::join(path, key), parent, "missing");
  return n;
}

double number(const YamlReader& r, const YAML::Node& parent, const std::string& path, const char* key) {
  return r.number_value(child(r, parent, path, key), YamlReader::join(path, key), -kLargest, kLargest);
}

std::string source_of(const YamlReader& r, const YAML::Node& n, const std::string& path) {
  const YAML::Node s = n["source"];
  if (!s || !s.IsScalar() || s.Scalar().empty()) r.fail(YamlReader::join(path, "source"), n, "every number needs its source");
  return s.Scalar();
}

// {<value_key>: number, source: text}
TechValue value(const YamlReader& r, const YAML::Node& parent, const std::string& path, const char* key,
                const char* value_key) {
  const std::string p = YamlReader::join(path, key);
  const YAML::Node n = child(r, parent, path, key);
  r.only_keys(n, p, {value_key, "source", "note"});
  TechValue v;
  v.value = number(r, n, p, value_key);
  if (!(v.value >= 0)) r.fail(YamlReader::join(p, value_key), n[value_key], "must be >= 0");
  v.source = source_of(r, n, p);
  return v;
}

// A list of {<x_key>: number, <y_key>: number, source: text}, x strictly increasing.
TechCurve curve(const YamlReader& r, const YAML::Node& parent, const std::string& path, const char* key,
                const char* x_key, const char* y_key, TechCurve::Scale scale) {
  const std::string p = YamlReader::join(path, key);
  const YAML::Node n = child(r, parent, path, key);
  if (!n.IsSequence() || n.size() == 0) r.fail(p, n, "expected a non-empty list of points");
  TechCurve c;
  c.scale = scale;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string pi = p + "[" + std::to_string(i) + "]";
    r.only_keys(n[i], pi, {x_key, y_key, "source", "note"});
    TechPoint pt;
    pt.x = number(r, n[i], pi, x_key);
    pt.y = number(r, n[i], pi, y_key);
    pt.source = source_of(r, n[i], pi);
    if (pt.x < 0 || pt.y < 0) r.fail(pi, n[i], "sizes and values must be >= 0");
    if (scale == TechCurve::Scale::LogLog && (pt.x <= 0 || pt.y <= 0)) r.fail(pi, n[i], "log-log points must be > 0");
    if (!c.points.empty() && pt.x <= c.points.back().x) {
      r.fail(pi, n[i], "points must be in increasing " + std::string(x_key));
    }
    c.points.push_back(pt);
  }
  return c;
}

std::vector<LogicAreaRow> read_logic_table(const std::string& path) {
  const nlohmann::json j = parse_untrusted_json(read_text_file(path, "logic area table"), path, "", "logic area table");
  if (!j.is_array() || j.empty()) throw Error(path, "", "expected the non-empty array `sop area --json` writes");
  std::vector<LogicAreaRow> rows;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    const std::string row = "[" + std::to_string(i) + "].rtl_parameters.";
    try {
      LogicAreaRow r;
      const auto& params = e.at("rtl_parameters");
      // Integers checked before conversion: a get<int>() of 1e300 is undefined behaviour.
      r.lanes = static_cast<int>(json_integer(params.at("Lanes"), 1, 1 << 20, path, row + "Lanes"));
      r.entries_per_table = json_integer(params.at("CodeBits"), 1, 16, path, row + "CodeBits") == 6 ? 64 : 16;
      r.entry_format = e.at("entry_format").get<std::string>();
      const auto& a = e.at("area_um2");
      r.lut_um2 = a.at("lut").get<double>();
      r.lanes_um2 = a.at("lanes").get<double>();
      r.control_um2 = a.at("control_and_output").get<double>();
      rows.push_back(r);
    } catch (const nlohmann::json::exception& ex) {
      throw Error(path, "", std::string("a row lacks a field: ") + ex.what());
    }
  }
  return rows;
}

std::vector<TimingRow> read_timing_table(const std::string& path) {
  const nlohmann::json j = parse_untrusted_json(read_text_file(path, "timing table"), path, "", "timing table");
  if (!j.is_array() || j.empty()) throw Error(path, "", "expected the non-empty array `sop area --timing --json` writes");
  std::vector<TimingRow> rows;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    const std::string row = "[" + std::to_string(i) + "]";
    try {
      TimingRow r;
      const auto& params = e.at("rtl_parameters");
      r.lanes = static_cast<int>(json_integer(params.at("Lanes"), 1, 1 << 20, path, row + ".rtl_parameters.Lanes"));
      r.entries_per_table =
          json_integer(params.at("CodeBits"), 1, 16, path, row + ".rtl_parameters.CodeBits") == 6 ? 64 : 16;
      r.pipeline_stages = params.contains("PipeStages")
                              ? static_cast<int>(json_integer(params.at("PipeStages"), 1, 16, path,
                                                              row + ".rtl_parameters.PipeStages"))
                              : 1;
      r.entry_format = e.at("entry_format").get<std::string>();
      const auto& t = e.at("timing");
      r.critical_path_ns = t.at("critical_path_ns").get<double>();
      r.startpoint = t.at("startpoint").get<std::string>();
      r.endpoint = t.at("endpoint").get<std::string>();
      if (!(r.critical_path_ns > 0) || !std::isfinite(r.critical_path_ns)) {
        throw Error(path, row + ".timing.critical_path_ns", "must be a finite number > 0");
      }
      rows.push_back(r);
    } catch (const nlohmann::json::exception& ex) {
      throw Error(path, "", std::string("a row lacks a field: ") + ex.what());
    }
  }
  return rows;
}

double lerp(double x0, double y0, double x1, double y1, double x) {
  if (x1 == x0) return y0;
  return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

}  // namespace

double TechCurve::at(double x) const {
  if (points.empty()) return 0;
  if (points.size() == 1) return points[0].y;
  // The segment that contains x, or the end segment nearest to it.
  std::size_t i = 1;
  while (i + 1 < points.size() && x > points[i].x) ++i;
  const TechPoint& a = points[i - 1];
  const TechPoint& b = points[i];
  if (scale == Scale::Linear) return std::max(0.0, lerp(a.x, a.y, b.x, b.y, x));
  if (x <= 0) return 0;
  return std::exp(lerp(std::log(a.x), std::log(a.y), std::log(b.x), std::log(b.y), std::log(x)));
}

LogicAreaRow TechTable::logic_area(int lanes, int entries_per_table, const std::string& entry_format) const {
  const bool bf16 = entry_format == "bf16";
  const std::string measured_format = bf16 ? "hif" : entry_format;
  std::vector<LogicAreaRow> rows;
  for (const LogicAreaRow& r : logic_rows) {
    if (r.entries_per_table == entries_per_table && r.entry_format == measured_format) rows.push_back(r);
  }
  if (rows.empty()) {
    throw Error(logic_table_path, "", "no logic area measured for " + std::to_string(entries_per_table) +
                                          "-entry tables with " + measured_format +
                                          " entries (rerun configs/tech/measure-logic-area.sh)");
  }
  std::sort(rows.begin(), rows.end(), [](const LogicAreaRow& a, const LogicAreaRow& b) { return a.lanes < b.lanes; });
  LogicAreaRow out;
  out.lanes = lanes;
  out.entries_per_table = entries_per_table;
  out.entry_format = entry_format;
  if (rows.size() == 1) {
    // One measurement: lane logic and read muxes scale with lanes, control does not.
    const double f = static_cast<double>(lanes) / rows[0].lanes;
    out.lut_um2 = rows[0].lut_um2 * f;
    out.lanes_um2 = rows[0].lanes_um2 * f;
    out.control_um2 = rows[0].control_um2;
  } else {
    std::size_t i = 1;
    while (i + 1 < rows.size() && lanes > rows[i].lanes) ++i;
    const LogicAreaRow& a = rows[i - 1];
    const LogicAreaRow& b = rows[i];
    out.lut_um2 = std::max(0.0, lerp(a.lanes, a.lut_um2, b.lanes, b.lut_um2, lanes));
    out.lanes_um2 = std::max(0.0, lerp(a.lanes, a.lanes_um2, b.lanes, b.lanes_um2, lanes));
    out.control_um2 = std::max(0.0, lerp(a.lanes, a.control_um2, b.lanes, b.control_um2, lanes));
  }
  // Library um^2 -> gate equivalents -> this node's um^2.
  const double to_node = logic_area_scale();
  out.lut_um2 *= to_node;
  out.lanes_um2 *= to_node;
  out.control_um2 *= to_node;
  // BF16 entries are 16 bits wide against HIF's 11: the flop LUT and its muxes grow with the width.
  if (bf16) out.lut_um2 *= 16.0 / 11.0;
  return out;
}

double TechTable::relative_die_cost(double area_mm2) const {
  // Dies per wafer: wafer area / die area minus the partial dies lost at the edge; yield from the
  // negative-binomial model (1 + D0 A / alpha)^-alpha. Cost per good die ~ 1 / (dies x yield).
  const auto cost = [&](double a_mm2) {
    const double d = wafer_diameter_mm.value;
    const double dies = kPi * d * d / 4 / a_mm2 - kPi * d / std::sqrt(2 * a_mm2);
    const double a_cm2 = a_mm2 / 100;
    const double alpha = yield_cluster_alpha.value;
    const double yield = std::pow(1 + defect_density_per_cm2.value * a_cm2 / alpha, -alpha);
    return 1.0 / (std::max(dies, 1e-9) * yield);
  };
  if (area_mm2 <= 0) return 0;
  return cost(area_mm2) / cost(reference_die_mm2.value);
}

NodeScale TechTable::from_synthesis() const {
  const ScalingModel& from = scaling_model(scaling.synthesis_model, source, "node_scaling.synthesis.model");
  const ScalingModel& to = scaling_model(scaling.model, source, "node_scaling.model.name");
  return node_scale(from, scaling.synthesis_voltage_v, to, voltage_v);
}

ClockLimit TechTable::clock_limit(int lanes, int entries_per_table, const std::string& entry_format,
                                  int pipeline_stages) const {
  const std::string measured_format = entry_format == "bf16" ? "hif" : entry_format;
  std::vector<TimingRow> rows;
  for (const TimingRow& r : timing_rows) {
    if (r.entries_per_table == entries_per_table && r.entry_format == measured_format &&
        r.pipeline_stages == pipeline_stages) {
      rows.push_back(r);
    }
  }
  if (rows.empty()) {
    throw Error(timing_table_path, "",
                "no critical path measured for " + std::to_string(entries_per_table) + "-entry tables with " +
                    measured_format + " entries and " + std::to_string(pipeline_stages) +
                    " pipeline stage(s) (rerun configs/tech/measure-timing.sh)");
  }
  std::sort(rows.begin(), rows.end(), [](const TimingRow& a, const TimingRow& b) { return a.lanes < b.lanes; });
  ClockLimit c;
  std::string measured;
  if (rows.size() == 1) {
    c.synthesis_critical_path_ns = rows[0].critical_path_ns;
    measured = std::to_string(rows[0].lanes) + " lanes";
  } else {
    std::size_t i = 1;
    while (i + 1 < rows.size() && lanes > rows[i].lanes) ++i;
    const TimingRow& a = rows[i - 1];
    const TimingRow& b = rows[i];
    c.synthesis_critical_path_ns =
        lerp(std::log2(a.lanes), a.critical_path_ns, std::log2(b.lanes), b.critical_path_ns, std::log2(std::max(1, lanes)));
    // A falling extrapolation below the smallest measurement would promise a clock nothing measured.
    c.synthesis_critical_path_ns = std::max(c.synthesis_critical_path_ns, rows.front().critical_path_ns);
    measured = lanes < rows.front().lanes ? "the smallest measured unit's, " + std::to_string(rows.front().lanes) + " lanes"
               : lanes == a.lanes ? std::to_string(a.lanes) + " lanes"
               : lanes == b.lanes ? std::to_string(b.lanes) + " lanes"
               : lanes > b.lanes  ? "extended from " + std::to_string(a.lanes) + " and " + std::to_string(b.lanes) + " lanes"
                                  : "interpolated from " + std::to_string(a.lanes) + " and " + std::to_string(b.lanes) + " lanes";
  }
  c.synthesis_fmax_mhz = 1000.0 / c.synthesis_critical_path_ns;
  c.delay_scale = from_synthesis().delay;
  c.fmax_mhz = c.synthesis_fmax_mhz / c.delay_scale;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "critical path %.3f ns at %s nm (%s, %s entries, %d stage%s; %s), x %.4f by Stillmaker-Baas 2017 "
                "(%s at %.2f V -> %s at %.2f V)",
                c.synthesis_critical_path_ns, scaling.synthesis_model.c_str(), measured.c_str(), measured_format.c_str(),
                pipeline_stages, pipeline_stages == 1 ? "" : "s", timing_table_path.substr(timing_table_path.rfind('/') + 1).c_str(),
                c.delay_scale, scaling.synthesis_model.c_str(), scaling.synthesis_voltage_v, scaling.model.c_str(), voltage_v);
  c.basis = buf;
  return c;
}

namespace {

// node_scaling: {model: {name, source}, synthesis: {model, voltage_v, source}, timing_table}. In a
// derived table `synthesis` and `timing_table` may be left to the base.
void read_node_scaling(const YamlReader& r, const YAML::Node& root, const std::string& dir, bool derived, TechTable& t) {
  const YAML::Node ns = child(r, root, "", "node_scaling");
  r.only_keys(ns, "node_scaling", {"model", "synthesis", "timing_table"});
  const YAML::Node m = child(r, ns, "node_scaling", "model");
  r.only_keys(m, "node_scaling.model", {"name", "source", "note"});
  t.scaling.model = r.string_value(child(r, m, "node_scaling.model", "name"), "node_scaling.model.name");
  t.scaling.model_source = source_of(r, m, "node_scaling.model");
  scaling_model(t.scaling.model, t.source, "node_scaling.model.name");
  if (ns["synthesis"] || !derived) {
    const YAML::Node s = child(r, ns, "node_scaling", "synthesis");
    r.only_keys(s, "node_scaling.synthesis", {"model", "voltage_v", "source", "note"});
    t.scaling.synthesis_model = r.string_value(child(r, s, "node_scaling.synthesis", "model"), "node_scaling.synthesis.model");
    scaling_model(t.scaling.synthesis_model, t.source, "node_scaling.synthesis.model");
    t.scaling.synthesis_voltage_v = number(r, s, "node_scaling.synthesis", "voltage_v");
    t.scaling.synthesis_source = source_of(r, s, "node_scaling.synthesis");
  }
  if (ns["timing_table"] || !derived) {
    t.timing_table_path = r.string_value(child(r, ns, "node_scaling", "timing_table"), "node_scaling.timing_table");
    if (!t.timing_table_path.empty() && t.timing_table_path[0] != '/') t.timing_table_path = dir + "/" + t.timing_table_path;
    t.timing_rows = read_timing_table(t.timing_table_path);
  }
}

// Every factor of the fits must be positive at the voltages given: outside a model's fitted range the
// polynomials turn over, and a negative delay would be a clock from nowhere.
void check_scaling(const YamlReader& r, const YAML::Node& root, const TechTable& t) {
  const NodeScale s = t.from_synthesis();
  if (!(s.delay > 0) || !(s.energy > 0) || !(s.power > 0)) {
    r.fail("voltage_v", root["voltage_v"],
           "the Stillmaker-Baas fits give no positive factor at this voltage for " + t.scaling.model +
               " (outside the fitted range)");
  }
}

std::string scaled_source(const std::string& base_source, const char* what, double factor, const std::string& from,
                          const std::string& to) {
  char buf[160];
  std::snprintf(buf, sizeof buf, " x %.4f (Stillmaker-Baas 2017 %s, %s -> %s)", factor, what, from.c_str(), to.c_str());
  return base_source + buf;
}

void scale_curve(TechCurve& c, const char* what, double factor, const std::string& from, const std::string& to) {
  for (TechPoint& p : c.points) {
    p.y *= factor;
    p.source = scaled_source(p.source, what, factor, from, to);
  }
}

void scale_value(TechValue& v, const char* what, double factor, const std::string& from, const std::string& to) {
  v.value *= factor;
  v.source = scaled_source(v.source, what, factor, from, to);
}

}  // namespace

namespace {

void read_cost(const YamlReader& r, const YAML::Node& root, TechTable& t) {
  const YAML::Node c = child(r, root, "", "cost");
  r.only_keys(c, "cost", {"wafer_diameter_mm", "defect_density_per_cm2", "yield_cluster_alpha", "reference_die_mm2"});
  t.wafer_diameter_mm = value(r, c, "cost", "wafer_diameter_mm", "value");
  t.defect_density_per_cm2 = value(r, c, "cost", "defect_density_per_cm2", "value");
  t.yield_cluster_alpha = value(r, c, "cost", "yield_cluster_alpha", "value");
  t.reference_die_mm2 = value(r, c, "cost", "reference_die_mm2", "value");
  if (t.yield_cluster_alpha.value <= 0) r.fail("cost.yield_cluster_alpha", c["yield_cluster_alpha"], "must be > 0");
  if (t.reference_die_mm2.value <= 0) r.fail("cost.reference_die_mm2", c["reference_die_mm2"], "must be > 0");
}

// A table of another node made from a measured one (`derived_from: {table}`): the base's energies
// scaled by the energy factor, its areas by the area factor, both between the base's device model and
// this one's; DRAM energy (a property of the memory, not of this node's logic) and leakage (an
// assumption either way, kept visible as one) are the base's; the cost model is the base's unless
// this table gives its own.
TechTable derive_tech_table(const YamlReader& r, const YAML::Node& root, const std::string& dir) {
  r.only_keys(root, "", {"schema_version", "tech", "name", "node_nm", "voltage_v", "derived_from", "node_scaling", "cost"});
  r.check_schema_version(root);
  if (number(r, root, "", "tech") != 1) r.fail("tech", root["tech"], "unsupported schema version (expected 1)");
  const YAML::Node d = root["derived_from"];
  r.only_keys(d, "derived_from", {"table", "note"});
  std::string base_path = r.string_value(child(r, d, "derived_from", "table"), "derived_from.table");
  if (!base_path.empty() && base_path[0] != '/') base_path = dir + "/" + base_path;
  TechTable t = load_tech_table(base_path);
  if (!t.derived_from.empty()) {
    r.fail("derived_from.table", d["table"], base_path + " is itself derived: derive from a table of measured numbers");
  }
  const TechTable base = t;
  t.source = r.file();
  t.derived_from = base_path;
  t.name = r.string_value(child(r, root, "", "name"), "name");
  t.node_nm = number(r, root, "", "node_nm");
  t.voltage_v = number(r, root, "", "voltage_v");
  if (!(t.voltage_v > 0)) r.fail("voltage_v", root["voltage_v"], "must be > 0");
  read_node_scaling(r, root, dir, true, t);
  check_scaling(r, root, t);
  const ScalingModel& from = scaling_model(base.scaling.model, base.source, "node_scaling.model.name");
  const ScalingModel& to = scaling_model(t.scaling.model, t.source, "node_scaling.model.name");
  if (to.node_nm != static_cast<int>(t.node_nm)) {
    r.fail("node_nm", root["node_nm"], "differs from the node of " + t.scaling.model + " (" + std::to_string(to.node_nm) + " nm)");
  }
  const NodeScale s = node_scale(from, base.voltage_v, to, t.voltage_v);
  char a[48], b[48];
  std::snprintf(a, sizeof a, "%s at %.2f V", from.name, base.voltage_v);
  std::snprintf(b, sizeof b, "%s at %.2f V", to.name, t.voltage_v);
  scale_curve(t.storage_read_pj_per_bit, "energy", s.energy, a, b);
  scale_curve(t.multiply_pj, "energy", s.energy, a, b);
  scale_curve(t.add_pj, "energy", s.energy, a, b);
  scale_value(t.register_pj_per_bit, "energy", s.energy, a, b);
  scale_curve(t.storage_area_um2, "area", s.area, a, b);
  scale_value(t.nand2_um2, "area", s.area, a, b);
  if (root["cost"]) read_cost(r, root, t);
  return t;
}

}  // namespace

TechTable parse_tech_table(const std::string& yaml_text, const std::string& source, const std::string& logic_dir) {
  const YamlReader r(source);
  const YAML::Node root = r.parse(yaml_text);
  if (root.IsMap() && root["derived_from"]) return derive_tech_table(r, root, logic_dir);
  r.only_keys(root, "", {"schema_version", "tech", "name", "node_nm", "voltage_v", "sources", "node_scaling", "energy_pj",
                         "leakage", "area_um2", "cost"});
  r.check_schema_version(root);
  if (number(r, root, "", "tech") != 1) r.fail("tech", root["tech"], "unsupported schema version (expected 1)");
  TechTable t;
  t.source = source;
  t.name = r.string_value(child(r, root, "", "name"), "name");
  t.node_nm = number(r, root, "", "node_nm");
  t.voltage_v = number(r, root, "", "voltage_v");
  if (!(t.voltage_v > 0)) r.fail("voltage_v", root["voltage_v"], "must be > 0");

  const YAML::Node e = child(r, root, "", "energy_pj");
  r.only_keys(e, "energy_pj", {"storage_read_per_bit", "storage_write_per_read", "multiply", "add", "register_per_bit",
                               "dram_per_bit"});
  t.storage_read_pj_per_bit = curve(r, e, "energy_pj", "storage_read_per_bit", "bits", "pj", TechCurve::Scale::LogLog);
  t.storage_write_per_read = value(r, e, "energy_pj", "storage_write_per_read", "ratio");
  t.multiply_pj = curve(r, e, "energy_pj", "multiply", "product_bits", "pj", TechCurve::Scale::LogLog);
  t.add_pj = curve(r, e, "energy_pj", "add", "bits", "pj", TechCurve::Scale::LogLog);
  t.register_pj_per_bit = value(r, e, "energy_pj", "register_per_bit", "pj");
  t.dram_pj_per_bit = value(r, e, "energy_pj", "dram_per_bit", "pj");

  const YAML::Node l = child(r, root, "", "leakage");
  r.only_keys(l, "leakage", {"mw_per_mm2"});
  t.leakage_mw_per_mm2 = value(r, l, "leakage", "mw_per_mm2", "value");

  const YAML::Node a = child(r, root, "", "area_um2");
  r.only_keys(a, "area_um2", {"storage", "logic"});
  t.storage_area_um2 = curve(r, a, "area_um2", "storage", "bits", "um2", TechCurve::Scale::Linear);
  const YAML::Node lg = child(r, a, "area_um2", "logic");
  r.only_keys(lg, "area_um2.logic", {"table", "table_nand2_um2", "nand2_um2"});
  t.logic_table_path = r.string_value(child(r, lg, "area_um2.logic", "table"), "area_um2.logic.table");
  if (!t.logic_table_path.empty() && t.logic_table_path[0] != '/') t.logic_table_path = logic_dir + "/" + t.logic_table_path;
  t.logic_table_nand2_um2 = value(r, lg, "area_um2.logic", "table_nand2_um2", "um2");
  t.nand2_um2 = value(r, lg, "area_um2.logic", "nand2_um2", "um2");
  if (t.logic_table_nand2_um2.value <= 0) r.fail("area_um2.logic.table_nand2_um2", lg["table_nand2_um2"], "must be > 0");
  t.logic_rows = read_logic_table(t.logic_table_path);

  read_cost(r, root, t);
  read_node_scaling(r, root, logic_dir, false, t);
  check_scaling(r, root, t);
  return t;
}

TechTable load_tech_table(const std::string& path) {
  const std::string text = read_text_file(path, "technology table");
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return parse_tech_table(text, path, dir);
}

}  // namespace sop::sim
