// ggml's tensor types, the one table: number, name, block geometry and, for the types sop reads, the
// dequantizer of a run of blocks. The GGUF reader and writer both look types up here.
//
// The block layouts are ggml's (llama.cpp ggml-common.h / ggml-quants.c), written here from their
// published definitions: FP16 scales, and in every 32-weight block the low nibbles hold weights
// 0..15 and the high nibbles 16..31. Dequantized values are what llama.cpp's scalar reference
// dequantizers give, operation for operation in FP32, so they compare bit for bit.
#pragma once

#include <cstdint>

#include "quantizer/tensor.h"

namespace sop::detail {

// Decodes `blocks` consecutive blocks starting at `bytes` (no alignment needed) into
// blocks x block_elements floats at `out`.
using DequantizeBlocks = void (*)(const uint8_t* bytes, uint64_t blocks, float* out);

struct GgmlType {
  uint32_t id;              // the number GGUF stores; part of the file format
  const char* name;         // as llama.cpp spells it ("Q4_K")
  uint64_t block_elements;  // 1 for plain element types
  uint64_t block_bytes;
  DType dtype;              // DType::Quantized for every block type
  DequantizeBlocks dequantize;  // block types sop decodes; nullptr for the rest (listed, refused)
};

// nullptr for an id the table does not hold.
const GgmlType* find_ggml_type(uint32_t id);
// By name ("Q4_0"); nullptr if none.
const GgmlType* find_ggml_type(const char* name);

}  // namespace sop::detail
