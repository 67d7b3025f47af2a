// sop inspect: what a pack file holds, layer by layer, after validating all of it.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/options.h"
#include "quantizer/pack/pack_file.h"

namespace sop::cli {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

const char* entry_format_name(golden::EntryFormat f) { return f == golden::EntryFormat::Hif ? "HIF" : "FP16"; }

}  // namespace

int run_inspect(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string pack_path;
  desc.add_options()
      ("pack", po::value<std::string>(&pack_path)->required(), "pack file written by sop quantize")
      ("recipe", "also print the recipe the pack was made with")
      ("brief", "totals only, no per-layer table");
  po::variables_map vm;
  if (auto code = parse_options("inspect", "FILE.sop [--recipe] [--brief]", desc, args, vm, {"pack"})) return *code;

  const PackFile pack = PackFile::open(pack_path);  // every checksum and field validated
  const PackModelInfo& info = pack.info();
  std::size_t omitted = 0;
  for (const auto& t : info.tensors) omitted += t.stored == PackedAs::Omitted ? 1 : 0;

  std::cout << "pack " << pack.path() << ": " << pack.file_size() << " bytes, format " << pack.version_major() << "."
            << pack.version_minor() << ", checksums OK\n";
  std::cout << "  made by " << info.created_by << " from " << info.source << " with recipe " << info.recipe_name
            << " (" << info.recipe_path << ")\n";
  std::cout << "  tensors: " << pack.layers().size() << " quantized, " << pack.tensors().size() << " kept in FP32, "
            << omitted << " omitted\n";

  int64_t weights = 0;
  double bits = 0;
  uint64_t layer_bytes = 0;
  for (const auto& l : pack.layers()) {
    weights += l.rows * l.cols;
    bits += l.choice.bits;
    layer_bytes += l.section_bytes;
  }
  if (weights > 0) {
    std::cout << "  quantized weights: " << weights << ", " << std::fixed << std::setprecision(4)
              << bits / static_cast<double>(weights) << " bpw as the search counts them, "
              << 8.0 * static_cast<double>(layer_bytes) / static_cast<double>(weights)
              << " bpw as stored (layer sections incl. FP32 tables and headers)\n";
    std::cout.unsetf(std::ios::fixed);
  }

  if (!vm.count("brief") && !pack.layers().empty()) {
    std::cout << "\n  " << std::left << std::setw(44) << "layer" << std::setw(9) << "shape" << std::setw(5) << "g"
              << std::setw(5) << "bits" << std::setw(13) << "scale" << std::setw(6) << "LUT" << std::setw(24)
              << "tables" << std::right << std::setw(7) << "sparse" << std::setw(3) << "c" << std::setw(8) << "bpw"
              << "  choice\n";
    for (const auto& l : pack.layers()) {
      const std::string tables = l.scale_layout.select == SelectBitPlacement::None
                                     ? l.codebooks[0].name
                                     : l.codebooks[0].name + "," + l.codebooks[1].name;
      std::ostringstream bpw;
      bpw << std::fixed << std::setprecision(3) << l.choice.bpw;
      std::cout << "  " << std::left << std::setw(44) << l.name << std::setw(9) << shape_text({l.rows, l.cols})
                << std::setw(5) << l.block_size << std::setw(5) << l.decode.code_bits << std::setw(13)
                << l.scale_layout.name << std::setw(6) << entry_format_name(l.decode.entry_format) << std::setw(24)
                << tables << std::right << std::setw(7) << l.sparse.size() << std::setw(3)
                << (l.channel_factors.empty() ? "-" : "y") << std::setw(8) << bpw.str() << "  " << l.choice.option
                << "\n";
    }
  }
  if (!pack.tensors().empty()) {
    std::cout << "\n  kept in FP32:";
    for (const auto& t : pack.tensors()) std::cout << " " << t.name << "[" << shape_text(t.shape) << "]";
    std::cout << "\n";
  }
  for (const auto& t : info.tensors) {
    if (t.stored == PackedAs::Omitted) std::cout << "  omitted " << t.name << ": " << t.note << "\n";
  }
  if (vm.count("recipe")) std::cout << "\nrecipe " << info.recipe_path << ":\n" << info.recipe_text;
  return 0;
}

}  // namespace sop::cli
