// sop codebook-gen: regenerates the fitted fixed codebooks (BOF4 / BOF4-S per block size, the SH4
// shape) and writes them as C++ data (quantizer/codebooks/generated_codebooks.cc).
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "quantizer/codebooks/codebook_gen.h"
#include "base/atomic_file.h"
#include "base/error.h"

namespace sop::cli {

int run_codebook_gen(const std::vector<std::string>& args) {
  std::string out_path;
  CodebookGenOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--out" && has_value) {
      out_path = args[++i];
    } else if (a == "--sample-blocks" && has_value) {
      options.sample_blocks = std::stoll(args[++i]);
    } else if (a == "--seed" && has_value) {
      options.seed = std::stoull(args[++i]);
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: sop codebook-gen [--out FILE] [--sample-blocks N (400000)] [--seed S (1)]\n"
                   "Fits BOF4/BOF4-S (blocks 16, 32, 64) and the SH4 shape; writes C++ data to FILE or stdout.\n";
      return 0;
    } else {
      std::cerr << "sop codebook-gen: unknown option '" << a << "'\n";
      return 2;
    }
  }
  const std::string command = "sop codebook-gen --out quantizer/codebooks/generated_codebooks.cc";
  const std::string text = generate_codebook_source(options, command);
  if (out_path.empty()) {
    std::cout << text;
    return 0;
  }
  // Through a synced temporary and a rename (base/atomic_file.h): a failed or killed run never leaves a
  // truncated generated_codebooks.cc that the next build compiles.
  write_file_atomically(out_path, [&](std::ostream& out) { out << text; });
  return 0;
}

}  // namespace sop::cli
