#include "sim/tech.h"

#include <algorithm>
#include <cmath>
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
  const double to_node = nand2_um2.value / logic_table_nand2_um2.value;
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

TechTable parse_tech_table(const std::string& yaml_text, const std::string& source, const std::string& logic_dir) {
  const YamlReader r(source);
  const YAML::Node root = r.parse(yaml_text);
  r.only_keys(root, "", {"schema_version", "tech", "name", "node_nm", "voltage_v", "sources", "energy_pj", "leakage",
                         "area_um2", "cost"});
  r.check_schema_version(root);
  if (number(r, root, "", "tech") != 1) r.fail("tech", root["tech"], "unsupported schema version (expected 1)");
  TechTable t;
  t.source = source;
  t.name = r.string_value(child(r, root, "", "name"), "name");
  t.node_nm = number(r, root, "", "node_nm");
  t.voltage_v = number(r, root, "", "voltage_v");

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

  const YAML::Node c = child(r, root, "", "cost");
  r.only_keys(c, "cost", {"wafer_diameter_mm", "defect_density_per_cm2", "yield_cluster_alpha", "reference_die_mm2"});
  t.wafer_diameter_mm = value(r, c, "cost", "wafer_diameter_mm", "value");
  t.defect_density_per_cm2 = value(r, c, "cost", "defect_density_per_cm2", "value");
  t.yield_cluster_alpha = value(r, c, "cost", "yield_cluster_alpha", "value");
  t.reference_die_mm2 = value(r, c, "cost", "reference_die_mm2", "value");
  if (t.yield_cluster_alpha.value <= 0) r.fail("cost.yield_cluster_alpha", c["yield_cluster_alpha"], "must be > 0");
  if (t.reference_die_mm2.value <= 0) r.fail("cost.reference_die_mm2", c["reference_die_mm2"], "must be > 0");
  return t;
}

TechTable load_tech_table(const std::string& path) {
  const std::string text = read_text_file(path, "technology table");
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return parse_tech_table(text, path, dir);
}

}  // namespace sop::sim
