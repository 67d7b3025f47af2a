// sop bench: quantization throughput on a large synthetic matrix, in millions of weights per second.
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "quantizer/model_reader.h"
#include "base/parallel.h"
#include "quantizer/weight_format.h"

namespace sop::cli {

void write_json_report(const std::string& path, const nlohmann::json& j);

int run_bench(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string formats, json_path;
  int64_t rows = 8192, cols = 8192;
  int threads = 0, repeat = 3;
  desc.add_options()
      ("format,f", po::value(&formats)->default_value("E2M3sUE4M4,E4M3-POT"), "comma-separated weight formats")
      ("rows", po::value(&rows)->default_value(8192), "matrix rows")
      ("cols", po::value(&cols)->default_value(8192), "matrix columns (8192 x 8192 = 64M weights)")
      ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores)")
      ("repeat", po::value(&repeat)->default_value(3), "timed runs per format; the best is reported")
      ("json", po::value(&json_path), "also write the results as JSON");
  add_max_memory_option(desc);
  po::variables_map vm;
  if (auto code = parse_options("bench", "[--format NAMES] [--rows R --cols C] [--threads N]", desc, args, vm)) {
    return *code;
  }
  if (rows <= 0 || cols <= 0 || repeat <= 0) throw std::invalid_argument("--rows, --cols and --repeat must be positive");

  const std::string spec = "synthetic:gaussian?rows=" + std::to_string(rows) + "&cols=" + std::to_string(cols);
  int usage_error = 0;
  const auto model = open_model_with_budget("bench", spec, vm, &usage_error);
  if (!model) return usage_error;
  const Tensor w = model->read(model->tensors().front().name);
  const double n = static_cast<double>(w.values.size());
  QuantOptions opts;
  opts.threads = threads;
  std::cout << "matrix " << rows << " x " << cols << " (" << n / 1e6 << " M weights, " << spec << "), "
            << resolve_threads(threads) << " threads\n";
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& name : split_list(formats)) {
    const auto format = make_weight_format(name);
    double best = INFINITY;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const QuantResult q = format->quantize(w, opts);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, s);
      if (q.dequant.size() != w.values.size()) throw std::logic_error("format returned a wrong-sized result");
    }
    std::cout << "  " << std::left << std::setw(18) << name << std::right << std::fixed << std::setprecision(1)
              << std::setw(9) << n / best / 1e6 << " M weights/s  (" << std::setprecision(3) << best << " s)\n";
    results.push_back({{"format", name}, {"seconds", best}, {"mweights_per_s", n / best / 1e6}});
  }
  if (!json_path.empty()) {
    write_json_report(json_path, {{"rows", rows}, {"cols", cols}, {"threads", resolve_threads(threads)}, {"results", results}});
  }
  return 0;
}

}  // namespace sop::cli
