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

// How a layer picks its table: one, the pair, T by selector, or one per group of rows.
std::string table_mode(const PackedLayerView& l) {
  const std::size_t t = l.table_count();
  if (l.rows_per_table > 0) return "per-" + std::to_string(l.rows_per_table) + "-rows T=" + std::to_string(t);
  const std::string shared = l.tables_from >= 0 ? " of layer " + std::to_string(l.tables_from) : "";
  if (t == 1) return "single " + l.codebooks[0].name + shared;
  if (t == 2) return "pair " + l.codebooks[0].name + "," + l.codebooks[1].name + shared;
  return "T=" + std::to_string(t) + " selector" + shared;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

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

  // Three stored figures, each over the quantized weights, so none hides another's cost: the layers'
  // counted data (what the search's bpw counts: tables, tensor scales, block scales, selectors, codes,
  // residuals; channel factors too), whole LAYR sections (plus per-layer headers, names and the 24-byte
  // section framing: a fixed cost per layer, large only on toy models), and the whole file (plus MODL,
  // i.e. recipe text and tensor list, and the FP32 tensors).
  int64_t weights = 0;
  double bits = 0;
  uint64_t layer_bytes = 0;
  uint64_t data_bytes = 0;
  for (const auto& l : pack.layers()) {
    weights += l.rows * l.cols;
    bits += l.choice.bits;
    layer_bytes += l.section_bytes;
    data_bytes += l.data_bytes;
  }
  if (weights > 0) {
    const auto per_weight = [&](double b) { return fixed(b / static_cast<double>(weights), 4); };
    std::cout << "  quantized weights: " << weights << "; bpw counted by the search " << per_weight(bits)
              << "; stored: layer data " << per_weight(8.0 * static_cast<double>(data_bytes)) << ", LAYR sections "
              << per_weight(8.0 * static_cast<double>(layer_bytes)) << " (+ headers, names, framing: "
              << (pack.layers().empty() ? 0 : (layer_bytes - data_bytes) / pack.layers().size())
              << " bytes per layer), whole file " << per_weight(8.0 * static_cast<double>(pack.file_size()))
              << " (+ MODL and FP32 tensors)\n";
  }

  if (!vm.count("brief") && !pack.layers().empty()) {
    std::cout << "\n  " << std::left << std::setw(44) << "layer" << std::setw(9) << "shape" << std::setw(5) << "g"
              << std::setw(5) << "bits" << std::setw(13) << "scale" << std::setw(6) << "LUT" << std::setw(28)
              << "tables" << std::right << std::setw(7) << "sparse" << std::setw(3) << "c" << std::setw(9)
              << "counted" << std::setw(8) << "stored" << std::setw(8) << "bpw" << "  choice\n";
    for (const auto& l : pack.layers()) {
      std::cout << "  " << std::left << std::setw(44) << l.name << std::setw(9) << shape_text({l.rows, l.cols})
                << std::setw(5) << l.block_size << std::setw(5) << l.decode.code_bits << std::setw(13)
                << l.scale_layout.name << std::setw(6) << entry_format_name(l.decode.entry_format) << std::setw(28)
                << table_mode(l) << std::right << std::setw(7) << l.sparse.size() << std::setw(3)
                << (l.channel_factors.empty() ? "-" : "y") << std::setw(9) << fixed(l.choice.bits, 0) << std::setw(8)
                << 8 * l.data_bytes << std::setw(8) << fixed(l.choice.bpw, 3) << "  " << l.choice.option << "\n";
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
