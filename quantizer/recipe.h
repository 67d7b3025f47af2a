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

// One entry of a layer's option menu: a block size, a block scale format, where the selection bit
// lives and the codebooks offered. It names the SOP layout the search runs (sop_search.h).
struct RecipeOption {
  int block = 16;
  std::string scale_format = "sE3M3";  // s (signed) or U (unsigned), E<e>M<m>
  SelectBitPlacement select_bit = SelectBitPlacement::Stolen;
  // Fixed tables in canonical spelling (NF4, BOF4-S, Split87, SH4, E2M1, IQ4_NL, E2M3, E3M2): all
  // 16-entry (4-bit codes) or all 64-entry atoms (6-bit codes).
  std::vector<std::string> codebooks;
  bool fitted = true;  // per-layer DD4 tables join the pair search (4-bit, signed scales)
  // Tables a block's selector chooses among: 2 (the method's pair), 4, 8 or 16 (fitted 4-bit options;
  // log2 of it selector bits per block). Without a select bit: 1.
  int tables = 2;
  // > 0: one fitted table per group of this many rows instead of a selector (select_bit: none).
  int64_t rows_per_table = 0;
  // > 1: the option's fitted tables are fitted once for each group of this many consecutive matrices
  // (in the checkpoint's order, which is the order the unit decodes them) and stored once per group;
  // the group's other matrices refer to them and the unit keeps them loaded (docs/lut-codesign.md).
  int share_tables = 0;

  int select_bits() const;  // selector bits per block: 0 without a select bit, else log2(tables)
  int code_bits() const;
  int scale_bits() const;  // sign + exponent + mantissa
  // Bits per weight of codes, scale and selector (tables, residuals, per-tensor scale excluded).
  double nominal_bpw() const;
  // The layout string the SOP search parses, e.g. "g16 sE3M3|sel", "g32 sE4M3+sel3", "g32 sE4M3 rows128"
  // or "g16 E2M3 UE4M4"; " shared8" at the end when share_tables is 8.
  std::string layout_name() const;
};

struct Recipe {
  std::string path;         // the file it came from (or the name given to parse_recipe)
  std::string text;         // the YAML as read, stored in pack files so a pack says how it was made
  int schema = 1;           // `recipe:` key, the version of this schema
  std::string name;
  std::string description;

  // A whole-model bits-per-weight target: the knapsack picks one option (and sparse budget) per layer.
  // 0: no budget, and the recipe has exactly one option, used for every layer.
  double target_bpw = 0;
  std::vector<RecipeOption> options;
  std::string lut_format = "HIF";  // how LUT entries are stored: HIF or FP16
  // The decode unit's LUT SRAM: a layer's tables must fit in it (or, for row-group tables, stream
  // through it). 0: no limit. `sop quantize --lut-sram-bytes` overrides it.
  int64_t lut_sram_bytes = 0;

  // Sparse residual budgets offered per layer, as fractions of its weights (none is always offered
  // under a budget; without a budget at most one fraction, applied to every layer).
  std::vector<double> sparse_fractions;

  // Activation statistics (per-input-channel E[x^2]; JSON or llama.cpp imatrix), resolved relative to
  // the recipe file; empty: uniform importance (ACos is plain cosine) and no channel factors.
  std::string activation_stats;

  // Tensors kept in full precision: a matrix whose name contains any of these strings is not quantized.
  // One-dimensional tensors (norms, biases) are never quantized.
  std::vector<std::string> keep_full_precision;

  int scale_steps = 1;  // scale codes tried either side of the ideal one per block
  int threads = 0;      // 0: all hardware threads
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
  static constexpr int kMaxScaleSteps = 8;
  static constexpr int kMaxTables = 16;              // a 4-bit selector
  static constexpr int kMaxShareTables = 4096;       // matrices in one table-sharing group
  static constexpr int64_t kMaxLutSramBytes = int64_t{1} << 32;
};

}  // namespace sop
