// sop synth: write a synthetic model to a safetensors file, streaming tensor by tensor, so benchmarks
// and tests can read a large real-format checkpoint without downloading one.
#include <chrono>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/error.h"
#include "quantizer/io/safetensors_writer.h"
#include "quantizer/synthetic.h"

namespace sop::cli {

int run_synth(const std::vector<std::string>& args) {
  std::string kinds;
  for (const auto& k : synthetic_kinds()) kinds += "\n    " + k.example + "  (" + k.description + ")";
  po::options_description desc("options");
  std::string spec;
  std::string out_path;
  std::string dtype_text;
  desc.add_options()
      ("spec", po::value<std::string>(&spec)->required(),
       ("synthetic model spec (docs/model-io.md has the grammar), e.g." + kinds).c_str())
      ("out", po::value<std::string>(&out_path)->required(), "output .safetensors file")
      ("dtype", po::value<std::string>(&dtype_text)->default_value("F32"), "stored type: F32, F16 or BF16")
      ("quiet,q", "no progress lines");
  po::variables_map vm;
  if (auto code = parse_options("synth", "--spec SPEC --out FILE.safetensors [--dtype F16]", desc, args, vm)) {
    return *code;
  }
  DType dtype = DType::Unknown;
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    if (dtype_text == dtype_name(d)) dtype = d;
  }
  if (dtype == DType::Unknown) {
    std::cerr << "sop synth: --dtype must be F32, F16 or BF16, not '" << dtype_text << "'\n";
    return 2;
  }

  const auto model = open_synthetic(spec);
  uint64_t elements = 0;
  for (const auto& t : model->tensors()) elements += static_cast<uint64_t>(t.element_count());
  const bool quiet = vm.count("quiet") != 0;
  const auto start = std::chrono::steady_clock::now();
  std::size_t last_decile = 0;
  const uint64_t bytes = write_safetensors(
      *model, out_path, dtype, {{"format", "pt"}, {"source", model->path()}},
      [&](std::size_t done, std::size_t total, const std::string& name) {
        const std::size_t decile = done * 10 / total;
        if (quiet || decile == last_decile) return;
        last_decile = decile;
        std::cerr << "  " << done << "/" << total << " tensors (" << name << ")\n";
      });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << out_path << ": " << model->tensors().size() << " tensors, " << elements << " weights, "
            << bytes << " bytes (" << dtype_name(dtype) << ") in " << std::setprecision(3) << seconds << " s ("
            << (seconds > 0 ? static_cast<double>(elements) / seconds / 1e6 : 0.0) << " M weights/s)\n";
  return 0;
}

}  // namespace sop::cli
