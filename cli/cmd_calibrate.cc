// sop calibrate: activation statistics from the model's own forward pass.
// sop generate: text from a Llama-style checkpoint, optionally with its matrices quantized.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "quantizer/calibrate/downstream.h"
#include "quantizer/calibrate/llama.h"
#include "quantizer/calibrate/vocabulary.h"
#include "quantizer/model_reader.h"
#include "quantizer/weight_format.h"

namespace sop::cli {
namespace {

void add_model_options(po::options_description& desc) {
  desc.add_options()
      ("model,m", po::value<std::string>()->required(), "Llama-style checkpoint (.gguf or .safetensors)")
      ("heads", po::value<int>()->default_value(0), "attention heads (0: from the checkpoint's metadata)")
      ("kv-heads", po::value<int>()->default_value(0), "key/value heads (0: from the metadata, else = heads)")
      ("seed", po::value<uint64_t>()->default_value(1), "sampling seed")
      ("temperature", po::value<double>()->default_value(1.0), "sampling temperature (0: greedy)");
}

}  // namespace

int run_calibrate(const std::vector<std::string>& args) {
  po::options_description desc("options");
  add_model_options(desc);
  desc.add_options()
      ("out,o", po::value<std::string>()->required(), "activation statistics JSON to write")
      ("sequences", po::value<int>()->default_value(8), "sequences sampled from the model")
      ("tokens", po::value<int>()->default_value(128), "tokens per sequence");
  add_max_memory_option(desc);
  po::variables_map vm;
  if (auto code = parse_options("calibrate", "--model PATH --out STATS.json [--sequences N --tokens N]", desc, args, vm)) {
    return *code;
  }
  int usage_error = 0;
  const auto reader = open_model_with_budget("calibrate", vm["model"].as<std::string>(), vm, &usage_error,
                                             ModelResidency::WholeModel);
  if (!reader) return usage_error;
  const LlamaModel model(*reader, vm["heads"].as<int>(), vm["kv-heads"].as<int>());
  TextSampling sampling;
  sampling.sequences = vm["sequences"].as<int>();
  sampling.tokens = vm["tokens"].as<int>();
  sampling.seed = vm["seed"].as<uint64_t>();
  sampling.temperature = vm["temperature"].as<double>();
  if (sampling.sequences <= 0 || sampling.tokens <= 0) throw std::invalid_argument("--sequences and --tokens must be positive");
  std::fprintf(stderr, "sampling %d x %d tokens from %s\n", sampling.sequences, sampling.tokens, reader->path().c_str());
  const ActivationStats stats = collect_activation_stats(model, sample_sequences(model, sampling));
  save_activation_stats_json(stats, vm["out"].as<std::string>());
  std::cout << "wrote E[x^2] for " << stats.channels.size() << " matrices to " << vm["out"].as<std::string>() << "\n";
  return 0;
}

int run_generate(const std::vector<std::string>& args) {
  po::options_description desc("options");
  add_model_options(desc);
  desc.add_options()
      ("tokenizer", po::value<std::string>(), "llama2.c tokenizer file (default: the GGUF's own)")
      ("tokens", po::value<int>()->default_value(64), "tokens to generate")
      ("format,f", po::value<std::string>(), "quantize every matrix with this weight format first");
  add_max_memory_option(desc);
  po::variables_map vm;
  if (auto code = parse_options("generate", "--model PATH [--format NAME] [--tokens N] [--temperature T]", desc, args, vm)) {
    return *code;
  }
  int usage_error = 0;
  const auto reader = open_model_with_budget("generate", vm["model"].as<std::string>(), vm, &usage_error,
                                             ModelResidency::WholeModel);
  if (!reader) return usage_error;
  LlamaModel model(*reader, vm["heads"].as<int>(), vm["kv-heads"].as<int>());
  const Vocabulary vocab = vm.count("tokenizer") ? Vocabulary::from_llama2c_file(vm["tokenizer"].as<std::string>())
                                                 : Vocabulary::from_model(*reader);
  if (vm.count("format")) {
    const auto format = make_weight_format(vm["format"].as<std::string>());
    const auto matrices = model.matmul_names();
    format->plan(*reader, matrices, {});
    for (const std::string& m : matrices) model.set_matrix(m, format->quantize(reader->read(m), {}).dequant);
  }
  TextSampling sampling;
  sampling.sequences = 1;
  sampling.tokens = vm["tokens"].as<int>();
  sampling.seed = vm["seed"].as<uint64_t>();
  sampling.temperature = vm["temperature"].as<double>();
  sampling.bos = vocab.bos();
  std::cout << vocab.decode(sample_sequences(model, sampling).front()) << "\n";
  return 0;
}

}  // namespace sop::cli
