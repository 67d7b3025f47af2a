// What the SOP search decides for one weight matrix, in the form the pack-file writer serializes and
// the golden decode reads back:
//
//   What[i, j] = tensor_scale * c[j] * scale(b) * LUT[select(b)][code(i, j)]  (+ sparse residual)
//
// with b the block of g consecutive weights along row i that holds column j. Every field is plain
// data; dequant is the reconstruction the search measured (it equals the golden decode of the other
// fields bit for bit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quantizer/recipe.h"  // SelectBitPlacement

namespace sop {

// One LUT table of a layer: 16 entries (4-bit codes) or 64 entries (6-bit atoms), indexed by code.
struct SopCodebook {
  std::string name;                  // "NF4", "BOF4-S@g16", "Split87", "SH4", "DD4", "DD4a", "E2M3", ...
  std::vector<float> values;         // the decoded LUT entry per code (already rounded to the LUT format)
  std::vector<uint32_t> lut_codes;   // the same entries as LUT-format codes (HIF), as the SRAM holds them
};

// How a block's scale (and its selection bit) is stored.
struct SopScaleLayout {
  std::string magnitude_format;   // number format of |scale| (formats.h name or "UE3M3"-style custom)
  int exp_bits = 0;
  int man_bits = 0;
  int bias = 0;
  bool is_signed = true;          // sign of the block's largest-magnitude element stored in the scale
  SelectBitPlacement select = SelectBitPlacement::None;
  bool per_tensor_fp32 = false;   // tensor_scale places the largest block scale at the format's top

  // Bits one block spends on scale + sign + selection bit.
  int bits_per_block() const {
    return exp_bits + man_bits + (is_signed ? 1 : 0) + (select == SelectBitPlacement::None ? 0 : 1);
  }
};

// A weight kept exactly-ish beside the block code: dequant[index] += value (value stored as FP16).
struct SopSparseEntry {
  uint64_t index = 0;   // row * cols + col
  float value = 0;      // the FP16-representable correction added to the block reconstruction
};

// What the per-layer search chose and why.
struct SopChoice {
  std::string option;       // e.g. "g16 UE3M3+sel pair(NF4,DD4) sparse 0.25%"
  double bits = 0;          // total bits of the layer (codes, scales, select bits, tables, sparse, ...)
  double bpw = 0;           // bits / weights
  double weighted_error = 0;  // sum_j imp_j (W - What)^2
};

struct SopLayerResult {
  std::string tensor_name;
  int64_t rows = 0;
  int64_t cols = 0;
  int block_size = 16;            // g, along a row; the last block of a row may be shorter
  int code_bits = 4;              // 4 (16-entry tables) or 6 (64-entry atoms)

  // The pair: codebooks[select bit]. One entry when the layer has no selection bit.
  std::vector<SopCodebook> codebooks;

  SopScaleLayout scale_layout;
  float tensor_scale = 1.0f;      // FP32 per-tensor scale (1 when the layout has none)
  // Per block, row-major over (row, block-in-row): the scale code: the magnitude code in the low
  // exp_bits + man_bits bits, the sign in the next bit up (when is_signed).
  std::vector<uint32_t> scale_codes;
  std::vector<uint8_t> select;    // per block: which codebook (0 or 1); all 0 without a pair
  std::vector<uint8_t> codes;     // one per weight, row-major
  std::vector<SopSparseEntry> sparse;
  int sparse_index_bits = 0;      // bits counted per sparse entry for the index
  int sparse_value_bits = 16;     // and for the value (FP16)

  // Optional per-input-channel factor c (size cols) folded into the activations by the hardware;
  // empty when not used.
  std::vector<float> channel_factors;

  SopChoice choice;
  std::vector<float> dequant;     // [rows, cols] row-major
};

}  // namespace sop
