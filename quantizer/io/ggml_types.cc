#include "quantizer/io/ggml_types.h"

#include <cstring>

#include "base/half.h"

namespace sop::detail {

namespace {

// ---- Block layouts ---------------------------------------------------------------------------------
// One struct per format, its size checked against ggml's, filled by memcpy from the file bytes (which
// carry no alignment guarantee). Scales are FP16 bit patterns, little-endian like the host.

constexpr int kQK = 32;    // weights per block of the 32-weight types
constexpr int kQK_K = 256;  // weights per super-block of the k-quants

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "ggml block_q4_0");

struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "ggml block_q4_1");

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // bit j: the fifth bit of weight j
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "ggml block_q5_0");

struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "ggml block_q5_1");

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34, "ggml block_q8_0");

struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];  // indices into kvalues_iq4nl
};
static_assert(sizeof(BlockIQ4_NL) == 18, "ggml block_iq4_nl");

struct BlockQ4_K {
  uint16_t d, dmin;     // super-block scales of the 6-bit sub-block scales and mins
  uint8_t scales[12];   // 8 sub-blocks of 32: 6-bit scale and 6-bit min each, packed
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "ggml block_q4_K");

struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];  // fifth bits: byte l holds those of weights l, l+32, ..., l+224
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176, "ggml block_q5_K");

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];   // low 4 bits
  uint8_t qh[kQK_K / 4];   // high 2 bits
  int8_t scales[kQK_K / 16];  // 16 sub-blocks of 16, signed 8-bit scales
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "ggml block_q6_K");

template <class Block>
Block load_block(const uint8_t* bytes, uint64_t index) {
  Block block;
  std::memcpy(&block, bytes + index * sizeof(Block), sizeof(Block));
  return block;
}

// llama.cpp's kvalues_iq4nl (FACTS.md); the same table as codebooks.h's iq4nl_values(), kept as
// integers here because the block format stores indices into exactly these.
constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// ---- The 32-weight types ---------------------------------------------------------------------------

void dequantize_q4_0(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, out += kQK) {
    const auto x = load_block<BlockQ4_0>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    for (int j = 0; j < kQK / 2; ++j) {
      out[j] = static_cast<float>((x.qs[j] & 0x0F) - 8) * d;
      out[j + kQK / 2] = static_cast<float>((x.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, out += kQK) {
    const auto x = load_block<BlockQ4_1>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    const float m = fp16_to_fp32(x.m);
    for (int j = 0; j < kQK / 2; ++j) {
      out[j] = static_cast<float>(x.qs[j] & 0x0F) * d + m;
      out[j + kQK / 2] = static_cast<float>(x.qs[j] >> 4) * d + m;
    }
  }
}

// The 5-bit code of weight j (0..31) of a Q5 block: low nibble from qs, fifth bit from qh.
int q5_code(const uint8_t* qs, const uint8_t* qh, int j) {
  uint32_t high_bits;
  std::memcpy(&high_bits, qh, sizeof high_bits);
  const int low = j < kQK / 2 ? (qs[j] & 0x0F) : (qs[j - kQK / 2] >> 4);
  return low | static_cast<int>(((high_bits >> j) & 1u) << 4);
}

void dequantize_q5_0(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, out += kQK) {
    const auto x = load_block<BlockQ5_0>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    for (int j = 0; j < kQK; ++j) out[j] = static_cast<float>(q5_code(x.qs, x.qh, j) - 16) * d;
  }
}

void dequantize_q5_1(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, out += kQK) {
    const auto x = load_block<BlockQ5_1>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    const float m = fp16_to_fp32(x.m);
    for (int j = 0; j < kQK; ++j) out[j] = static_cast<float>(q5_code(x.qs, x.qh, j)) * d + m;
  }
}

void dequantize_q8_0(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, out += kQK) {
    const auto x = load_block<BlockQ8_0>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    for (int j = 0; j < kQK; ++j) out[j] = static_cast<float>(x.qs[j]) * d;
  }
}

void dequantize_iq4_nl(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b, out += kQK) {
    const auto x = load_block<BlockIQ4_NL>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    for (int j = 0; j < kQK / 2; ++j) {
      out[j] = d * static_cast<float>(kIq4nlValues[x.qs[j] & 0x0F]);
      out[j + kQK / 2] = d * static_cast<float>(kIq4nlValues[x.qs[j] >> 4]);
    }
  }
}

// ---- k-quants ----------------------------------------------------------------------------------------

// Scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block. Bytes 0-3 hold the 6-bit scales of
// sub-blocks 0-3, bytes 4-7 their mins; bytes 8-11 hold the low 4 bits of sub-blocks 4-7 (scale in
// the low nibble, min in the high one), whose top 2 bits sit in the spare top bits of bytes 0-7.
void k_scale_min(const uint8_t* scales, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
    *min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

void dequantize_q4_k(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b) {
    const auto x = load_block<BlockQ4_K>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    const float dmin = fp16_to_fp32(x.dmin);
    // Each 32 bytes of codes hold two sub-blocks: 32 weights in the low nibbles, the next 32 high.
    for (int pair = 0; pair < 4; ++pair) {
      const uint8_t* q = x.qs + 32 * pair;
      int sc = 0, m = 0;
      k_scale_min(x.scales, 2 * pair, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      k_scale_min(x.scales, 2 * pair + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *out++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
      for (int l = 0; l < 32; ++l) *out++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b) {
    const auto x = load_block<BlockQ5_K>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    const float dmin = fp16_to_fp32(x.dmin);
    for (int pair = 0; pair < 4; ++pair) {
      const uint8_t* q = x.qs + 32 * pair;
      // Sub-block s takes its fifth bits from bit s of qh[l].
      const unsigned low_bit = 2u * static_cast<unsigned>(pair), high_bit = low_bit + 1;
      int sc = 0, m = 0;
      k_scale_min(x.scales, 2 * pair, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      k_scale_min(x.scales, 2 * pair + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        *out++ = d1 * static_cast<float>((q[l] & 0x0F) + (((x.qh[l] >> low_bit) & 1u) << 4)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        *out++ = d2 * static_cast<float>((q[l] >> 4) + (((x.qh[l] >> high_bit) & 1u) << 4)) - m2;
      }
    }
  }
}

void dequantize_q6_k(const uint8_t* bytes, uint64_t blocks, float* out) {
  for (uint64_t b = 0; b < blocks; ++b) {
    const auto x = load_block<BlockQ6_K>(bytes, b);
    const float d = fp16_to_fp32(x.d);
    // Two halves of 128 weights; in each, 64 bytes of ql and 32 of qh give four runs of 32 weights:
    // weights l and l+32 take the low nibbles of ql[l] and ql[l+32], weights l+64 and l+96 their high
    // nibbles; their top two bits are bits 0-1, 2-3, 4-5 and 6-7 of qh[l].
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x.ql + 64 * half;
      const uint8_t* qh = x.qh + 32 * half;
      const int8_t* sc = x.scales + 8 * half;
      float* y = out + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;  // sub-blocks of 16 weights
        const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
    out += kQK_K;
  }
}

// The numbers are part of the file format; gaps are types llama.cpp removed. Types without a
// dequantizer are listed so their byte ranges can be checked and their names shown.
constexpr GgmlType kGgmlTypes[] = {
    {0, "F32", 1, 4, DType::F32, nullptr},
    {1, "F16", 1, 2, DType::F16, nullptr},
    {2, "Q4_0", 32, sizeof(BlockQ4_0), DType::Quantized, dequantize_q4_0},
    {3, "Q4_1", 32, sizeof(BlockQ4_1), DType::Quantized, dequantize_q4_1},
    {6, "Q5_0", 32, sizeof(BlockQ5_0), DType::Quantized, dequantize_q5_0},
    {7, "Q5_1", 32, sizeof(BlockQ5_1), DType::Quantized, dequantize_q5_1},
    {8, "Q8_0", 32, sizeof(BlockQ8_0), DType::Quantized, dequantize_q8_0},
    {9, "Q8_1", 32, 36, DType::Quantized, nullptr},
    {10, "Q2_K", 256, 84, DType::Quantized, nullptr},
    {11, "Q3_K", 256, 110, DType::Quantized, nullptr},
    {12, "Q4_K", 256, sizeof(BlockQ4_K), DType::Quantized, dequantize_q4_k},
    {13, "Q5_K", 256, sizeof(BlockQ5_K), DType::Quantized, dequantize_q5_k},
    {14, "Q6_K", 256, sizeof(BlockQ6_K), DType::Quantized, dequantize_q6_k},
    {15, "Q8_K", 256, 292, DType::Quantized, nullptr},
    {16, "IQ2_XXS", 256, 66, DType::Quantized, nullptr},
    {17, "IQ2_XS", 256, 74, DType::Quantized, nullptr},
    {18, "IQ3_XXS", 256, 98, DType::Quantized, nullptr},
    {19, "IQ1_S", 256, 50, DType::Quantized, nullptr},
    {20, "IQ4_NL", 32, sizeof(BlockIQ4_NL), DType::Quantized, dequantize_iq4_nl},
    {21, "IQ3_S", 256, 110, DType::Quantized, nullptr},
    {22, "IQ2_S", 256, 82, DType::Quantized, nullptr},
    {23, "IQ4_XS", 256, 136, DType::Quantized, nullptr},
    {24, "I8", 1, 1, DType::I8, nullptr},
    {25, "I16", 1, 2, DType::I16, nullptr},
    {26, "I32", 1, 4, DType::I32, nullptr},
    {27, "I64", 1, 8, DType::I64, nullptr},
    {28, "F64", 1, 8, DType::F64, nullptr},
    {29, "IQ1_M", 256, 56, DType::Quantized, nullptr},
    {30, "BF16", 1, 2, DType::BF16, nullptr},
    {34, "TQ1_0", 256, 54, DType::Quantized, nullptr},
    {35, "TQ2_0", 256, 66, DType::Quantized, nullptr},
    {39, "MXFP4", 32, 17, DType::Quantized, nullptr},
};

}  // namespace

const GgmlType* find_ggml_type(uint32_t id) {
  for (const auto& t : kGgmlTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

const GgmlType* find_ggml_type(const char* name) {
  for (const auto& t : kGgmlTypes) {
    if (std::strcmp(t.name, name) == 0) return &t;
  }
  return nullptr;
}

}  // namespace sop::detail
