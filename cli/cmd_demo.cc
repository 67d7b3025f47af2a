// sop demo: the main job on the built-in default model. It quantizes the synthetic LLM-like model
// with the paper's FP6 format and the per-tensor power-of-two FP8 baseline and compares them.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"

namespace sop::cli {

void print_eval_report(const EvalReport& report, bool per_tensor, std::ostream& out);
void write_json_report(const std::string& path, const nlohmann::json& j);

int run_demo(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, out_dir;
  desc.add_options()
      ("model,m", po::value(&model_path)->default_value("synthetic:llm"), "model to run on (default: the built-in LLM-like model)")
      ("out,o", po::value(&out_dir)->default_value("sop-demo"), "directory for the results")
      ("threads", po::value<int>()->default_value(0), "worker threads (0: all cores)");
  po::variables_map vm;
  if (auto code = parse_options("demo", "[--model PATH] [--out DIR]", desc, args, vm)) return *code;

  std::cout << "sop demo: quantizing " << model_path << "\n";
  const auto model = open_model(model_path);
  EvalOptions opts;
  opts.threads = vm["threads"].as<int>();
  const std::vector<std::string> formats = {"E2M3sUE4M4", "E4M3-POT"};
  const EvalReport report = evaluate_model(*model, formats, opts);
  print_eval_report(report, false, std::cout);

  const FormatSummary& fp6 = report.summary[0];
  const FormatSummary& fp8 = report.summary[1];
  std::cout << "\n" << fp6.format << " at " << fp6.bpw << " bpw vs " << fp8.format << " at " << fp8.bpw
            << " bpw: " << (fp6.mean_sqnr_db - fp8.mean_sqnr_db) << " dB mean SQNR difference ("
            << (fp6.mean_sqnr_db > fp8.mean_sqnr_db ? "FP6 block-scaled wins" : "FP8 wins") << ")\n";

  std::filesystem::create_directories(out_dir);
  const std::string json_path = (std::filesystem::path(out_dir) / "eval.json").string();
  write_json_report(json_path, report_to_json(report));
  std::cout << "results: " << json_path << "\n";
  return 0;
}

}  // namespace sop::cli
