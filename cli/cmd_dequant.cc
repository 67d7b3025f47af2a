// sop dequant: a pack file back to weights (through the golden decode), as a safetensors checkpoint
// with the original tensor names, for evaluation in other frameworks.
#include <chrono>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "quantizer/io/safetensors_writer.h"
#include "quantizer/pack/pack_model.h"

namespace sop::cli {

int run_dequant(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string pack_path;
  std::string out_path;
  std::string dtype_text;
  desc.add_options()
      ("pack", po::value<std::string>(&pack_path)->required(), "pack file written by sop quantize")
      ("out", po::value<std::string>(&out_path)->required(), "output .safetensors file")
      ("dtype", po::value<std::string>(&dtype_text)->default_value("F32"),
       "stored type: F32 (exact), F16 or BF16 (rounded to nearest even)")
      ("quiet,q", "no progress lines");
  po::variables_map vm;
  if (auto code = parse_options("dequant", "FILE.sop --out W.safetensors [--dtype F32|F16|BF16]", desc, args, vm,
                                {"pack"})) {
    return *code;
  }
  DType dtype = DType::Unknown;
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    if (dtype_text == dtype_name(d)) dtype = d;
  }
  if (dtype == DType::Unknown) {
    std::cerr << "sop dequant: --dtype must be F32, F16 or BF16, not '" << dtype_text << "'\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto pack = open_pack_as_model(pack_path);  // validates every checksum and field first
  const bool quiet = vm.count("quiet") != 0;
  const uint64_t bytes = write_safetensors(
      *pack, out_path, dtype, {{"format", "pt"}, {"source", pack_path}, {"produced_by", "sop dequant"}},
      [&](std::size_t done, std::size_t total, const std::string& name) {
        if (!quiet) std::cerr << "  [dequant " << done << "/" << total << "] " << name << "\n";
      });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << out_path << ": " << pack->tensors().size() << " tensors, " << bytes << " bytes ("
            << dtype_name(dtype) << ") in " << std::setprecision(3) << seconds << " s\n";
  return 0;
}

}  // namespace sop::cli
