// Sweep reports: a self-contained HTML page with inline SVG plots (no scripts, no external files) and a
// Markdown summary, from a sweep folder's results.json (docs/sweeps.md shows an example).
//
// Plots: energy per token, area, tokens/s and (when measured) SQNR against the LUT SRAM size (log2
// axis) per model; the Pareto front of energy per token against area; SQNR against energy per token
// with the points on the Pareto front over (fidelity, energy per token, area) marked, and that front
// as a table; a HIF vs FP16 (and BF16) table with LUT bits, area, pJ per weight and the SQNR change.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sop::sim {

// ---- A small SVG plotter ------------------------------------------------------------------------

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the given order
  bool line = true;                                // false: markers only
  std::string color;                               // empty: from the palette by index
};

struct Plot {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log2_x = false;         // powers-of-two ticks, labelled as byte sizes when bytes_x
  bool bytes_x = false;
  std::vector<PlotSeries> series;
  std::vector<std::pair<double, double>> highlight;  // e.g. a Pareto front, drawn as a thick line
  std::string highlight_name;
};

// An <svg> element (width x height px) with axes, ticks, labels, a legend and the series.
std::string render_svg(const Plot& plot, int width = 640, int height = 400);

// Points on the lower-left front of (x, y): no other point has both x and y smaller or equal.
std::vector<std::pair<double, double>> pareto_front(std::vector<std::pair<double, double>> points);

// Indices of the points no other point dominates when every coordinate is to be minimized (negate one
// to maximize it): a point is dominated by one that is at most as large in every coordinate and
// smaller in one. Equal points are all kept. Quadratic: reports hold thousands of points, not millions.
std::vector<std::size_t> pareto_optimal(const std::vector<std::vector<double>>& minimize);

// "512 B", "4 KiB", "1 MiB".
std::string format_bytes(double bytes);

// ---- The report -----------------------------------------------------------------------------------

struct ReportFiles {
  std::string html;
  std::string markdown;
  std::vector<std::string> svgs;  // the same plots as files, for the Markdown summary
};

// Writes DIR/report.html, DIR/report.md and DIR/plots/*.svg from DIR/results.json (or out_dir when given).
ReportFiles write_report(const std::string& sweep_dir, const std::string& out_dir = "");

}  // namespace sop::sim
