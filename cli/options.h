// Shared option handling for subcommands: parse with Boost.Program_options, print --help, and turn
// option errors into a usage message and exit code 2.
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "base/error.h"
#include "quantizer/model_reader.h"

namespace sop::cli {

namespace po = boost::program_options;

// Returns the parsed map, or an exit code when the command should stop (0 after --help, 2 on a
// usage error). `positional` names options that may also be given positionally, in order.
inline std::optional<int> parse_options(const std::string& command, const std::string& synopsis,
                                        po::options_description& desc, const std::vector<std::string>& args,
                                        po::variables_map& vm, const std::vector<std::string>& positional = {}) {
  desc.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  for (const std::string& p : positional) pos.add(p.c_str(), 1);
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: sop " << command << " " << synopsis << "\n\n" << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sop " << command << ": " << e.what() << "\nusage: sop " << command << " " << synopsis
              << "\n(sop " << command << " --help for details)\n";
    return 2;
  }
  return std::nullopt;
}

// Splits "a,b,c" into its parts, dropping empty ones.
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// --max-memory, for the commands that read checkpoints: a tensor whose FP32 copy needs more than the
// budget is refused naming the file and tensor, before it is allocated (quantizer/model_reader.h).
inline void add_max_memory_option(po::options_description& desc) {
  desc.add_options()("max-memory", po::value<std::string>(),
                     "refuse any tensor whose FP32 copy needs more memory than this (bytes, or K/M/G/T: 8G, 512M)");
}

// What a command keeps in memory of a model: one tensor at a time (quantize, eval, bench, demo), or
// every tensor (calibrate and generate run the model, so they hold all its weights as FP32).
enum class ModelResidency { OneTensorAtATime, WholeModel };

// The checkpoint at `path`, behind the --max-memory budget when one was given: every tensor's FP32
// copy must fit it, and with WholeModel all of them together must, checked from the tensor list
// before anything is read (sop::Error naming the file). A malformed size is a usage error:
// *usage_error is set to 2 and nullptr returned.
inline std::unique_ptr<ModelReader> open_model_with_budget(const std::string& command, const std::string& path,
                                                           const po::variables_map& vm, int* usage_error,
                                                           ModelResidency residency = ModelResidency::OneTensorAtATime) {
  uint64_t budget = 0;
  if (vm.count("max-memory")) {
    try {
      budget = parse_memory_size(vm["max-memory"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      std::cerr << "sop " << command << ": --max-memory: " << e.what() << "\n";
      *usage_error = 2;
      return nullptr;
    }
  }
  auto model = open_model(path);
  if (budget > 0 && residency == ModelResidency::WholeModel) {
    uint64_t total = 0;
    for (const TensorInfo& t : model->tensors()) total += static_cast<uint64_t>(t.element_count()) * sizeof(float);
    if (total > budget) {
      throw ::sop::Error(path, "--max-memory",
                  "sop " + command + " holds every tensor as FP32: the model's " + std::to_string(model->tensors().size()) +
                      " tensors need " + std::to_string(total) + " bytes, more than the memory budget of " +
                      std::to_string(budget) + " bytes");
    }
  }
  return budget > 0 ? with_memory_budget(std::move(model), budget) : std::move(model);
}

}  // namespace sop::cli
