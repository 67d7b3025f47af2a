// Small number formats: element formats (E2M1, E2M3, E3M2, E4M3, E5M2, INT4, INT8) and scale formats
// (UE4M4, UE4M3, E8M0, E4M3, BF16, FP16, FP32). One table describes them all; encode rounds to nearest,
// ties to even, and saturates; decode is exact.
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

  int bits() const { return (has_sign ? 1 : 0) + exp_bits + man_bits; }
  uint32_t code_count() const { return 1u << bits(); }
};

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
