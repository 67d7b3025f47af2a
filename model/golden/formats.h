// Small number formats: element formats (E2M1, E2M3, E3M2, E4M3, E5M2, INT4, INT8) and scale formats
// (UE4M4, UE4M3, E8M0, E4M3, BF16, FP16, FP32). One table describes them all, for the quantizer and the
// golden decode alike (ggml's rule: one row per format, no second switch); encode rounds to nearest,
// ties to even, and saturates; decode is exact. It sits with the golden decode at the quantizer's root.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/span.h"

namespace sop {

enum class FormatKind {
  Float,       // sign (optional), exponent, mantissa, with subnormals
  Integer,     // two's complement, symmetric range used by quantizers is the format's business
  PowerOfTwo,  // exponent only (E8M0): value 2^(code - bias)
};

// What the top of the code space means.
enum class SpecialCodes {
  None,          // every code is finite (E2M1, E2M3, E3M2, UE4M4)
  NanAllOnes,    // OCP E4M3 "FN" and UE4M3: only S.1111.111 is NaN, no infinity
  Ieee,          // the all-ones exponent holds infinities and NaNs (E5M2, FP16, BF16, FP32)
  NanCodeAllOnes // E8M0: 0xFF is NaN
};

struct NumberFormat {
  const char* name;
  FormatKind kind;
  int exp_bits;    // 0 for integers
  int man_bits;    // value bits for integers, excluding the sign
  int bias;        // exponent bias (Float, PowerOfTwo)
  bool has_sign;
  SpecialCodes special;
  const char* note;  // where the definition comes from, shown by `sop formats`

  constexpr int bits() const { return (has_sign ? 1 : 0) + exp_bits + man_bits; }
  constexpr uint32_t code_count() const { return 1u << bits(); }
};

// The rows of the table (number_formats() lists them in this order).
namespace formats {
inline constexpr NumberFormat kE2M1{"E2M1", FormatKind::Float, 2, 1, 1, true, SpecialCodes::None,
                                    "OCP MX FP4 element, max 6"};
inline constexpr NumberFormat kE2M3{"E2M3", FormatKind::Float, 2, 3, 1, true, SpecialCodes::None,
                                    "OCP MX FP6 element, max 7.5"};
inline constexpr NumberFormat kE3M2{"E3M2", FormatKind::Float, 3, 2, 3, true, SpecialCodes::None,
                                    "OCP MX FP6 element, max 28"};
inline constexpr NumberFormat kE4M3{
    "E4M3", FormatKind::Float, 4, 3, 7, true, SpecialCodes::NanAllOnes,
    "OCP FP8 E4M3 (FN): no infinity, S.1111.111 is NaN, max 448; also a signed scale format"};
inline constexpr NumberFormat kE5M2{"E5M2", FormatKind::Float, 5, 2, 15, true, SpecialCodes::Ieee,
                                    "OCP FP8 E5M2, IEEE-like, max 57344"};
inline constexpr NumberFormat kInt4{"INT4", FormatKind::Integer, 0, 3, 0, true, SpecialCodes::None,
                                    "two's complement, -8..7"};
inline constexpr NumberFormat kInt8{"INT8", FormatKind::Integer, 0, 7, 0, true, SpecialCodes::None,
                                    "two's complement, -128..127"};
// UE4M4 uses bias 7 and travels with one FP32 per-tensor scale (like NVFP4's UE4M3): 16 steps per
// octave over 2^-10 .. 496, and the per-tensor scale places a tensor's largest block scale at the top
// of that range so no tensor is too small or too large for it.
inline constexpr NumberFormat kUE4M4{"UE4M4", FormatKind::Float, 4, 4, 7, false, SpecialCodes::None,
                                     "unsigned block scale, bias 7, no inf/NaN, max 496, with an FP32 per-tensor scale"};
inline constexpr NumberFormat kUE4M3{"UE4M3", FormatKind::Float, 4, 3, 7, false, SpecialCodes::NanAllOnes,
                                     "unsigned E4M3 block scale (NVFP4), 1111.111 is NaN, max 448"};
inline constexpr NumberFormat kE8M0{"E8M0", FormatKind::PowerOfTwo, 8, 0, 127, false, SpecialCodes::NanCodeAllOnes,
                                    "OCP MX shared scale: 2^(code-127), 0xFF is NaN"};
inline constexpr NumberFormat kBF16{"BF16", FormatKind::Float, 8, 7, 127, true, SpecialCodes::Ieee, "bfloat16"};
inline constexpr NumberFormat kFP16{"FP16", FormatKind::Float, 5, 10, 15, true, SpecialCodes::Ieee, "IEEE binary16"};
inline constexpr NumberFormat kFP32{"FP32", FormatKind::Float, 8, 23, 127, true, SpecialCodes::Ieee, "IEEE binary32"};
}  // namespace formats

// Every format the tool knows, in display order.
Span<const NumberFormat> number_formats();
// Looks a format up by name (case-insensitive: "e2m3", "UE4M4", "fp16"); throws sop::Error if unknown.
const NumberFormat& number_format(std::string_view name);

// Exact value of a code (NaN for NaN codes, +-inf for infinity codes).
double decode(const NumberFormat& f, uint32_t code);
// Nearest code, ties to even mantissa, saturating at +-max_finite (infinities saturate too).
// NaN input encodes to a NaN code where the format has one and throws std::domain_error otherwise.
// Unsigned formats clamp negative inputs to zero.
uint32_t encode(const NumberFormat& f, double x);
bool is_nan_code(const NumberFormat& f, uint32_t code);
double max_finite(const NumberFormat& f);
double min_positive(const NumberFormat& f);      // smallest positive (subnormal) value
double min_positive_normal(const NumberFormat& f);

// A fast rounder for the inner loops of block quantization: same result as decode(encode(x)) for
// finite x, without the code. Float formats only.
class FloatRounder {
 public:
  explicit FloatRounder(const NumberFormat& f);
  float round(float x) const;  // nearest representable value, ties to even, saturating
  float max_value() const { return max_; }

 private:
  float min_normal_;    // the smallest normal value (subnormals share its binade's step)
  uint32_t man_shift_;  // man_bits << 23: subtracting it from FP32 exponent bits divides by 2^man_bits
  float max_;
  bool has_sign_;
  uint32_t sign_mask_;  // 0x80000000 for signed formats, 0 for unsigned ones
};

// Inline, and written with only min/max, bit masks and integer adds so that loops over a block
// vectorize: it is the innermost operation of every block search.
inline float FloatRounder::round(float x) const {
  const float a = std::min(has_sign_ ? std::fabs(x) : std::max(x, 0.0f), max_);  // saturate
  // The step of a's binade (subnormals share the smallest normal binade's step): keep only the
  // exponent bits of max(a, min_normal), then divide by 2^man_bits with an integer subtract.
  const float binade_floor = std::max(a, min_normal_);
  uint32_t binade_bits;
  std::memcpy(&binade_bits, &binade_floor, sizeof binade_bits);
  const uint32_t step_bits = (binade_bits & 0x7F800000u) - man_shift_;
  const uint32_t inv_bits = 0x7F000000u - step_bits;  // 2^-k from 2^k: exponent 254 - e
  float step, inv_step;
  std::memcpy(&step, &step_bits, sizeof step);
  std::memcpy(&inv_step, &inv_bits, sizeof inv_step);
  // a * inv_step < 2^(man_bits + 1) is exact; adding and removing 2^23 rounds it to an integer,
  // ties to even, in the default rounding mode.
  constexpr float kRoundShift = 8388608.0f;  // 2^23
  const float units = (a * inv_step + kRoundShift) - kRoundShift;
  const float q = units * step;
  uint32_t q_bits, x_bits;
  std::memcpy(&q_bits, &q, sizeof q_bits);
  std::memcpy(&x_bits, &x, sizeof x_bits);
  q_bits |= x_bits & sign_mask_;
  float out;
  std::memcpy(&out, &q_bits, sizeof out);
  return out;
}

}  // namespace sop
