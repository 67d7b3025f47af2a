// Quantization recipes: the YAML files in configs/quant/ that say how `sop quantize` treats a model.
// docs/recipes.md documents every key. Parsing is strict: an unknown key, a wrong type or an
// out-of-range value throws sop::Error naming the file and the key (with its line).
#pragma once

#include <string>
#include <vector>

namespace sop {

// Where a layer's codebook-selection bit lives.
enum class SelectBitPlacement {
  None,    // one codebook per layer: no selection bit
  Stolen,  // taken from the block scale, which keeps one bit less
  Beside,  // stored next to the scale: costs one extra bit per block
};

const char* select_bit_placement_name(SelectBitPlacement p);

struct Recipe {
  std::string path;         // the file it came from (or the name given to parse_recipe)
  std::string text;         // the YAML as read, stored in pack files so a pack says how it was made
  int schema = 1;           // `recipe:` key, the version of this schema
  std::string name;
  std::string description;

  // Budget: either a whole-model bits-per-weight target (the search picks per layer) or none, in which
  // case every layer gets the single option the recipe describes.
  double target_bpw = 0;    // 0: no budget

  // Blocks and scales.
  std::vector<int> block_sizes;   // candidates along a row; one entry fixes the block size
  std::string scale_format;       // a number format name (formats.h), e.g. "UE4M4"
  SelectBitPlacement select_bit = SelectBitPlacement::Stolen;

  // Codebooks: the fixed tables offered to the search and whether per-layer fitted (DD4) tables join.
  std::vector<std::string> fixed_codebooks;  // e.g. nf4, bof4-s, split87, sh4, or e2m3 (64-entry atoms)
  bool fitted_codebooks = true;              // DD4 pairs
  std::string lut_format = "HIF";            // how LUT entries are stored (HIF, FP16, BF16)

  // Outlier correction: at most this fraction of a layer's weights kept as sparse (index, value) pairs.
  double sparse_max_fraction = 0;

  // Activation statistics (per-input-channel E[x^2], a file written by the calibration step), resolved
  // relative to the recipe file; empty: uniform importance (ACos is plain cosine).
  std::string activation_stats;

  // Tensors kept in full precision: a matrix whose name contains any of these strings is not quantized.
  // One-dimensional tensors (norms, biases) are never quantized.
  std::vector<std::string> keep_full_precision;

  int threads = 0;  // 0: all hardware threads
};

// Reads and validates a recipe file. Throws sop::Error(path, key, message).
Recipe load_recipe(const std::string& path);
// Same, from text; source_name stands in for the path in messages and relative paths.
Recipe parse_recipe(const std::string& yaml_text, const std::string& source_name);

// Limits the validation enforces (also listed in docs/recipes.md).
struct RecipeLimits {
  static constexpr double kMinBpw = 2.0;
  static constexpr double kMaxBpw = 16.0;
  static constexpr int kMinBlock = 4;
  static constexpr int kMaxBlock = 256;
  static constexpr double kMaxSparseFraction = 0.05;
  static constexpr int kMaxThreads = 1024;
};

// The codebook names a recipe may list (case-insensitive in the file, lower case here).
const std::vector<std::string>& known_codebook_names();

}  // namespace sop
