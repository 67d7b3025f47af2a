#include "model/golden/formats.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "base/error.h"

namespace sop {
namespace {

// The table, in display order: the rows are defined in the header (formats::k*).
constexpr NumberFormat kFormats[] = {
    formats::kE2M1, formats::kE2M3, formats::kE3M2, formats::kE4M3, formats::kE5M2, formats::kInt4,
    formats::kInt8, formats::kUE4M4, formats::kUE4M3, formats::kE8M0, formats::kBF16, formats::kFP16,
    formats::kFP32,
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

uint32_t all_ones(int bits) { return bits >= 32 ? 0xFFFFFFFFu : (1u << bits) - 1u; }

uint32_t sign_bit(const NumberFormat& f) { return f.has_sign ? (1u << (f.exp_bits + f.man_bits)) : 0u; }

// The largest finite magnitude code (sign bit clear).
uint32_t max_magnitude_code(const NumberFormat& f) {
  const uint32_t e_max = all_ones(f.exp_bits);
  const uint32_t m_max = all_ones(f.man_bits);
  switch (f.special) {
    case SpecialCodes::None: return (e_max << f.man_bits) | m_max;
    case SpecialCodes::NanAllOnes: return (e_max << f.man_bits) | (m_max - 1u);
    case SpecialCodes::Ieee: return ((e_max - 1u) << f.man_bits) | m_max;
    case SpecialCodes::NanCodeAllOnes: return e_max - 1u;
  }
  return 0;
}

double decode_float_magnitude(const NumberFormat& f, uint32_t magnitude) {
  const uint32_t e = magnitude >> f.man_bits;
  const uint32_t m = magnitude & all_ones(f.man_bits);
  const double frac = std::ldexp(static_cast<double>(m), -f.man_bits);
  if (e == 0) return std::ldexp(frac, 1 - f.bias);
  return std::ldexp(1.0 + frac, static_cast<int>(e) - f.bias);
}

// Nearest magnitude code of a finite, non-negative a below the format's maximum, ties to even.
// Works in units of the binade's step so that a carry out of the mantissa lands on the next
// exponent (and a subnormal that rounds up lands on the smallest normal) with no special case.
uint32_t encode_float_magnitude(const NumberFormat& f, double a) {
  const int min_normal_exp = 1 - f.bias;
  int exp2 = min_normal_exp;
  if (a >= std::ldexp(1.0, min_normal_exp)) {
    int e = 0;
    std::frexp(a, &e);  // a = frac * 2^e with frac in [0.5, 1)
    exp2 = e - 1;
  }
  const double units = std::nearbyint(std::ldexp(a, f.man_bits - exp2));  // ties to even
  const uint32_t biased = static_cast<uint32_t>(exp2 - min_normal_exp);       // 0 for subnormals
  return (biased << f.man_bits) + static_cast<uint32_t>(units);
}

}  // namespace

Span<const NumberFormat> number_formats() {
  return Span<const NumberFormat>(kFormats, sizeof(kFormats) / sizeof(kFormats[0]));
}

const NumberFormat& number_format(std::string_view name) {
  for (const NumberFormat& f : number_formats()) {
    if (iequals(f.name, name)) return f;
  }
  if (iequals(name, "F16") || iequals(name, "HALF")) return number_format("FP16");
  if (iequals(name, "F32") || iequals(name, "FLOAT")) return number_format("FP32");
  throw Error("number format", std::string(name), "unknown number format (sop formats lists them)");
}

bool is_nan_code(const NumberFormat& f, uint32_t code) {
  const uint32_t magnitude = code & ~sign_bit(f) & all_ones(f.bits());
  switch (f.special) {
    case SpecialCodes::None: return false;
    case SpecialCodes::NanAllOnes: return magnitude == all_ones(f.exp_bits + f.man_bits);
    case SpecialCodes::NanCodeAllOnes: return magnitude == all_ones(f.exp_bits);
    case SpecialCodes::Ieee:
      return (magnitude >> f.man_bits) == all_ones(f.exp_bits) && (magnitude & all_ones(f.man_bits)) != 0;
  }
  return false;
}

double decode(const NumberFormat& f, uint32_t code) {
  code &= all_ones(f.bits());
  if (f.kind == FormatKind::Integer) {
    const int bits = f.bits();
    const int64_t v = static_cast<int64_t>(code);
    return static_cast<double>((code >> (bits - 1)) ? v - (int64_t{1} << bits) : v);
  }
  if (is_nan_code(f, code)) return std::numeric_limits<double>::quiet_NaN();
  if (f.kind == FormatKind::PowerOfTwo) return std::ldexp(1.0, static_cast<int>(code) - f.bias);
  const bool negative = (code & sign_bit(f)) != 0;
  const uint32_t magnitude = code & ~sign_bit(f);
  double value;
  if (f.special == SpecialCodes::Ieee && (magnitude >> f.man_bits) == all_ones(f.exp_bits)) {
    value = std::numeric_limits<double>::infinity();
  } else {
    value = decode_float_magnitude(f, magnitude);
  }
  return negative ? -value : value;
}

double max_finite(const NumberFormat& f) {
  if (f.kind == FormatKind::Integer) return std::ldexp(1.0, f.man_bits) - 1.0;
  return decode(f, max_magnitude_code(f));
}

double min_positive(const NumberFormat& f) {
  if (f.kind == FormatKind::Integer) return 1.0;
  if (f.kind == FormatKind::PowerOfTwo) return decode(f, 0);
  return decode(f, 1);
}

double min_positive_normal(const NumberFormat& f) {
  if (f.kind != FormatKind::Float) return min_positive(f);
  return std::ldexp(1.0, 1 - f.bias);
}

uint32_t encode(const NumberFormat& f, double x) {
  if (std::isnan(x)) {
    switch (f.special) {
      case SpecialCodes::NanAllOnes: return all_ones(f.exp_bits + f.man_bits) | sign_bit(f);
      case SpecialCodes::NanCodeAllOnes: return all_ones(f.exp_bits);
      case SpecialCodes::Ieee: return (all_ones(f.exp_bits) << f.man_bits) | (1u << (f.man_bits - 1));
      case SpecialCodes::None: break;
    }
    throw std::domain_error(std::string("NaN has no encoding in ") + f.name);
  }
  if (f.kind == FormatKind::Integer) {
    const double lo = -std::ldexp(1.0, f.man_bits);
    const double hi = std::ldexp(1.0, f.man_bits) - 1.0;
    const double v = std::clamp(std::nearbyint(x), lo, hi);
    return static_cast<uint32_t>(static_cast<int64_t>(v)) & all_ones(f.bits());
  }
  if (f.kind == FormatKind::PowerOfTwo) {
    // Nearest power of two in value; the midpoint 1.5 * 2^k goes to the even code.
    const int lo_code = 0;
    const int hi_code = static_cast<int>(max_magnitude_code(f));
    if (!(x > std::ldexp(1.0, lo_code - f.bias))) return 0;
    if (x >= std::ldexp(1.0, hi_code - f.bias)) return static_cast<uint32_t>(hi_code);
    int e = 0;
    const double frac = std::frexp(x, &e);  // x = frac * 2^e, frac in [0.5, 1): between 2^(e-1) and 2^e
    int k = e - 1 + f.bias;                  // code of 2^(e-1)
    if (frac > 0.75 || (frac == 0.75 && (k % 2) == 1)) ++k;
    return static_cast<uint32_t>(std::clamp(k, lo_code, hi_code));
  }
  const bool negative = std::signbit(x);
  if (negative && !f.has_sign) return 0;  // unsigned formats clamp at zero
  const double a = std::fabs(x);
  const uint32_t max_code = max_magnitude_code(f);
  uint32_t magnitude = a >= max_finite(f) ? max_code : std::min(encode_float_magnitude(f, a), max_code);
  return magnitude | (negative ? sign_bit(f) : 0u);
}

FloatRounder::FloatRounder(const NumberFormat& f)
    : min_normal_(static_cast<float>(min_positive_normal(f))),
      man_shift_(static_cast<uint32_t>(f.man_bits) << 23),
      max_(static_cast<float>(max_finite(f))),
      has_sign_(f.has_sign),
      sign_mask_(f.has_sign ? 0x80000000u : 0u) {
  if (f.kind != FormatKind::Float || f.exp_bits > 5) {
    // The inner loop builds the step as a normal FP32 number: fine for every element format here.
    throw Error("number format", f.name, "FloatRounder supports only small float element formats");
  }
}

}  // namespace sop
