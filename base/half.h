// Conversions between FP32 and the two 16-bit float formats checkpoints store: IEEE binary16 (F16)
// and bfloat16 (BF16). Pure bit manipulation, so results are identical on every platform and do not
// depend on the FPU's rounding mode. Narrowing rounds to nearest, ties to even; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace sop {

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// Exact: every binary16 value is representable in FP32. Written without branches (each case is
// formed and one is picked), so a loop over a tensor compiles to lanes.
inline float fp16_to_fp32(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t bits = static_cast<uint32_t>(half & 0x7FFFu) << 13;  // exponent and mantissa at FP32's places
  const uint32_t exponent = bits & 0x0F800000u;
  const uint32_t normal = bits + 0x38000000u;    // the exponent rebiased by 127 - 15
  const uint32_t special = bits | 0x7F800000u;   // Inf, NaN (the payload kept)
  // Zero or subnormal, m * 2^-24: (1 + m / 2^10) 2^-14 - 2^-14, exact.
  const uint32_t small = float_to_bits(bits_to_float(bits + 0x38800000u) - 0x1p-14f);
  const uint32_t magnitude = exponent == 0x0F800000u ? special : (exponent == 0 ? small : normal);
  return bits_to_float(sign | magnitude);
}

inline uint16_t fp32_to_fp16(float value) {
  const uint32_t bits = float_to_bits(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) {  // NaN: keep the top payload bits and force it quiet
    return static_cast<uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
  }
  // 65520 is halfway between 65504 (the largest half) and 65536; ties-to-even goes up, so overflow.
  if (magnitude >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
  if (magnitude >= 0x38800000u) {  // normal in binary16 (>= 2^-14)
    const uint32_t exponent = (magnitude >> 23) - 127u + 15u;
    const uint32_t mantissa = magnitude & 0x7FFFFFu;
    uint32_t half = (exponent << 10) | (mantissa >> 13);
    const uint32_t dropped = mantissa & 0x1FFFu;
    // A carry out of the mantissa correctly bumps the exponent.
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  // Below 2^-25 everything rounds to zero (2^-25 itself is a tie that goes to the even zero).
  if (magnitude <= 0x33000000u) return static_cast<uint16_t>(sign);
  // Subnormal result: count units of 2^-24. The FP32 value is m24 * 2^(e - 150), so units are
  // m24 >> (126 - e); the shift lies in [14, 24] here.
  const uint32_t exponent = magnitude >> 23;
  const uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126u - exponent;
  uint32_t units = mantissa >> shift;
  const uint32_t dropped = mantissa & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1u);
  if (dropped > halfway || (dropped == halfway && (units & 1u))) ++units;
  return static_cast<uint16_t>(sign | units);
}

// Exact: bfloat16 is the top half of an FP32.
inline float bf16_to_fp32(uint16_t bf16) { return bits_to_float(static_cast<uint32_t>(bf16) << 16); }

inline uint16_t fp32_to_bf16(float value) {
  const uint32_t bits = float_to_bits(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace sop
