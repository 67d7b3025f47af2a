// sop report: a self-contained HTML page with SVG plots and a Markdown summary of a sweep's results.
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "sim/report.h"

namespace sop::cli {

int run_report(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string dir, out;
  desc.add_options()
      ("dir", po::value(&dir)->required(), "sweep output folder (with results.json)")
      ("out", po::value(&out), "where report.html, report.md and plots/ go (default: the sweep folder)");
  po::variables_map vm;
  if (auto code = parse_options("report", "DIR [--out DIR]", desc, args, vm, {"dir"})) return *code;
  const sim::ReportFiles f = sim::write_report(dir, out);
  std::cout << "wrote " << f.html << "\nwrote " << f.markdown << " (+ " << f.svgs.size() << " SVG plots)\n";
  return 0;
}

}  // namespace sop::cli
