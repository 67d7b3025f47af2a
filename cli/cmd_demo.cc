// sop demo: the main job end to end on the built-in default model (synthetic:llm, Llama-shaped with
// LLM-like outlier channels): quantize, compare with the FP8 baseline, pack with the SOP recipe,
// simulate the decode unit (transaction-level and RTL), estimate energy and area, sweep LUT SRAM
// sizes, and write the report. Every step prints where its output is.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/error.h"
#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "sim/estimate.h"
#include "model/hw/hw_config.h"
#include "sim/report.h"
#include "sim/sweep.h"
#include "sim/clock.h"
#include "sim/tech.h"
#include "sim/estimate_simulated.h"
#include "model/tlm/system.h"

namespace sop::cli {

void print_eval_report(const EvalReport& report, bool per_tensor, std::ostream& out);
void write_json_report(const std::string& path, const nlohmann::json& j);

namespace {

namespace fs = std::filesystem;

class StepClock {
 public:
  void step(const std::string& title) {
    std::cout << "\n== " << ++count_ << ". " << title << "\n" << std::flush;
    start_ = std::chrono::steady_clock::now();
  }
  void done(const std::string& where) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::cout << "   -> " << where << "  (" << std::fixed << std::setprecision(1) << s << " s)\n" << std::flush;
  }

 private:
  int count_ = 0;
  std::chrono::steady_clock::time_point start_;
};

std::string require_file(const fs::path& p) {
  if (!fs::exists(p)) {
    throw Error(p.string(), "", "not found: pass --configs with the folder holding quant/, hw/ and tech/");
  }
  return fs::absolute(p).string();
}

}  // namespace

int run_demo(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, out_dir, configs_dir;
  int threads = 0;
  desc.add_options()
      ("model,m", po::value(&model_path)->default_value("synthetic:llm"), "model to run on (default: the built-in LLM-like model)")
      ("out,o", po::value(&out_dir)->default_value("sop-demo"), "directory for every result")
      ("configs", po::value(&configs_dir)->default_value(std::string(SOP_SOURCE_DIR) + "/configs"),
       "folder with quant/, hw/ and tech/ configs")
      ("quick", "skip the LUT SRAM sweep and the report")
      ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores)");
  add_max_memory_option(desc);
  po::variables_map vm;
  if (auto code = parse_options("demo", "[--model PATH] [--out DIR]", desc, args, vm)) return *code;
  int usage_error = 0;
  const auto model = open_model_with_budget("demo", model_path, vm, &usage_error);
  if (!model) return usage_error;
  if (vm.count("max-memory")) {
    // Refused before any output folder exists: reading a tensor over the budget throws the budget's
    // error (naming the file and tensor) before anything is allocated.
    const uint64_t budget = parse_memory_size(vm["max-memory"].as<std::string>());
    for (const TensorInfo& t : model->tensors()) {
      if (static_cast<uint64_t>(t.element_count()) > budget / sizeof(float)) (void)model->read(t.name);
    }
  }

  const fs::path configs(configs_dir);
  const std::string recipe_path = require_file(configs / "quant" / "sop-4.5.yaml");
  const std::string hw_path = require_file(configs / "hw" / "default.yaml");
  const std::string tech_path = require_file(configs / "tech" / "45nm.yaml");
  fs::create_directories(out_dir);
  const fs::path out = fs::absolute(out_dir);
  StepClock clock;
  std::cout << "sop demo on " << model_path << ", results in " << out.string() << "\n";

  // 1. The headline: FP6 with a UE4M4 block scale against per-tensor power-of-two FP8, and SOP at 4.5.
  clock.step("quantize every matrix: E2M3sUE4M4 (FP6), E4M3-POT (FP8 baseline), SOP-4.5");
  EvalOptions eval_opts;
  eval_opts.threads = threads;
  const EvalReport report = evaluate_model(*model, {"E2M3sUE4M4", "E4M3-POT", "SOP-4.5"}, eval_opts);
  print_eval_report(report, false, std::cout);
  const FormatSummary& fp6 = report.summary[0];
  const FormatSummary& fp8 = report.summary[1];
  std::cout << "   " << fp6.format << " at " << std::setprecision(2) << fp6.bpw << " bpw vs " << fp8.format << " at "
            << fp8.bpw << " bpw: " << std::showpos << (fp6.mean_sqnr_db - fp8.mean_sqnr_db) << std::noshowpos
            << " dB mean SQNR (" << (fp6.mean_sqnr_db > fp8.mean_sqnr_db ? "FP6 block-scaled wins" : "FP8 wins") << ")\n";
  const std::string eval_json = (out / "eval.json").string();
  write_json_report(eval_json, report_to_json(report));
  clock.done(eval_json);

  // 2. The pack file the hardware reads.
  clock.step("pack with the SOP recipe (" + recipe_path + ")");
  const Recipe recipe = load_recipe(recipe_path);
  QuantizeRequest request;
  request.model_path = model_path;
  request.out_path = (out / "model.sop").string();
  request.threads = threads;
  const QuantizeSummary packed = quantize_model_to_pack(*model, recipe, request);
  std::cout << "   " << packed.layers.size() << " matrices, " << std::setprecision(4) << packed.bpw()
            << " bpw, knapsack gap " << std::setprecision(3) << 100 * packed.knapsack_gap << " %, "
            << packed.pack_bytes << " bytes\n";
  clock.done(request.out_path);

  hw::HwConfig hw = hw::load_hw_config(hw_path);
  const sim::TechTable tech = sim::load_tech_table(tech_path);
  // The clock against the unit's static timing, scaled to the tech node (docs/estimate.md).
  std::cout << "   " << sim::apply_clock(hw, tech).describe(tech.name) << "\n";
  const sim::Design design = sim::design_from_hw(hw, 0);
  const sim::Workload workload = sim::workload_from_pack(request.out_path, "demo");
  sim::ActionCounts counts = sim::count_actions(workload, design);

  // 3. One token pass through the SystemC model, transaction-level and RTL side by side.
  clock.step("simulate one token pass: TLM engine and verilated RTL engine (" + hw_path + ")");
  hw::HwConfig simulated = hw;
  if (simulated.dram.bandwidth_gb_s <= 0) simulated.dram.bandwidth_gb_s = design.dram_gb_s;
  if (simulated.dram.latency_ns <= 0) simulated.dram.latency_ns = design.dram_latency_ns;
  sysc::SimulateOptions tlm_run, rtl_run;
  tlm_run.engine = sysc::Engine::Tlm;
  rtl_run.engine = sysc::Engine::Rtl;
  // In a child process: the sweep below simulates every point in processes forked from this one.
  const auto runs = sim::simulate_in_child_process(simulated, sysc::Workload::from_pack(request.out_path), {tlm_run, rtl_run});
  nlohmann::json sim_json = nlohmann::json::array();
  for (const sysc::SimulateResult& r : runs) {
    std::cout << "   " << std::left << std::setw(4) << r.engine << std::right << " " << r.cycles << " cycles, "
              << std::setprecision(2) << r.weights_per_cycle << " weights/cycle, " << std::setprecision(0)
              << r.tokens_per_s << " tokens/s, scoreboard " << r.checked << " checked, " << r.mismatches
              << " mismatches\n";
    sim_json.push_back({{"engine", r.engine}, {"cycles", r.cycles}, {"weights", r.weights},
                        {"tokens_per_s", r.tokens_per_s}, {"checked", r.checked}, {"mismatches", r.mismatches}});
  }
  if (runs.size() == 2 && runs[0].cycles > 0) {
    const double diff = 100.0 * (static_cast<double>(runs[1].cycles) - static_cast<double>(runs[0].cycles)) /
                        static_cast<double>(runs[0].cycles);
    std::cout << "   RTL vs TLM cycles: " << std::showpos << std::setprecision(2) << diff << std::noshowpos << " %\n";
  }
  const std::string sim_path = (out / "simulate.json").string();
  write_json_report(sim_path, sim_json);
  counts = sim::counts_from_simulation(runs[0], workload, design);
  clock.done(sim_path);

  // 4. Energy, area and cost from the action counts.
  clock.step("estimate energy, area and cost (" + tech_path + ")");
  const sim::Estimate e = sim::estimate(counts, design, tech);
  const nlohmann::json est = sim::estimate_to_json(e);
  const std::string est_path = (out / "estimate.json").string();
  write_json_report(est_path, {{"design", sim::design_to_json(design)}, {"estimate", est}});
  std::cout << std::setprecision(3) << "   " << e.pj_per_weight << " pJ per decoded weight (" << e.pj_per_weight_on_chip
            << " in the decode unit, the rest DRAM), " << e.energy_per_token_pj / 1e6 << " uJ per token, "
            << e.area_mm2 << " mm2, " << std::setprecision(0) << e.tokens_per_s << " tokens/s, relative die cost "
            << std::setprecision(3) << e.relative_die_cost << "\n";
  clock.done(est_path);

  if (vm.count("quick")) return 0;

  // 5. A small LUT SRAM sweep over the packed model, HIF against FP16 entries, and its report.
  clock.step("sweep LUT SRAM sizes x HIF/FP16 entries and write the report");
  const std::string sweep_yaml =
      "schema_version: 1\nsweep: 1\nname: demo\ndescription: LUT SRAM size x LUT entry format on the demo model\n"
      "tech: " + tech_path + "\nhw: " + hw_path + "\n"
      "models:\n  demo:\n    pack: " + request.out_path + "\n    quality: false\n"
      "axes:\n  entry_format: [hif, fp16]\n  lut_sram_bytes: [128, 512, 2048, 8192]\n";
  const sim::SweepSpec spec = sim::parse_sweep(sweep_yaml, (out / "demo-sweep.yaml").string(), out.string());
  sim::SweepRunOptions sweep_opts;
  sweep_opts.out_dir = (out / "sweep").string();
  sweep_opts.jobs = threads;
  const sim::SweepRunSummary s = sim::run_sweep(spec, sweep_opts);
  std::cout << "   " << s.ran << " points run, " << s.skipped << " already done, " << s.failed << " failed\n";
  const sim::ReportFiles files = sim::write_report(sweep_opts.out_dir);
  clock.done(files.html);
  std::cout << "\nopen " << files.html << " in a browser; the summary is " << files.markdown << "\n";
  return s.failed == 0 ? 0 : 1;
}

}  // namespace sop::cli
