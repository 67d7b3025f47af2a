// sop eval: quantize a model's matrices with one or more formats and report the reconstruction error.
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <fstream>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "quantizer/recipe.h"
#include "cli/options.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "quantizer/calibrate/downstream.h"
#include "quantizer/calibrate/vocabulary.h"
#include "quantizer/evaluate.h"
#include "quantizer/model_reader.h"
#include "quantizer/sop/activation_stats.h"

namespace sop::cli {

// SOP formats: the option each matrix got (with the per-tensor table) and the knapsack's result.
void print_sop_choices(const EvalReport& report, bool per_tensor, std::ostream& out) {
  bool header = false;
  for (const EvalRow& r : report.rows) {
    if (!per_tensor || r.choice.is_null()) continue;
    if (!header) {
      out << "\n" << std::left << std::setw(44) << "tensor" << std::setw(16) << "format" << "chosen option\n";
      header = true;
    }
    std::string name = r.tensor.size() > 43 ? "..." + r.tensor.substr(r.tensor.size() - 40) : r.tensor;
    out << std::left << std::setw(44) << name << std::setw(16) << r.format << r.choice.value("option", "") << "\n";
  }
  for (const FormatSummary& s : report.summary) {
    if (s.plan.is_null()) continue;
    const nlohmann::json& p = s.plan;
    out << "\n" << s.format << " knapsack: budget " << std::fixed << std::setprecision(3)
        << p.value("budget_bpw", 0.0) << " bpw, achieved " << std::setprecision(4) << p.value("achieved_bpw", 0.0)
        << " bpw; error " << std::scientific << std::setprecision(4) << p.value("total_error", 0.0)
        << ", Lagrangian lower bound " << p.value("lower_bound", 0.0) << ", gap " << std::fixed
        << std::setprecision(3) << 100 * p.value("relative_gap", 0.0) << "% (" << p.value("matrices", 0)
        << " matrices";
    const int estimated = p.value("matrices_with_estimated_errors", 0);
    if (estimated > 0) out << ", " << estimated << " with errors measured on a row sample";
    out << ")\n";
  }
}

void print_eval_report(const EvalReport& report, bool per_tensor, std::ostream& out) {
  if (per_tensor) {
    out << std::left << std::setw(44) << "tensor" << std::setw(16) << "format" << std::right << std::setw(12)
        << "shape" << std::setw(8) << "bpw" << std::setw(10) << "SQNR dB" << std::setw(11) << "rel MSE"
        << std::setw(10) << "cosine" << "\n";
    for (const EvalRow& r : report.rows) {
      std::string name = r.tensor.size() > 43 ? "..." + r.tensor.substr(r.tensor.size() - 40) : r.tensor;
      const std::string shape = std::to_string(r.rows) + "x" + std::to_string(r.cols);
      out << std::left << std::setw(44) << name << std::setw(16) << r.format << std::right << std::setw(12) << shape
          << std::fixed << std::setprecision(3) << std::setw(8) << r.bpw << std::setprecision(2) << std::setw(10)
          << r.metrics.sqnr_db << std::scientific << std::setprecision(2) << std::setw(11) << r.metrics.rel_mse
          << std::fixed << std::setprecision(5) << std::setw(10) << r.metrics.cosine << "\n";
    }
    out << "\n";
  }
  out << std::left << std::setw(20) << "format" << std::right << std::setw(9) << "tensors" << std::setw(8) << "bpw"
      << std::setw(16) << "mean SQNR dB" << std::setw(13) << "mean cosine" << std::setw(11) << "mean ACos" << "\n";
  for (const FormatSummary& s : report.summary) {
    out << std::left << std::setw(20) << s.format << std::right << std::setw(9) << s.tensors << std::fixed
        << std::setprecision(3) << std::setw(8) << s.bpw << std::setprecision(2) << std::setw(16) << s.mean_sqnr_db
        << std::setprecision(5) << std::setw(13) << s.mean_cosine << std::setw(11) << s.mean_acos << "\n";
  }
  print_sop_choices(report, per_tensor, out);
}

void write_json_report(const std::string& path, const nlohmann::json& j) {
  write_file_atomically(path, [&](std::ostream& os) { os << j.dump(2) << "\n"; });
}

namespace {

// What --downstream scores: the --text file cut into llama-perplexity's chunks, or text sampled from
// `sampler` (the original model).
struct DownstreamText {
  std::vector<std::vector<int>> sequences;
  int first_scored = 0;
  std::string description;
};

DownstreamText downstream_text(const po::variables_map& vm, const ModelReader& vocabulary_source,
                               const LlamaModel& sampler) {
  DownstreamText d;
  if (vm.count("text")) {
    const std::string path = vm["text"].as<std::string>();
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "--text", "cannot open the text file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const Vocabulary vocab = vm.count("tokenizer") ? Vocabulary::from_llama2c_file(vm["tokenizer"].as<std::string>())
                                                   : Vocabulary::from_model(vocabulary_source);
    const std::vector<int> tokens = vocab.encode(text, true);
    const int ctx = vm["ctx"].as<int>();
    d.sequences = text_chunks(tokens, ctx, vm["chunks"].as<int>(), vocab.bos(), path);
    d.first_scored = ctx / 2;
    d.description = path + ": " + std::to_string(tokens.size()) + " tokens, " + std::to_string(d.sequences.size()) +
                    " chunks of " + std::to_string(ctx) + ", positions " + std::to_string(ctx / 2) + ".." +
                    std::to_string(ctx - 2) + " of each scored";
    return d;
  }
  TextSampling sampling;
  sampling.sequences = vm["downstream-sequences"].as<int>();
  sampling.tokens = vm["downstream-tokens"].as<int>();
  sampling.seed = vm["downstream-seed"].as<uint64_t>();
  if (sampling.sequences <= 0 || sampling.tokens <= 0) throw std::invalid_argument("--downstream-* must be positive");
  d.sequences = sample_sequences(sampler, sampling);
  d.description = std::to_string(sampling.sequences) + " x " + std::to_string(sampling.tokens) +
                  " tokens sampled from the original model";
  return d;
}

nlohmann::json downstream_json(const DownstreamMetrics& d) {
  return {{"kl_divergence", d.kl_divergence}, {"kl_standard_error", d.kl_standard_error},
          {"reference_ppl", d.reference_ppl}, {"quantized_ppl", d.quantized_ppl},
          {"top1_agreement", d.top1_agreement}, {"positions", d.positions}};
}

void print_downstream_header(const std::string& description, std::ostream& out) {
  out << "\ndownstream, " << description << ":\n"
      << std::left << std::setw(20) << "format" << std::right << std::setw(12) << "KL nats" << std::setw(11) << "+-"
      << std::setw(11) << "ppl orig" << std::setw(11) << "ppl quant" << std::setw(8) << "top-1" << "\n";
}

void print_downstream_row(const std::string& format, const DownstreamMetrics& d, std::ostream& out) {
  out << std::left << std::setw(20) << format << std::right << std::scientific << std::setprecision(3) << std::setw(12)
      << d.kl_divergence << std::setw(11) << d.kl_standard_error << std::fixed << std::setprecision(4) << std::setw(11)
      << d.reference_ppl << std::setw(11) << d.quantized_ppl << std::setprecision(3) << std::setw(8) << d.top1_agreement
      << "\n";
}

}  // namespace

int run_eval(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, formats, json_path, tensors;
  int threads = 0;
  desc.add_options()
      ("model,m", po::value(&model_path)->required(), "checkpoint: .safetensors, index.json, .gguf, or synthetic:<spec>")
      ("format,f", po::value(&formats)->default_value("E2M3sUE4M4,E4M3-POT"), "comma-separated weight formats (sop formats)")
      ("reference", po::value<std::string>(), "instead of quantizing: measure --model (a llama.cpp-quantized GGUF, say) "
                                              "against this checkpoint it was made from, tensor by tensor")
      ("json", po::value(&json_path), "also write the results as JSON to this file")
      ("tensors", po::value(&tensors), "only matrices whose name matches this regular expression")
      ("threads", po::value(&threads)->default_value(0), "worker threads (0: all cores)")
      ("lut-sram-bytes", po::value<long long>()->default_value(-1),
       "SOP formats: the decode unit's LUT SRAM their tables must fit or stream through (-1: the format's or "
       "recipe's own, 0: no limit); --format recipe:FILE.yaml evaluates a recipe's menu")
      ("lut-lanes", po::value<int>()->default_value(0), "lanes, for reload stalls of streamed row-group tables (0: 8)")
      ("activations", po::value<std::string>(), "per-input-channel E[x^2] (sop calibrate JSON or llama.cpp imatrix): "
                                                  "weights the search's errors and gives ACos")
      ("summary-only", "print only the per-format summary")
      ("downstream", "Llama-style models: also run the model, original and quantized, on text it samples "
                     "itself and report KL divergence, perplexity and top-1 agreement")
      ("text", po::value<std::string>(), "--downstream on this text file instead of sampled text, scored as "
                                         "llama-perplexity does (docs/downstream.md)")
      ("ctx", po::value<int>()->default_value(128), "--text: tokens per chunk (llama-perplexity -c)")
      ("chunks", po::value<int>()->default_value(0), "--text: at most this many chunks (0: all)")
      ("tokenizer", po::value<std::string>(), "--text: llama2.c tokenizer file (default: the GGUF's own)")
      ("downstream-sequences", po::value<int>()->default_value(4), "sequences for --downstream")
      ("downstream-tokens", po::value<int>()->default_value(128), "tokens per sequence for --downstream")
      ("downstream-seed", po::value<uint64_t>()->default_value(1000),
       "sampling seed for --downstream (differs from sop calibrate's default, so the text is held out)");
  add_max_memory_option(desc);
  po::variables_map vm;
  if (auto code = parse_options("eval", "--model PATH [--format NAME[,NAME...] | --reference PATH] [--json OUT]", desc, args, vm, {"model"})) {
    return *code;
  }
  int usage_error = 0;
  const auto model = open_model_with_budget("eval", model_path, vm, &usage_error);
  if (!model) return usage_error;
  EvalOptions opts;
  opts.tensor_regex = tensors;
  opts.threads = threads;
  opts.lut_sram_bytes = vm["lut-sram-bytes"].as<long long>();
  opts.lut_lanes = vm["lut-lanes"].as<int>();
  if (opts.lut_sram_bytes < -1 || opts.lut_sram_bytes > RecipeLimits::kMaxLutSramBytes) {
    throw Error("--lut-sram-bytes", std::to_string(opts.lut_sram_bytes), "out of range (-1, 0 for no limit, or up to 2^32 bytes)");
  }
  if (opts.lut_lanes < 0 || opts.lut_lanes > 4096) throw Error("--lut-lanes", std::to_string(opts.lut_lanes), "out of range (0 to 4096)");
  if (vm.count("activations")) {
    const std::string stats_path = vm["activations"].as<std::string>();
    ActivationStats stats = load_activation_stats(stats_path);
    check_activation_stats_fit(stats, stats_path, model->tensors());
    opts.tensor_importance = std::make_shared<const std::map<std::string, std::vector<float>>>(std::move(stats.channels));
  }
  opts.progress = [](std::size_t done, std::size_t total, const std::string& tensor, const std::string& format) {
    std::fprintf(stderr, "\r[%zu/%zu] %-40.40s %-16.16s", done, total, tensor.c_str(), format.c_str());
    if (done == total) std::fprintf(stderr, "\n");
  };
  if (vm.count("reference")) {
    if (!vm["format"].defaulted()) throw std::invalid_argument("--format and --reference exclude each other");
    const auto reference = open_model(vm["reference"].as<std::string>());
    const EvalReport report = compare_with_reference(*model, *reference, opts);
    std::cout << model_path << " against " << reference->path() << " (format = stored type):\n";
    print_eval_report(report, vm.count("summary-only") == 0, std::cout);
    nlohmann::json j = report_to_json(report);
    j["reference"] = reference->path();
    if (vm.count("downstream")) {
      const LlamaModel original(*reference);
      const LlamaModel quantized(*model);
      const DownstreamText text = downstream_text(vm, *reference, original);
      const DownstreamMetrics d = compare_models(original, quantized, text.sequences, text.first_scored);
      print_downstream_header(text.description, std::cout);
      print_downstream_row(model_path, d, std::cout);
      j["downstream"] = downstream_json(d);
      j["downstream_text"] = text.description;
    }
    if (!json_path.empty()) write_json_report(json_path, j);
    return 0;
  }
  const EvalReport report = evaluate_model(*model, split_list(formats), opts);
  print_eval_report(report, vm.count("summary-only") == 0, std::cout);
  nlohmann::json j = report_to_json(report);
  if (vm.count("downstream")) {
    QuantOptions qopts;
    qopts.threads = threads;
    qopts.lut_sram_bytes = opts.lut_sram_bytes;
    qopts.lut_lanes = opts.lut_lanes;
    qopts.tensor_importance = opts.tensor_importance;
    const LlamaModel original(*model);
    const DownstreamText text = downstream_text(vm, *model, original);
    const auto downstream = evaluate_downstream(*model, split_list(formats), text.sequences, text.first_scored, qopts);
    print_downstream_header(text.description, std::cout);
    nlohmann::json rows = nlohmann::json::array();
    for (const FormatDownstream& d : downstream) {
      print_downstream_row(d.format, d.metrics, std::cout);
      rows.push_back(downstream_json(d.metrics));
      rows.back()["format"] = d.format;
    }
    j["downstream"] = rows;
    j["downstream_text"] = text.description;
  }
  if (!json_path.empty()) write_json_report(json_path, j);
  return 0;
}

}  // namespace sop::cli
