// The number formats have one table (model/golden/formats.h); the golden decode takes its FP16 and its
// scale formats from it. These tests compare the table's FP16 row with the second, independent FP16
// codec (base/half.h: bit manipulation, used for checkpoints), and the golden scale constants with the
// table rows they come from.
#include <cmath>
#include <cstdint>

#include <gtest/gtest.h>

#include "base/half.h"
#include "model/golden/decode.h"
#include "model/golden/formats.h"

namespace sop {
namespace {

TEST(CodecAgreement, GoldenFp16MatchesTheBitCodecOnFiniteFloats) {
  // Every 4099th FP32 bit pattern (both signs, all exponents) plus the halfway and overflow edges.
  int compared = 0;
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFull; bits += 4099) {
    const float x = bits_to_float(static_cast<uint32_t>(bits));
    if (!std::isfinite(x) || std::fabs(x) >= 65504.0f) continue;  // the codecs differ by contract there
    ASSERT_EQ(golden::fp16_encode(x), fp32_to_fp16(x)) << "x = " << x;
    ++compared;
  }
  EXPECT_GT(compared, 500000);
  // Overflow: the LUT codec saturates (no infinities in a LUT), the checkpoint codec goes to infinity.
  EXPECT_EQ(golden::fp16_encode(65520.0), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(golden::fp16_encode(-1e9), 0xFBFF);
  // Hand-worked: 1 + 2^-11 is halfway between 1 and 1 + 2^-10; ties to even gives 1 (0x3C00).
  EXPECT_EQ(golden::fp16_encode(1.0 + std::ldexp(1.0, -11)), 0x3C00);
  EXPECT_EQ(golden::fp16_encode(std::ldexp(1.0, -24)), 0x0001);  // smallest subnormal
}

TEST(CodecAgreement, ScaleConstantsComeFromTheTable) {
  EXPECT_EQ(golden::kScaleE4M3, (golden::ScaleFormat{true, 4, 3, 7, true}));
  EXPECT_EQ(golden::kScaleUE4M4, (golden::ScaleFormat{false, 4, 4, 7, true}));
  EXPECT_EQ(golden::kScaleSE4M4, (golden::ScaleFormat{true, 4, 4, 7, true}));
  EXPECT_EQ(golden::kScaleUE4M3, (golden::ScaleFormat{false, 4, 3, 7, true}));
  EXPECT_EQ(golden::kScaleE8M0, (golden::ScaleFormat{false, 8, 0, 127, false}));
  // The golden scale decode agrees with the table's decode on every non-NaN code of the table rows.
  for (const NumberFormat* f : {&formats::kE4M3, &formats::kUE4M4, &formats::kUE4M3, &formats::kE8M0}) {
    const golden::ScaleFormat s = golden::scale_format_of(*f);
    for (uint32_t code = 0; code < f->code_count(); ++code) {
      if (is_nan_code(*f, code)) continue;
      ASSERT_EQ(golden::scale_decode(s, code), decode(*f, code)) << f->name << " code " << code;
    }
  }
}

}  // namespace
}  // namespace sop
