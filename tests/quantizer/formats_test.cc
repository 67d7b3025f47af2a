// Every code of every number format against values derived independently of the encoder: the
// formulas of the OCP MX spec and IEEE 754 written out per format, and the compiler's own
// _Float16 / bit-level FP32 and BF16 for the IEEE formats.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/golden/formats.h"

namespace sop {
namespace {

double pow2(int e) { return std::ldexp(1.0, e); }

// Hand-derived value of code c for an S.E.M layout with the given bias (no specials).
double minifloat_value(uint32_t c, int e_bits, int m_bits, int bias, bool has_sign) {
  const uint32_t m = c & ((1u << m_bits) - 1u);
  const uint32_t e = (c >> m_bits) & ((1u << e_bits) - 1u);
  const bool neg = has_sign && ((c >> (e_bits + m_bits)) & 1u);
  const double v = e == 0 ? (m / pow2(m_bits)) * pow2(1 - bias) : (1.0 + m / pow2(m_bits)) * pow2(int(e) - bias);
  return neg ? -v : v;
}

TEST(NumberFormats, E2M1MatchesTheOcpTable) {
  const double positive[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  const NumberFormat& f = number_format("E2M1");
  ASSERT_EQ(f.code_count(), 16u);
  for (uint32_t c = 0; c < 16; ++c) {
    const double expected = (c & 8u) ? -positive[c & 7u] : positive[c & 7u];
    EXPECT_EQ(decode(f, c), expected) << "code " << c;
  }
  EXPECT_EQ(max_finite(f), 6.0);
}

TEST(NumberFormats, E2M3EveryCode) {
  const NumberFormat& f = number_format("E2M3");
  for (uint32_t c = 0; c < 64; ++c) {
    const uint32_t m = c & 7u, e = (c >> 3) & 3u;
    double v = e == 0 ? m / 8.0 : pow2(int(e) - 1) * (1.0 + m / 8.0);  // FACTS: subnormal m/8
    if (c & 32u) v = -v;
    EXPECT_EQ(decode(f, c), v) << "code " << c;
  }
  EXPECT_EQ(max_finite(f), 7.5);
}

TEST(NumberFormats, E3M2EveryCode) {
  const NumberFormat& f = number_format("E3M2");
  for (uint32_t c = 0; c < 64; ++c) {
    const uint32_t m = c & 3u, e = (c >> 2) & 7u;
    double v = e == 0 ? m / 16.0 : pow2(int(e) - 3) * (1.0 + m / 4.0);
    if (c & 32u) v = -v;
    EXPECT_EQ(decode(f, c), v) << "code " << c;
  }
  EXPECT_EQ(max_finite(f), 28.0);
  EXPECT_EQ(min_positive_normal(f), 0.25);
}

TEST(NumberFormats, E4M3FnEveryCode) {
  const NumberFormat& f = number_format("E4M3");
  for (uint32_t c = 0; c < 256; ++c) {
    if ((c & 0x7Fu) == 0x7Fu) {
      EXPECT_TRUE(std::isnan(decode(f, c))) << "code " << c;
      EXPECT_TRUE(is_nan_code(f, c));
      continue;
    }
    EXPECT_EQ(decode(f, c), minifloat_value(c, 4, 3, 7, true)) << "code " << c;
  }
  EXPECT_EQ(max_finite(f), 448.0);
  EXPECT_EQ(min_positive(f), pow2(-9));
  EXPECT_EQ(min_positive_normal(f), pow2(-6));
}

TEST(NumberFormats, E5M2EveryCode) {
  const NumberFormat& f = number_format("E5M2");
  for (uint32_t c = 0; c < 256; ++c) {
    const uint32_t e = (c >> 2) & 31u, m = c & 3u;
    if (e == 31) {
      if (m == 0) {
        EXPECT_EQ(decode(f, c), (c & 0x80u) ? -INFINITY : INFINITY);
      } else {
        EXPECT_TRUE(std::isnan(decode(f, c)));
      }
      continue;
    }
    EXPECT_EQ(decode(f, c), minifloat_value(c, 5, 2, 15, true)) << "code " << c;
  }
  EXPECT_EQ(max_finite(f), 57344.0);
}

TEST(NumberFormats, UnsignedScaleFormats) {
  const NumberFormat& ue4m4 = number_format("UE4M4");
  ASSERT_EQ(ue4m4.bits(), 8);
  for (uint32_t c = 0; c < 256; ++c) {
    const uint32_t e = c >> 4, m = c & 15u;
    const double v = e == 0 ? (m / 16.0) * pow2(-6) : pow2(int(e) - 7) * (1.0 + m / 16.0);
    EXPECT_EQ(decode(ue4m4, c), v) << "UE4M4 code " << c;
  }
  EXPECT_EQ(max_finite(ue4m4), 496.0);
  EXPECT_EQ(min_positive(ue4m4), pow2(-10));

  const NumberFormat& ue4m3 = number_format("UE4M3");
  ASSERT_EQ(ue4m3.bits(), 7);
  for (uint32_t c = 0; c < 128; ++c) {
    if (c == 127) {
      EXPECT_TRUE(std::isnan(decode(ue4m3, c)));
      continue;
    }
    EXPECT_EQ(decode(ue4m3, c), minifloat_value(c, 4, 3, 7, false)) << "UE4M3 code " << c;
  }
  EXPECT_EQ(max_finite(ue4m3), 448.0);

  const NumberFormat& e8m0 = number_format("E8M0");
  for (uint32_t c = 0; c < 255; ++c) EXPECT_EQ(decode(e8m0, c), pow2(int(c) - 127)) << "E8M0 code " << c;
  EXPECT_TRUE(std::isnan(decode(e8m0, 255)));
}

TEST(NumberFormats, IntegersAreTwosComplement) {
  const NumberFormat& int4 = number_format("INT4");
  for (uint32_t c = 0; c < 16; ++c) EXPECT_EQ(decode(int4, c), c < 8 ? double(c) : double(int(c) - 16));
  const NumberFormat& int8 = number_format("INT8");
  for (uint32_t c = 0; c < 256; ++c) EXPECT_EQ(decode(int8, c), double(static_cast<int8_t>(c)));
  EXPECT_EQ(encode(int4, 7.6), 7u);           // saturates at +7
  EXPECT_EQ(encode(int4, -9.0), 8u);          // and at -8 (code 1000)
  EXPECT_EQ(encode(int8, 2.5), 2u);           // ties to even
  EXPECT_EQ(encode(int8, 3.5), 4u);
  EXPECT_EQ(encode(int8, -2.5), 0xFEu);
}

TEST(NumberFormats, Fp16MatchesTheCompilersHalf) {
  const NumberFormat& f = number_format("FP16");
  for (uint32_t c = 0; c < 65536; ++c) {
    const uint16_t bits = static_cast<uint16_t>(c);
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    const double expected = static_cast<double>(h);
    const double got = decode(f, c);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << c;
    } else {
      ASSERT_EQ(got, expected) << "code " << c;
    }
  }
  // Encoding: the compiler's conversion rounds to nearest even too (inside the finite range).
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> mant(-1.0, 1.0);
  std::uniform_int_distribution<int> ex(-26, 15);
  for (int i = 0; i < 200000; ++i) {
    const double x = std::ldexp(mant(rng), ex(rng));
    const _Float16 h = static_cast<_Float16>(x);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    if (std::isinf(static_cast<double>(h))) continue;  // the compiler overflows where we saturate
    ASSERT_EQ(encode(f, x), bits) << "x = " << x;
  }
}

TEST(NumberFormats, Bf16AndFp32MatchBitLevelFloats) {
  const NumberFormat& bf16 = number_format("BF16");
  for (uint32_t c = 0; c < 65536; ++c) {
    const uint32_t bits = c << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    if (std::isnan(v)) {
      ASSERT_TRUE(std::isnan(decode(bf16, c)));
    } else {
      ASSERT_EQ(decode(bf16, c), double(v)) << c;
      if (!std::isinf(v)) {
        ASSERT_EQ(encode(bf16, v), c) << c;
      }
    }
  }
  const NumberFormat& fp32 = number_format("FP32");
  std::mt19937 rng(2);
  for (int i = 0; i < 100000; ++i) {
    uint32_t bits = static_cast<uint32_t>(rng());
    float v;
    std::memcpy(&v, &bits, 4);
    if (!std::isfinite(v)) continue;
    ASSERT_EQ(decode(fp32, bits), double(v));
    ASSERT_EQ(encode(fp32, double(v)), bits);
  }
}

// For each small format: every finite code round-trips, midpoints between neighbours go to the even
// code, and values beyond the range saturate.
class SmallFormatRounding : public ::testing::TestWithParam<const char*> {};

TEST_P(SmallFormatRounding, RoundTripTiesAndSaturation) {
  const NumberFormat& f = number_format(GetParam());
  std::vector<std::pair<double, uint32_t>> positives;  // (value, code), ascending
  for (uint32_t c = 0; c < f.code_count(); ++c) {
    const double v = decode(f, c);
    if (!std::isfinite(v)) continue;
    if (f.has_sign && (c >> (f.bits() - 1)) && v == 0.0) continue;  // negative zero
    EXPECT_EQ(encode(f, v), c) << f.name << " code " << c;
    if (v >= 0) positives.push_back({v, c});
  }
  std::sort(positives.begin(), positives.end());
  for (std::size_t i = 0; i + 1 < positives.size(); ++i) {
    const auto [lo, lo_code] = positives[i];
    const auto [hi, hi_code] = positives[i + 1];
    const double mid = (lo + hi) / 2;
    const uint32_t even = (lo_code % 2 == 0) ? lo_code : hi_code;
    EXPECT_EQ(encode(f, mid), even) << f.name << " midpoint " << mid;
    EXPECT_EQ(encode(f, std::nextafter(mid, 0.0)), lo_code) << f.name << " below " << mid;
    EXPECT_EQ(encode(f, std::nextafter(mid, 1e9)), hi_code) << f.name << " above " << mid;
  }
  const uint32_t max_code = positives.back().second;
  EXPECT_EQ(encode(f, 1e30), max_code);
  EXPECT_EQ(encode(f, INFINITY), max_code);
  if (f.has_sign) {
    EXPECT_EQ(decode(f, encode(f, -1e30)), -max_finite(f));
  } else {
    EXPECT_EQ(encode(f, -3.0), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(AllSmallFloats, SmallFormatRounding,
                         ::testing::Values("E2M1", "E2M3", "E3M2", "E4M3", "E5M2", "UE4M4", "UE4M3"));

TEST(NumberFormats, E4M3SaturatesInsteadOfNaN) {
  const NumberFormat& f = number_format("E4M3");
  EXPECT_EQ(encode(f, 460.0), 0x7Eu);  // 464 would be the midpoint to a non-existent 480
  EXPECT_EQ(encode(f, -1000.0), 0xFEu);
  EXPECT_EQ(encode(f, std::nan("")), 0xFFu);
}

TEST(NumberFormats, E8M0RoundsToTheNearestPowerOfTwo) {
  const NumberFormat& f = number_format("E8M0");
  EXPECT_EQ(encode(f, 1.0), 127u);
  EXPECT_EQ(encode(f, 1.4), 127u);
  EXPECT_EQ(encode(f, 1.6), 128u);
  EXPECT_EQ(encode(f, 1.5), 128u);  // 1.5 lies between codes 127 and 128: the even code wins
  EXPECT_EQ(encode(f, 3.0), 128u);  // between 128 and 129
  EXPECT_EQ(encode(f, 0.0), 0u);
}

TEST(FloatRounder, AgreesWithEncodeDecode) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (const char* name : {"E2M1", "E2M3", "E3M2", "E4M3", "E5M2", "UE4M4", "FP16"}) {
    const NumberFormat& f = number_format(name);
    const FloatRounder r(f);
    for (int i = 0; i < 100000; ++i) {
      const float x = static_cast<float>(std::ldexp(u(rng), static_cast<int>(rng() % 24) - 12) * max_finite(f));
      ASSERT_EQ(r.round(x), static_cast<float>(decode(f, encode(f, x)))) << name << " x=" << x;
    }
    // Every midpoint between codes too (exactly representable in FP32 for these formats).
    for (uint32_t c = 0; c + 1 < std::min<uint32_t>(f.code_count(), 4096); ++c) {
      const double a = decode(f, c), b = decode(f, c + 1);
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      const float mid = static_cast<float>((a + b) / 2);
      ASSERT_EQ(r.round(mid), static_cast<float>(decode(f, encode(f, mid)))) << name << " mid=" << mid;
    }
  }
}

TEST(NumberFormats, UnknownNameIsAClearError) {
  try {
    number_format("E9M9");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("E9M9"), std::string::npos);
  }
}

}  // namespace
}  // namespace sop
