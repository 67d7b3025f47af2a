// sop: quantize LLM weights with the SOP method and estimate what a LUT-decode accelerator does with them.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

void print_usage(std::ostream& out) {
  out << "usage: sop <command> [options]   (sop <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : sop::cli::commands()) {
    const std::size_t len = std::strlen(c.name);
    out << "  " << c.name << std::string(len < 14 ? 14 - len : 1, ' ') << c.summary << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : sop::cli::commands()) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const std::exception& e) {
      std::cerr << "sop " << name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "sop: unknown command '" << name << "'\n";
  print_usage(std::cerr);
  return 2;
}
