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

// The checkpoint at `path`, behind the --max-memory budget when one was given. A malformed size is a
// usage error: *usage_error is set to 2 and nullptr returned.
inline std::unique_ptr<ModelReader> open_model_with_budget(const std::string& command, const std::string& path,
                                                           const po::variables_map& vm, int* usage_error) {
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
  return budget > 0 ? with_memory_budget(std::move(model), budget) : std::move(model);
}

}  // namespace sop::cli
