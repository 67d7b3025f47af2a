#include "sim/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "base/atomic_file.h"
#include "base/error.h"
#include "sim/sweep.h"

namespace sop::sim {
namespace fs = std::filesystem;
namespace {

// Colour-blind-safe palette (Okabe-Ito).
const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, const char* fmt = "%.4g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// 1, 2 or 5 times a power of ten, near range / target.
double nice_step(double range, int target) {
  if (!(range > 0)) return 1;
  const double raw = range / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

struct Row {
  std::string model, recipe, block, format, series;
  double lanes = 0, lut_bytes = 0, energy_uj = 0, pj_weight = 0, pj_weight_chip = 0, area_mm2 = 0, tokens_s = 0;
  double pair_bits = 0, resident = 0, pairs = 0, cost = 0, bpw = 0, slot_tables = 0;
  double counted_bpw = std::numeric_limits<double>::quiet_NaN();  // every bit the pack counts
  double sqnr = std::numeric_limits<double>::quiet_NaN();
  bool clock_over_limit = false;  // its clock is above what its unit meets at the tech node
};

// One table row, as HTML (<tr><td>..) or as a Markdown line.
std::string table_row(const std::vector<std::string>& cells, bool html) {
  std::ostringstream o;
  if (html) {
    o << "<tr>";
    for (const auto& cell : cells) o << "<td>" << xml_escape(cell) << "</td>";
    o << "</tr>\n";
  } else {
    o << "|";
    for (const auto& cell : cells) o << " " << cell << " |";
    o << "\n";
  }
  return o.str();
}

}  // namespace

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (bytes >= 1024 && u < 3) {
    bytes /= 1024;
    ++u;
  }
  return num(bytes, "%.4g") + " " + units[u];
}

std::vector<std::pair<double, double>> pareto_front(std::vector<std::pair<double, double>> points) {
  std::sort(points.begin(), points.end());
  std::vector<std::pair<double, double>> front;
  double best_y = std::numeric_limits<double>::infinity();
  for (const auto& p : points) {
    if (p.second < best_y) {
      // Equal x: only the lowest y survives (the sort puts it first).
      if (!front.empty() && front.back().first == p.first) continue;
      front.push_back(p);
      best_y = p.second;
    }
  }
  return front;
}

std::vector<std::size_t> pareto_optimal(const std::vector<std::vector<double>>& minimize) {
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < minimize.size(); ++i) {
    bool dominated = false;
    for (std::size_t j = 0; j < minimize.size() && !dominated; ++j) {
      if (j == i || minimize[j].size() != minimize[i].size()) continue;
      bool no_worse = true, better = false;
      for (std::size_t k = 0; k < minimize[i].size(); ++k) {
        if (minimize[j][k] > minimize[i][k]) no_worse = false;
        if (minimize[j][k] < minimize[i][k]) better = true;
      }
      dominated = no_worse && better;
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

std::string render_svg(const Plot& plot, int width, int height) {
  const double left = 78, right = 190, top = 36, bottom = 52;
  const double pw = width - left - right, ph = height - top - bottom;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  auto extend = [&](const std::pair<double, double>& p) {
    if (!std::isfinite(p.first) || !std::isfinite(p.second)) return;
    if (plot.log2_x && p.first <= 0) return;
    x0 = std::min(x0, p.first);
    x1 = std::max(x1, p.first);
    y0 = std::min(y0, p.second);
    y1 = std::max(y1, p.second);
  };
  for (const auto& s : plot.series) for (const auto& p : s.points) extend(p);
  for (const auto& p : plot.highlight) extend(p);
  std::ostringstream o;
  o << "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<title>" << xml_escape(plot.title) << "</title>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">"
    << xml_escape(plot.title) << "</text>\n";
  if (!std::isfinite(x0)) {
    o << "<text x=\"" << width / 2 << "\" y=\"" << height / 2 << "\" text-anchor=\"middle\">no data</text>\n</svg>\n";
    return o.str();
  }
  // Y from zero when the data sit well above it, so that differences are not exaggerated.
  if (y0 >= 0 && y0 < 0.5 * y1) y0 = 0;
  if (y1 == y0) {
    const double pad = y0 == 0 ? 1 : std::abs(y0) * 0.1;
    y0 -= pad;
    y1 += pad;
  }
  const double ystep = nice_step(y1 - y0, 5);
  y0 = std::floor(y0 / ystep) * ystep;
  y1 = std::ceil(y1 / ystep) * ystep;
  double lx0 = x0, lx1 = x1;
  if (plot.log2_x) {
    lx0 = std::floor(std::log2(x0));
    lx1 = std::ceil(std::log2(x1));
    if (lx1 == lx0) lx1 += 1;
  } else if (x1 == x0) {
    lx0 = x0 - 1;
    lx1 = x1 + 1;
  }
  const auto sx = [&](double x) {
    const double v = plot.log2_x ? std::log2(x) : x;
    return left + (v - lx0) / (lx1 - lx0) * pw;
  };
  const auto sy = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

  // Grid, ticks and labels.
  o << "<g stroke=\"#ddd\">\n";
  for (double y = y0; y <= y1 + ystep / 2; y += ystep) {
    o << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << sy(y) << "\" y2=\"" << sy(y) << "\"/>\n";
  }
  o << "</g>\n<g text-anchor=\"end\">\n";
  for (double y = y0; y <= y1 + ystep / 2; y += ystep) {
    o << "<text x=\"" << left - 6 << "\" y=\"" << sy(y) + 4 << "\">" << num(std::abs(y) < ystep * 1e-6 ? 0 : y) << "</text>\n";
  }
  o << "</g>\n<g text-anchor=\"middle\">\n";
  if (plot.log2_x) {
    const int span = static_cast<int>(lx1 - lx0);
    const int every = span > 10 ? 2 : 1;
    for (int e = static_cast<int>(lx0); e <= static_cast<int>(lx1); e += every) {
      const double x = std::pow(2.0, e);
      o << "<line x1=\"" << sx(x) << "\" x2=\"" << sx(x) << "\" y1=\"" << top + ph << "\" y2=\"" << top + ph + 5
        << "\" stroke=\"#333\"/>\n<text x=\"" << sx(x) << "\" y=\"" << top + ph + 18 << "\">"
        << xml_escape(plot.bytes_x ? format_bytes(x) : num(x)) << "</text>\n";
    }
  } else {
    const double xstep = nice_step(lx1 - lx0, 6);
    for (double x = std::ceil(lx0 / xstep) * xstep; x <= lx1 + xstep * 1e-9; x += xstep) {
      o << "<line x1=\"" << sx(x) << "\" x2=\"" << sx(x) << "\" y1=\"" << top + ph << "\" y2=\"" << top + ph + 5
        << "\" stroke=\"#333\"/>\n<text x=\"" << sx(x) << "\" y=\"" << top + ph + 18 << "\">" << num(x) << "</text>\n";
    }
  }
  o << "</g>\n"
    << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"" << height - 12 << "\" text-anchor=\"middle\">" << xml_escape(plot.x_label)
    << "</text>\n"
    << "<text transform=\"translate(16," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(plot.y_label) << "</text>\n";

  // The highlighted front under the series, then the series, then the legend.
  if (plot.highlight.size() > 0) {
    o << "<polyline class=\"front\" fill=\"none\" stroke=\"#999\" stroke-width=\"6\" stroke-opacity=\"0.5\" points=\"";
    for (const auto& p : plot.highlight) o << sx(p.first) << "," << sy(p.second) << " ";
    o << "\"/>\n";
  }
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    const PlotSeries& s = plot.series[i];
    const std::string color = s.color.empty() ? kPalette[i % 8] : s.color;
    o << "<g class=\"series\" fill=\"" << color << "\" stroke=\"" << color << "\"><title>" << xml_escape(s.name) << "</title>\n";
    if (s.line && s.points.size() > 1) {
      o << "<polyline fill=\"none\" stroke-width=\"2\" points=\"";
      for (const auto& p : s.points) o << sx(p.first) << "," << sy(p.second) << " ";
      o << "\"/>\n";
    }
    for (const auto& p : s.points) o << "<circle cx=\"" << sx(p.first) << "\" cy=\"" << sy(p.second) << "\" r=\"3.5\"/>\n";
    o << "</g>\n";
  }
  double ly = top + 8;
  const double lx = left + pw + 14;
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    const std::string color = plot.series[i].color.empty() ? kPalette[i % 8] : plot.series[i].color;
    o << "<rect x=\"" << lx << "\" y=\"" << ly - 8 << "\" width=\"12\" height=\"12\" fill=\"" << color << "\"/>\n"
      << "<text x=\"" << lx + 18 << "\" y=\"" << ly + 2 << "\">" << xml_escape(plot.series[i].name) << "</text>\n";
    ly += 18;
  }
  if (!plot.highlight.empty()) {
    o << "<rect x=\"" << lx << "\" y=\"" << ly - 6 << "\" width=\"12\" height=\"6\" fill=\"#999\" fill-opacity=\"0.5\"/>\n"
      << "<text x=\"" << lx + 18 << "\" y=\"" << ly + 2 << "\">" << xml_escape(plot.highlight_name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

ReportFiles write_report(const std::string& sweep_dir, const std::string& out_dir_arg) {
  const std::string out_dir = out_dir_arg.empty() ? sweep_dir : out_dir_arg;
  const SweepResults results = read_results(sweep_dir);
  const std::string& sweep_name = results.sweep;
  const std::set<std::string> axes(results.axes.begin(), results.axes.end());

  std::vector<Row> rows;
  // Where the counts came from, and an analytic sweep's error against the SystemC model.
  const std::string counts_words = results.counts == "simulate"
                                       ? "action counts from the SystemC model (TLM engine, one token pass per point)"
                                       : "action counts from the analytic model (--counts analytic)";
  const CountsCheckSummary check = summarize_counts_checks(results.points);
  char check_head[200];
  std::snprintf(check_head, sizeof check_head,
                "%d sampled points simulated as well: tokens/s error at most %.2f %%, mean %.2f %%; %d refused by the "
                "SystemC model.",
                check.checked, 100 * check.max_abs_tokens_per_s_error, 100 * check.mean_abs_tokens_per_s_error, check.refused);
  std::vector<std::pair<int, std::string>> failures;
  // Points whose clock is above what their unit meets at the tech node (sim/clock.h): flagged here,
  // since their tokens/s and power are not reachable at that clock.
  std::vector<std::string> clock_warnings;
  int clock_unchecked = 0;
  for (const PointRecord& p : results.points) {
    if (!p.ok()) {
      failures.emplace_back(p.index, p.key + ": " + p.error);
      continue;
    }
    if (p.estimate.clock_over_limit) {
      char line[600];
      std::snprintf(line, sizeof line, "point %d (%s): clock %.0f MHz above the %.0f MHz its unit meets (%s)", p.index,
                    p.key.c_str(), p.design.clock_mhz, p.estimate.clock_limit_mhz, p.estimate.clock_basis.c_str());
      clock_warnings.push_back(line);
    } else if (!(p.estimate.clock_limit_mhz > 0)) {
      ++clock_unchecked;
    }
    Row r;
    const Design& d = p.design;
    const Estimate& e = p.estimate;
    r.model = p.model;
    r.recipe = p.recipe;
    r.block = p.axes.count("block") ? p.axes.at("block") : "";
    r.format = entry_format_info(d.entry_format).name;
    r.lanes = d.lanes;
    r.lut_bytes = static_cast<double>(d.lut_sram_bytes);
    r.pair_bits = static_cast<double>(d.pair_bits());
    r.slot_tables = d.tables_per_layer;
    r.energy_uj = e.energy_per_token_pj * 1e-6;
    r.pj_weight = e.pj_per_weight;
    r.pj_weight_chip = e.pj_per_weight_on_chip;
    r.area_mm2 = e.area_mm2;
    r.tokens_s = e.tokens_per_s;
    r.cost = e.relative_die_cost;
    r.resident = e.counts.resident_slots;
    r.pairs = e.counts.table_pairs;
    r.bpw = p.quality.bpw;
    if (p.quality.counted_bpw) r.counted_bpw = *p.quality.counted_bpw;
    r.clock_over_limit = e.clock_over_limit;
    if (p.quality.sqnr_db) r.sqnr = *p.quality.sqnr_db;
    // A series is everything but the model and the LUT size: the entry format, then the other axes
    // that vary in this sweep, in the axis table's order and words.
    std::string s = r.format;
    for (const SweepAxis& a : sweep_axes()) {
      if (a.series_label && p.axes.count(a.name)) s += " " + a.series_label(p.axes.at(a.name));
    }
    r.series = s;
    rows.push_back(r);
  }
  std::vector<std::string> models;
  for (const Row& r : rows) {
    if (std::find(models.begin(), models.end(), r.model) == models.end()) models.push_back(r.model);
  }

  struct Figure {
    std::string file;
    std::string svg;
    std::string caption;
  };
  std::vector<Figure> figures;
  const auto series_of = [&](const std::string& model, double Row::*y) {
    std::map<std::string, PlotSeries> by;
    std::vector<std::string> order;
    for (const Row& r : rows) {
      if (r.model != model) continue;
      if (!by.count(r.series)) order.push_back(r.series);
      by[r.series].name = r.series;
      by[r.series].points.emplace_back(r.lut_bytes, r.*y);
    }
    std::vector<PlotSeries> out;
    for (const auto& name : order) {
      PlotSeries s = by[name];
      std::sort(s.points.begin(), s.points.end());
      out.push_back(s);
    }
    return out;
  };
  const auto slug = [](std::string s) {
    for (char& c : s) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    return s;
  };
  // Marker-only series, one per series name in first-seen order, of (x, y) for the given rows.
  const auto scatter_by_series = [](const std::vector<const Row*>& subset, double Row::*x, double Row::*y) {
    std::map<std::string, PlotSeries> by;
    std::vector<std::string> order;
    for (const Row* r : subset) {
      if (!by.count(r->series)) order.push_back(r->series);
      by[r->series].name = r->series;
      by[r->series].line = false;
      by[r->series].points.emplace_back(r->*x, r->*y);
    }
    std::vector<PlotSeries> out;
    for (const auto& name : order) out.push_back(by[name]);
    return out;
  };
  // The points of a model with a measured SQNR, and those of them on the front over (SQNR up,
  // energy per token down, area down).
  const auto fidelity_rows = [&](const std::string& model) {
    std::vector<const Row*> out;
    for (const Row& r : rows) {
      if (r.model == model && !std::isnan(r.sqnr)) out.push_back(&r);
    }
    return out;
  };
  const auto three_way_front = [](const std::vector<const Row*>& mine) {
    std::vector<std::vector<double>> objectives;
    for (const Row* r : mine) objectives.push_back({-r->sqnr, r->energy_uj, r->area_mm2});
    return pareto_optimal(objectives);
  };
  for (const std::string& model : models) {
    const bool sweeps_lut = axes.count("lut_sram_bytes") != 0;
    struct Spec {
      const char* id;
      const char* title;
      const char* y_label;
      double Row::*y;
      const char* caption;
    };
    const Spec specs[] = {
        {"energy", "Energy per token", "energy per token (uJ)", &Row::energy_uj,
         "Energy per token, DRAM included, against the LUT SRAM size."},
        {"onchip", "On-chip energy per decoded weight", "pJ per weight (decode unit)", &Row::pj_weight_chip,
         "Energy per decoded weight in the decode unit alone (LUT SRAM, flop LUT, lanes, registers, leakage)."},
        {"area", "Area", "area (mm^2)", &Row::area_mm2, "Decode unit area: LUT SRAM, flop LUT and muxes, lanes, control."},
        {"tokens", "Tokens per second", "tokens/s", &Row::tokens_s, "Decode throughput, batch 1."},
    };
    bool has_sqnr = false;
    for (const Row& r : rows) has_sqnr = has_sqnr || (r.model == model && !std::isnan(r.sqnr));
    if (sweeps_lut && has_sqnr) {
      Plot p;
      p.title = "Fidelity - " + model;
      p.x_label = "LUT SRAM size";
      p.y_label = "SQNR (dB)";
      p.log2_x = true;
      p.bytes_x = true;
      p.series = series_of(model, &Row::sqnr);
      for (PlotSeries& s : p.series) {
        s.points.erase(std::remove_if(s.points.begin(), s.points.end(), [](const auto& xy) { return std::isnan(xy.second); }),
                       s.points.end());
      }
      figures.push_back({slug(model) + "-fidelity.svg", render_svg(p),
                         "SQNR of the pack each LUT size was quantized for (its tables are the ones that fit the LUT), "
                         "against the LUT SRAM size."});
    }
    if (sweeps_lut) {
      for (const Spec& s : specs) {
        Plot p;
        p.title = s.title + std::string(" - ") + model;
        p.x_label = "LUT SRAM size";
        p.y_label = s.y_label;
        p.log2_x = true;
        p.bytes_x = true;
        p.series = series_of(model, s.y);
        figures.push_back({slug(model) + "-" + s.id + ".svg", render_svg(p), s.caption});
      }
    }
    // Pareto front of energy per token against area, over every point of this model.
    Plot p;
    p.title = "Energy vs area - " + model;
    p.x_label = "area (mm^2)";
    p.y_label = "energy per token (uJ)";
    std::vector<const Row*> all_rows;
    for (const Row& r : rows) {
      if (r.model == model) all_rows.push_back(&r);
    }
    p.series = scatter_by_series(all_rows, &Row::area_mm2, &Row::energy_uj);
    std::vector<std::pair<double, double>> all;
    for (const Row* r : all_rows) all.emplace_back(r->area_mm2, r->energy_uj);
    p.highlight = pareto_front(all);
    p.highlight_name = "Pareto front";
    figures.push_back({slug(model) + "-pareto.svg", render_svg(p),
                       "Every design point; the grey line joins the Pareto-optimal ones (no other point has both less "
                       "area and less energy)."});
    if (has_sqnr) {
      // Fidelity against energy, the three-way front marked (area is the third coordinate).
      Plot f;
      f.title = "Fidelity vs energy - " + model;
      f.x_label = "energy per token (uJ)";
      f.y_label = "SQNR (dB)";
      PlotSeries front;
      front.name = "Pareto (SQNR, energy, area)";
      front.line = false;
      front.color = "#000000";
      const std::vector<const Row*> mine = fidelity_rows(model);
      f.series = scatter_by_series(mine, &Row::energy_uj, &Row::sqnr);
      for (std::size_t i : three_way_front(mine)) front.points.emplace_back(mine[i]->energy_uj, mine[i]->sqnr);
      f.series.push_back(front);
      figures.push_back({slug(model) + "-fidelity-energy.svg", render_svg(f),
                         "SQNR against energy per token for every point with a measured SQNR; black markers: the "
                         "points no other point beats in SQNR, energy per token and area at once."});
    }
  }

  // HIF vs FP16 (vs BF16): per model, at the smallest LUT size where every format holds all of the
  // model's table pairs (else the largest size), the other axes at their first value.
  struct Comparison {
    std::string model;
    std::vector<Row> rows;
  };
  std::vector<Comparison> comparisons;
  for (const std::string& model : models) {
    std::vector<Row> mine;
    for (const Row& r : rows) {
      if (r.model == model) mine.push_back(r);
    }
    if (mine.empty()) continue;
    const Row& first = mine.front();
    std::vector<Row> same;
    for (const Row& r : mine) {
      if (r.lanes == first.lanes && r.recipe == first.recipe && r.block == first.block) same.push_back(r);
    }
    std::set<std::string> formats;
    std::set<double> sizes;
    for (const Row& r : same) {
      formats.insert(r.format);
      sizes.insert(r.lut_bytes);
    }
    if (formats.size() < 2) continue;
    double chosen = *sizes.rbegin();
    for (double size : sizes) {
      bool all_fit = true;
      for (const Row& r : same) {
        if (r.lut_bytes == size && r.resident < r.pairs) all_fit = false;
      }
      if (all_fit) {
        chosen = size;
        break;
      }
    }
    Comparison c;
    c.model = model;
    for (const char* f : {"hif", "fp16", "bf16"}) {
      for (const Row& r : same) {
        if (r.lut_bytes == chosen && r.format == f) c.rows.push_back(r);
      }
    }
    comparisons.push_back(c);
  }

  const auto comparison_rows = [&](const Comparison& c, bool html) {
    std::ostringstream o;
    double hif_sqnr = std::numeric_limits<double>::quiet_NaN();
    for (const Row& r : c.rows) {
      if (r.format == "hif") hif_sqnr = r.sqnr;
    }
    for (const Row& r : c.rows) {
      const std::string sq = std::isnan(r.sqnr) ? "-" : num(r.sqnr, "%.2f");
      const std::string dsq = std::isnan(r.sqnr) || std::isnan(hif_sqnr) ? "-" : num(r.sqnr - hif_sqnr, "%+.3f");
      const std::vector<std::string> cells = {r.format, num(r.pair_bits, "%.0f"), format_bytes(r.lut_bytes),
                                              num(std::min(r.resident, r.pairs), "%.0f") + "/" + num(r.pairs, "%.0f"),
                                              num(r.area_mm2, "%.4f"), num(r.pj_weight, "%.3f"), num(r.pj_weight_chip, "%.4f"),
                                              num(r.tokens_s, "%.4g"), sq, dsq};
      o << table_row(cells, html);
    }
    return o.str();
  };
  const std::vector<std::string> comparison_head = {"entry format", "LUT bits per slot", "LUT SRAM", "resident pairs",
                                                    "area mm^2", "pJ/weight", "pJ/weight on chip", "tokens/s", "SQNR dB",
                                                    "SQNR change vs HIF"};

  // Best points per model: least energy, least area, most tokens/s.
  const auto best_lines = [&](const std::string& model) {
    const Row* e = nullptr;
    const Row* a = nullptr;
    const Row* t = nullptr;
    for (const Row& r : rows) {
      if (r.model != model) continue;
      if (!e || r.energy_uj < e->energy_uj) e = &r;
      if (!a || r.area_mm2 < a->area_mm2) a = &r;
      if (!t || r.tokens_s > t->tokens_s) t = &r;
    }
    std::vector<std::string> out;
    const auto flag = [](const Row* r) { return r->clock_over_limit ? " (warning: clock above its limit)" : ""; };
    if (e) out.push_back("least energy: " + e->series + ", LUT SRAM " + format_bytes(e->lut_bytes) + ": " + num(e->energy_uj) +
                         " uJ/token, " + num(e->pj_weight) + " pJ/weight, " + num(e->area_mm2) + " mm^2" + flag(e));
    if (a) out.push_back("least area: " + a->series + ", LUT SRAM " + format_bytes(a->lut_bytes) + ": " + num(a->area_mm2) +
                         " mm^2, " + num(a->energy_uj) + " uJ/token" + flag(a));
    if (t) out.push_back("most tokens/s: " + t->series + ", LUT SRAM " + format_bytes(t->lut_bytes) + ": " + num(t->tokens_s) +
                         " tokens/s" + flag(t));
    // What the LUT buys in fidelity: per series, the SQNR at its smallest and largest LUT size.
    std::map<std::string, std::pair<const Row*, const Row*>> span;
    std::vector<std::string> order;
    for (const Row* r : fidelity_rows(model)) {
      auto it = span.find(r->series);
      if (it == span.end()) {
        order.push_back(r->series);
        span[r->series] = {r, r};
        continue;
      }
      if (r->lut_bytes < it->second.first->lut_bytes) it->second.first = r;
      if (r->lut_bytes > it->second.second->lut_bytes) it->second.second = r;
    }
    for (const std::string& series : order) {
      const auto [lo, hi] = span[series];
      if (lo->lut_bytes == hi->lut_bytes) continue;
      out.push_back("fidelity, " + series + ": SQNR " + num(lo->sqnr, "%.2f") + " dB at " + format_bytes(lo->lut_bytes) +
                    ", " + num(hi->sqnr, "%.2f") + " dB at " + format_bytes(hi->lut_bytes) + " (" +
                    num(hi->sqnr - lo->sqnr, "%+.2f") + " dB) for " + num(hi->area_mm2 - lo->area_mm2, "%+.4f") + " mm^2 and " +
                    num(100 * (hi->energy_uj / lo->energy_uj - 1), "%+.1f") + " % energy per token");
    }
    return out;
  };

  // ---- HTML ----
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>sop sweep report: "
    << xml_escape(sweep_name) << "</title>\n<style>\n"
    << "body{font-family:sans-serif;max-width:1400px;margin:24px auto;padding:0 16px;color:#222}\n"
    << "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    << "th{background:#f3f3f3}td:first-child{text-align:left}\n"
    << ".figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:12px;color:#555;max-width:640px}\n"
    << "</style>\n</head>\n<body>\n<h1>Sweep report: " << xml_escape(sweep_name) << "</h1>\n";
  if (!results.description.empty()) h << "<p>" << xml_escape(results.description) << "</p>\n";
  h << "<p>" << results.points.size() << " of " << results.total_points << " points with results, "
    << failures.size() << " failed. Models: ";
  for (std::size_t i = 0; i < models.size(); ++i) h << (i ? ", " : "") << xml_escape(models[i]);
  h << ". Energies are per generated token (every quantized weight decoded once); " << xml_escape(counts_words)
    << ", energy per action from the technology table (docs/estimate.md).</p>\n";
  if (check.checked > 0) {
    h << "<h2 id=\"counts-check\">Analytic counts against the SystemC model</h2>\n<p>" << xml_escape(check_head)
      << "</p>\n<ul>\n";
    for (const std::string& line : check.lines) h << "<li>" << xml_escape(line) << "</li>\n";
    h << "</ul>\n";
  }
  const std::string clock_head =
      std::to_string(clock_warnings.size()) + " point(s) run a clock above what their unit meets at the tech node (" +
      "its measured critical path scaled by the Stillmaker-Baas delay equations, docs/estimate.md); their tokens/s "
      "and power are not reachable at that clock." +
      (clock_unchecked ? " " + std::to_string(clock_unchecked) + " point(s) have no timing measured for their unit." : "");
  if (!clock_warnings.empty() || clock_unchecked) {
    h << "<h2 id=\"clock\">Clock</h2>\n<p class=\"warning\">Warning: " << xml_escape(clock_head) << "</p>\n<ul>\n";
    for (const std::string& line : clock_warnings) h << "<li>" << xml_escape(line) << "</li>\n";
    h << "</ul>\n";
  }
  if (!comparisons.empty()) h << "<h2 id=\"hif-vs-fp16\">HIF vs FP16 LUT entries</h2>\n";
  for (const Comparison& c : comparisons) {
    h << "<h3>" << xml_escape(c.model) << "</h3>\n<table class=\"comparison\">\n<tr>";
    for (const auto& head : comparison_head) h << "<th>" << xml_escape(head) << "</th>";
    h << "</tr>\n" << comparison_rows(c, true) << "</table>\n";
  }
  const auto pareto_table = [&](const std::string& model, bool html) {
    const std::vector<const Row*> mine = fidelity_rows(model);
    std::vector<const Row*> front;
    for (std::size_t i : three_way_front(mine)) front.push_back(mine[i]);
    std::sort(front.begin(), front.end(), [](const Row* a, const Row* b) {
      return std::tie(a->lut_bytes, a->series, a->energy_uj) < std::tie(b->lut_bytes, b->series, b->energy_uj);
    });
    std::ostringstream o;
    const std::vector<std::string> head = {"series", "LUT SRAM", "tables per slot", "SQNR dB", "uJ/token", "area mm^2",
                                           "tokens/s", "bpw (all bits)", "bpw fetched (tables apart)"};
    if (front.empty()) return o.str();
    if (html) {
      o << "<table class=\"pareto\">\n<tr>";
      for (const auto& c : head) o << "<th>" << xml_escape(c) << "</th>";
      o << "</tr>\n";
    } else {
      o << table_row(head, false) << "|---|";
      for (std::size_t i = 1; i < head.size(); ++i) o << "---:|";
      o << "\n";
    }
    for (const Row* r : front) {
      const std::vector<std::string> cells = {r->series, format_bytes(r->lut_bytes), num(r->slot_tables, "%.0f"),
                                              num(r->sqnr, "%.2f"), num(r->energy_uj, "%.4g"), num(r->area_mm2, "%.4f"),
                                              num(r->tokens_s, "%.4g"),
                                              std::isnan(r->counted_bpw) ? "-" : num(r->counted_bpw, "%.4f"),
                                              num(r->bpw, "%.4f")};
      o << table_row(cells, html);
    }
    if (html) o << "</table>\n";
    return o.str();
  };
  const std::string pareto_words =
      "The points no other point beats in fidelity (SQNR), energy per token and area at once, by LUT SRAM size.";
  bool any_pareto = false;
  for (const std::string& model : models) any_pareto = any_pareto || !fidelity_rows(model).empty();
  if (any_pareto) {
    h << "<h2 id=\"pareto\">Pareto front: fidelity, energy per token, area</h2>\n<p>" << xml_escape(pareto_words) << "</p>\n";
    for (const std::string& model : models) {
      const std::string t = pareto_table(model, true);
      if (!t.empty()) h << "<h3>" << xml_escape(model) << "</h3>\n" << t;
    }
  }
  h << "<h2>Best points</h2>\n<ul>\n";
  for (const std::string& model : models) {
    for (const std::string& line : best_lines(model)) h << "<li>" << xml_escape(model) << ": " << xml_escape(line) << "</li>\n";
  }
  h << "</ul>\n<h2>Plots</h2>\n";
  for (const std::string& model : models) {
    h << "<h3>" << xml_escape(model) << "</h3>\n<div class=\"figs\">\n";
    for (const Figure& f : figures) {
      if (f.file.rfind(slug(model) + "-", 0) != 0) continue;
      h << "<figure>\n" << f.svg << "<figcaption>" << xml_escape(f.caption) << "</figcaption>\n</figure>\n";
    }
    h << "</div>\n";
  }
  if (!failures.empty()) {
    h << "<h2>Failed points</h2>\n<ul>\n";
    for (const auto& [i, msg] : failures) h << "<li>point " << i << ": " << xml_escape(msg) << "</li>\n";
    h << "</ul>\n";
  }
  h << "</body>\n</html>\n";

  // ---- Markdown ----
  std::ostringstream m;
  m << "# Sweep report: " << sweep_name << "\n\n";
  if (!results.description.empty()) m << results.description << "\n\n";
  m << results.points.size() << " of " << results.total_points << " points with results, " << failures.size()
    << " failed; " << counts_words << ". The full page with every plot: [report.html](report.html); the data: "
       "results.csv, results.json.\n\n";
  if (check.checked > 0) {
    m << "## Analytic counts against the SystemC model\n\n" << check_head << "\n\n";
    for (const std::string& line : check.lines) m << "- " << line << "\n";
    m << "\n";
  }
  if (!clock_warnings.empty() || clock_unchecked) {
    m << "## Clock\n\nWarning: " << clock_head << "\n\n";
    for (const std::string& line : clock_warnings) m << "- " << line << "\n";
    m << "\n";
  }
  if (!comparisons.empty()) m << "## HIF vs FP16 LUT entries\n\n";
  for (const Comparison& c : comparisons) {
    m << "### " << c.model << "\n\n|";
    for (const auto& head : comparison_head) m << " " << head << " |";
    m << "\n|";
    for (std::size_t i = 0; i < comparison_head.size(); ++i) m << (i == 0 ? "---|" : "---:|");
    m << "\n" << comparison_rows(c, false) << "\n";
  }
  if (any_pareto) {
    m << "## Pareto front: fidelity, energy per token, area\n\n" << pareto_words << "\n\n";
    for (const std::string& model : models) {
      const std::string t = pareto_table(model, false);
      if (!t.empty()) m << "### " << model << "\n\n" << t << "\n";
    }
  }
  m << "## Best points\n\n";
  for (const std::string& model : models) {
    for (const std::string& line : best_lines(model)) m << "- " << model << ": " << line << "\n";
  }
  m << "\n## Plots\n\n";
  ReportFiles files;
  fs::create_directories(fs::path(out_dir) / "plots");
  for (const Figure& f : figures) {
    m << "![" << f.caption << "](plots/" << f.file << ")\n\n";
    const std::string path = (fs::path(out_dir) / "plots" / f.file).string();
    write_file_atomically(path, [&](std::ostream& os) { os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" << f.svg; });
    files.svgs.push_back(path);
  }
  if (!failures.empty()) {
    m << "## Failed points\n\n";
    for (const auto& [i, msg] : failures) m << "- point " << i << ": " << msg << "\n";
  }
  files.html = (fs::path(out_dir) / "report.html").string();
  files.markdown = (fs::path(out_dir) / "report.md").string();
  write_file_atomically(files.html, [&](std::ostream& os) { os << h.str(); });
  write_file_atomically(files.markdown, [&](std::ostream& os) { os << m.str(); });
  return files;
}

}  // namespace sop::sim
