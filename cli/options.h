// Shared option handling for subcommands: parse with Boost.Program_options, print --help, and turn
// option errors into a usage message and exit code 2.
#pragma once

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

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

}  // namespace sop::cli
