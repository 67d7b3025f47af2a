// The `sop` program's subcommands. Each lives in its own cmd_<name>.cc and parses its own options
// with Boost.Program_options; main.cc only dispatches by name.
#pragma once

#include <string>
#include <vector>

namespace sop::cli {

// args excludes the program and subcommand names. Returns the process exit code.
using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  const char* name;
  const char* summary;
  CommandFn run;
};

int run_formats(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_demo(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_calibrate(const std::vector<std::string>& args);
int run_generate(const std::vector<std::string>& args);
int run_area(const std::vector<std::string>& args);
int run_synth(const std::vector<std::string>& args);
int run_quantize(const std::vector<std::string>& args);
int run_inspect(const std::vector<std::string>& args);
int run_dequant(const std::vector<std::string>& args);
int run_codebook_gen(const std::vector<std::string>& args);
int run_simulate(const std::vector<std::string>& args);
int run_estimate(const std::vector<std::string>& args);
int run_sweep(const std::vector<std::string>& args);
int run_report(const std::vector<std::string>& args);

// The table of subcommands, in the order `sop --help` lists them.
inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"demo", "run the main job end to end on the built-in default model", run_demo},
      {"eval", "quantize a model's matrices with one or more formats and report the error", run_eval},
      {"formats", "list number formats and weight formats", run_formats},
      {"info", "list a checkpoint's tensors (and GGUF metadata)", run_info},
      {"synth", "write a synthetic model to a .safetensors file", run_synth},
      {"quantize", "quantize a model with a recipe into a pack file (.sop)", run_quantize},
      {"inspect", "validate a pack file and summarize what it holds", run_inspect},
      {"dequant", "decode a pack file back to weights (.safetensors)", run_dequant},
      {"calibrate", "activation statistics (E[x^2] per input channel) from the model's forward pass", run_calibrate},
      {"generate", "generate text with a Llama-style model, optionally quantized", run_generate},
      {"bench", "measure quantization throughput", run_bench},
      {"codebook-gen", "regenerate the fitted fixed codebooks (BOF4, BOF4-S, SH4 shape) as C++ data", run_codebook_gen},
      {"area", "synthesize the LUT decode unit of a hardware config and report its cell area", run_area},
      {"simulate", "simulate a token pass through the decode unit (SystemC TLM or verilated RTL)", run_simulate},
      {"estimate", "energy, area, tokens/s and die cost of a pack file on a hardware config", run_estimate},
      {"sweep", "run a sweep file (grid or zip over LUT size, lanes, formats, recipes, models); merge; Slurm", run_sweep},
      {"report", "write an HTML page with SVG plots and a Markdown summary of a sweep", run_report},
  };
  return table;
}

}  // namespace sop::cli
