// FP16/BF16 <-> FP32 conversions: exhaustive round trips, rounding at ties, overflow and subnormals.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "base/half.h"

namespace sop {
namespace {

bool is_half_nan(uint16_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0; }

TEST(Half, KnownValuesDecodeExactly) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(float_to_bits(fp16_to_fp32(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0x7C00)));
  EXPECT_LT(fp16_to_fp32(0xFC00), 0.0f);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));  // signalling NaN payloads stay NaN
}

TEST(Half, EveryHalfRoundTripsThroughFp32) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const uint16_t back = fp32_to_fp16(fp16_to_fp32(half));
    if (is_half_nan(half)) {
      EXPECT_TRUE(is_half_nan(back)) << std::hex << h;
    } else {
      ASSERT_EQ(back, half) << std::hex << h;
    }
  }
}

// Every half widened against a second implementation: the value from its fields (sign, exponent,
// mantissa) by ldexp, and NaNs with their payload in the top mantissa bits.
TEST(Half, EveryHalfWidensToItsValue) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const bool negative = (h & 0x8000u) != 0;
    const int exponent = static_cast<int>((h >> 10) & 0x1Fu);
    const int mantissa = static_cast<int>(h & 0x3FFu);
    const float got = fp16_to_fp32(static_cast<uint16_t>(h));
    if (exponent == 0x1F) {
      ASSERT_EQ(float_to_bits(got), (negative ? 0x80000000u : 0u) | 0x7F800000u | (static_cast<uint32_t>(mantissa) << 13))
          << std::hex << h;
      continue;
    }
    const float magnitude = exponent == 0 ? std::ldexp(static_cast<float>(mantissa), -24)
                                          : std::ldexp(1.0f + static_cast<float>(mantissa) / 1024.0f, exponent - 15);
    const float want = negative ? -magnitude : magnitude;
    ASSERT_EQ(float_to_bits(got), float_to_bits(want)) << std::hex << h;  // -0 too
  }
}

TEST(Half, NarrowingRoundsToNearestEven) {
  const float one_ulp = std::ldexp(1.0f, -10);  // binary16 spacing at 1.0
  EXPECT_EQ(fp32_to_fp16(1.0f + one_ulp / 2), 0x3C00);          // tie -> even (1.0)
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * one_ulp / 2), 0x3C02);      // tie -> even (1 + 2 ulp)
  EXPECT_EQ(fp32_to_fp16(std::nextafter(1.0f + one_ulp / 2, 2.0f)), 0x3C01);
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);                    // below the overflow tie
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);                    // the tie goes to infinity
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-1e10f), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);       // tie between 0 and the first subnormal
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);       // 1.5 units: tie -> even (2)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1023.5f, -24)), 0x0400);    // rounds up into the normals
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_TRUE(is_half_nan(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
}

#if defined(__FLT16_MAX__)
// The compiler's own _Float16 conversion is IEEE round-to-nearest-even: compare on many random floats.
TEST(Half, NarrowingMatchesCompilerFloat16) {
  std::mt19937 random(12345);
  for (int i = 0; i < 2000000; ++i) {
    const float f = bits_to_float(static_cast<uint32_t>(random()));
    if (std::isnan(f)) continue;
    const _Float16 reference = static_cast<_Float16>(f);
    uint16_t reference_bits;
    std::memcpy(&reference_bits, &reference, 2);
    ASSERT_EQ(fp32_to_fp16(f), reference_bits) << f;
  }
}
#endif

TEST(BFloat16, RoundTripAndTies) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto bf = static_cast<uint16_t>(h);
    const float f = bf16_to_fp32(bf);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(f))));
    } else {
      ASSERT_EQ(fp32_to_bf16(f), bf) << std::hex << h;
    }
  }
  EXPECT_EQ(fp32_to_bf16(bits_to_float(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(fp32_to_bf16(bits_to_float(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(fp32_to_bf16(bits_to_float(0x3F808001u)), 0x3F81);
  EXPECT_EQ(fp32_to_bf16(bits_to_float(0x7F7FFFFFu)), 0x7F80);  // max float rounds to infinity
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
}

}  // namespace
}  // namespace sop
