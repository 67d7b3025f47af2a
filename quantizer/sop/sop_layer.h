// What the SOP search decides for one weight matrix, in the form the pack-file writer serializes and
// the golden decode (model/golden/decode.h) reads back:
//
//   What[i, j] = c[j] * (tensor_scale * to_float(golden::multiply(decode, entry, scale_code(b))))
//
// with b the block of g consecutive weights along row i that holds column j, entry =
// LUT[table(b)][code(i, j)] or, for a weight with a sparse residual, that residual's replacement entry.
// table(b) is the block's selector (select[b], select_bits wide, T = 2^select_bits tables per layer) or,
// for a layer with one table per group of rows_per_table rows, row(b) / rows_per_table (no selector).
// The multiplications are FP32, in that order. dequant holds exactly this (the search measured it).
#pragma once

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/golden/decode.h"
#include "quantizer/recipe.h"  // SelectBitPlacement

namespace sop {

// One LUT table of a layer: 16 entries (4-bit codes) or 64 entries (6-bit atoms), indexed by code.
struct SopCodebook {
  std::string name;                  // "NF4", "BOF4-S@g16", "Split87", "SH4", "DD4", "DD4a", "E2M3", ...
  std::vector<float> values;         // the decoded LUT entry per code (already rounded to the LUT format)
  std::vector<uint32_t> lut_codes;   // the same entries as LUT-format codes (HIF), as the SRAM holds them
};

// The widest block selector: 16 tables per layer.
inline constexpr int kMaxSelectBits = 4;

// How a block's scale (and its selection bit) is stored.
struct SopScaleLayout {
  std::string name;               // "sE4M3", "sE4M2+sel", ... (s: signed)
  golden::ScaleFormat format = golden::kScaleE4M3;  // sign (when signed) + exponent + mantissa
  SelectBitPlacement select = SelectBitPlacement::None;  // Stolen: the format already has those bits less
  int select_bits = 1;            // selector width when select != None: 2^select_bits tables (1..4)
  bool per_tensor_fp32 = true;    // tensor_scale places the largest block scale at the format's top

  // Bits one block spends on its scale and selector.
  int bits_per_block() const { return format.bits() + (select == SelectBitPlacement::None ? 0 : select_bits); }
};

// A sparse residual as the golden decode merges it: the weight at `index` decodes as
// scale(block) * entry instead of scale(block) * LUT[sel][code].
struct SopSparseEntry {
  uint64_t index = 0;   // row * cols + col
  uint32_t entry = 0;   // replacement LUT entry, in the layer's entry format (HIF)
};

// What the per-layer search chose and why.
struct SopChoice {
  std::string option;       // e.g. "g16 UE3M3+sel pair(NF4,DD4) sparse 0.25%"
  double bits = 0;          // total bits of the layer (codes, scales, select bits, tables, sparse, ...)
  double bpw = 0;           // bits / weights
  double weighted_error = 0;  // sum_j imp_j (W - What)^2
};

// Whether two layers hold the same tables, entry for entry (what sharing a table set requires).
inline bool same_lut_tables(const std::vector<SopCodebook>& a, const std::vector<SopCodebook>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const SopCodebook& x, const SopCodebook& y) { return x.lut_codes == y.lut_codes; });
}

struct SopLayerResult {
  std::string tensor_name;
  int64_t rows = 0;
  int64_t cols = 0;
  int block_size = 16;            // g, along a row; the last block of a row may be shorter
  golden::DecodeConfig decode;    // LUT entry format (HIF), scale format, code bits (4 or 6)

  // The layer's tables, codebooks[table(b)]. With a selector: 2^select_bits of them. With one table per
  // group of rows: ceil(rows / rows_per_table). A layer with a single table (no selector, no groups)
  // still holds two, the second repeating the first (the golden pair).
  std::vector<SopCodebook> codebooks;
  int64_t rows_per_table = 0;     // > 0: table(b) = row(b) / rows_per_table and select is all 0
  // Tables shared by a group of matrices: the set's number in the plan (-1: the layer's own), and
  // whether this layer stores them or refers to the layer that does (bits count one or the other).
  int64_t table_group = -1;
  bool tables_stored = true;

  SopScaleLayout scale_layout;
  float tensor_scale = 1.0f;      // FP32 per-tensor scale (1 when the layout has none)
  // Per block, row-major over (row, block-in-row): the scale code in the golden layout (sign on top).
  std::vector<uint32_t> scale_codes;
  std::vector<uint8_t> select;    // per block: the selector (< 2^select_bits); all 0 without one
  std::vector<uint8_t> codes;     // one per weight, row-major
  std::vector<SopSparseEntry> sparse;  // sorted by index
  int sparse_index_bits = 0;      // bits counted per sparse entry for the index (+ entry_bits for the value)

  // Optional per-input-channel factor c (size cols) folded into the activations by the hardware;
  // empty when not used.
  std::vector<float> channel_factors;

  SopChoice choice;
  std::vector<float> dequant;     // [rows, cols] row-major
  // Sum of w^2 and of (w - dequant)^2 over the source weights, for SQNR (summed in the same pass as
  // choice.weighted_error).
  double signal = 0;
  double noise = 0;

  int64_t blocks_per_row() const { return (cols + block_size - 1) / block_size; }
  // Which of codebooks block b (row-major over (row, block-in-row)) reads.
  std::size_t table_of_block(int64_t b) const {
    return rows_per_table > 0 ? static_cast<std::size_t>(b / blocks_per_row() / rows_per_table)
                              : static_cast<std::size_t>(select[static_cast<std::size_t>(b)]);
  }
};

}  // namespace sop
