// The golden decode: HIF/FP16/scale encodings against independent definitions, the codebook exactness
// table that docs/hif.md quotes, and products.
#include "model/golden/decode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/golden/reference_tables.h"
#include "model/golden/formats.h"

namespace sop::golden {
namespace {

TEST(GoldenHif, EveryCodeRoundTrips) {
  // Decoding a code and encoding the value again gives a code with the same value (codes are not
  // unique: 1 = 64 * 2^-6 = 32 * 2^-5, the encoder picks the finest exponent).
  for (uint32_t c = 0; c < (1u << kHif.bits()); ++c) {
    const double v = hif_decode(kHif, c);
    EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, v)), v) << c;
  }
}

TEST(GoldenHif, RoundsToNearestEvenAndSaturates) {
  // Above 64 * 2^-9 the step is 2^-9 until 128 * 2^-9; 2^-10 beyond 0 ties to even 0.
  EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, std::ldexp(1.0, -10))), 0.0);
  EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, std::ldexp(3.0, -10))), std::ldexp(2.0, -9));
  EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, 1000.0)), 127.0 / 4.0);
  EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, -1000.0)), -128.0 / 4.0);
  EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, -1.0)), -1.0);
  EXPECT_EQ(hif_decode(kHif, hif_encode(kHif, 1.0)), 1.0);
}

TEST(GoldenHif, FixedCodebooksExactWhereRequired) {
  for (const Codebook& cb : reference_codebooks()) {
    const HifRounding r = measure_hif(kHif, cb);
    if (cb.must_be_exact) {
      EXPECT_EQ(r.inexact, 0) << cb.name;
    } else {
      EXPECT_LT(r.worst_rel, 0.01) << cb.name;
    }
  }
}

TEST(GoldenHif, PrintsExactnessTable) {
  // docs/hif.md quotes this output (run: sop_unit_tests --gtest_filter=GoldenHif.PrintsExactnessTable).
  std::printf("%s", hif_exactness_table(kHif).c_str());
  // The width sweep behind the choice: inexact entries (of the exact-required books) and the worst
  // relative rounding of NF4 and IQ4_NL/127, for other mantissa/exponent/bias choices.
  std::printf("\n| HIF (mantissa, exponent, bias) | bits | exact-required books inexact | NF4 worst | IQ4_NL/127 worst |\n");
  std::printf("|---|---|---|---|---|\n");
  for (const HifFormat f : {HifFormat{6, 3, 8}, HifFormat{6, 3, 7}, HifFormat{7, 3, 9}, HifFormat{7, 4, 16},
                            HifFormat{8, 2, 4}, HifFormat{8, 3, 9}, HifFormat{8, 4, 16}, HifFormat{9, 3, 9}}) {
    int inexact = 0;
    double nf4 = 0, iq4 = 0;
    for (const Codebook& cb : reference_codebooks()) {
      const HifRounding r = measure_hif(f, cb);
      if (cb.must_be_exact) inexact += r.inexact;
      if (cb.name == "NF4") nf4 = r.worst_rel;
      if (cb.name == "IQ4_NL/127") iq4 = r.worst_rel;
    }
    std::printf("| (%d, %d, %d) | %d | %d | %.3f %% | %.3f %% |\n", f.man_bits, f.exp_bits, f.bias, f.bits(), inexact,
                100 * nf4, 100 * iq4);
  }
}

TEST(GoldenFp16, MatchesKnownEncodings) {
  EXPECT_EQ(fp16_encode(1.0), 0x3C00);
  EXPECT_EQ(fp16_encode(-2.0), 0xC000);
  EXPECT_EQ(fp16_encode(65504.0), 0x7BFF);
  EXPECT_EQ(fp16_encode(1e9), 0x7BFF);
  EXPECT_EQ(fp16_encode(std::ldexp(1.0, -24)), 0x0001);
  EXPECT_EQ(fp16_encode(std::ldexp(1.0, -25)), 0x0000);             // tie to even: 0
  EXPECT_EQ(fp16_encode(std::ldexp(3.0, -25)), 0x0002);             // tie to even: 2
  EXPECT_EQ(fp16_encode(1.0 + std::ldexp(1.0, -11)), 0x3C00);       // tie to even
  EXPECT_EQ(fp16_encode(1.0 + 3 * std::ldexp(1.0, -11)), 0x3C02);
  for (uint32_t c = 0; c < 0x7C00; ++c) {
    EXPECT_EQ(fp16_encode(fp16_decode(static_cast<uint16_t>(c))), c);
  }
}

TEST(GoldenScale, MatchesFormatDefinitions) {
  // E4M3: 0x7E = 448 (1.75 * 2^8), 0x01 = 2^-9, sign in bit 7.
  EXPECT_EQ(scale_decode(kScaleE4M3, 0x7E), 448.0);
  EXPECT_EQ(scale_decode(kScaleE4M3, 0x01), std::ldexp(1.0, -9));
  EXPECT_EQ(scale_decode(kScaleE4M3, 0x80 | 0x38), -1.0);
  EXPECT_EQ(scale_decode(kScaleE8M0, 0), std::ldexp(1.0, -127));
  EXPECT_EQ(scale_decode(kScaleE8M0, 127), 1.0);
  EXPECT_EQ(scale_decode(kScaleUE4M4, 0x7F), 31.0 / 16.0);
  for (const ScaleFormat* f : {&kScaleE4M3, &kScaleSE4M4, &kScaleUE4M4, &kScaleE8M0}) {
    for (uint32_t c = 0; c < (1u << f->bits()); ++c) {
      const double v = scale_decode(*f, c);
      EXPECT_EQ(scale_decode(*f, scale_encode(*f, v)), v) << c;
    }
  }
}

TEST(GoldenScale, AgreesWithQuantizerNumberFormats) {
  // The quantizer's number-format table and the decode unit's scale decode are two definitions of the
  // same formats: they must agree on every finite code.
  const struct {
    const char* name;
    const ScaleFormat* f;
  } pairs[] = {{"E4M3", &kScaleE4M3}, {"UE4M4", &kScaleUE4M4}, {"UE4M3", &kScaleUE4M3}, {"E8M0", &kScaleE8M0}};
  for (const auto& p : pairs) {
    const NumberFormat& nf = number_format(p.name);
    for (uint32_t c = 0; c < (1u << p.f->bits()); ++c) {
      if (is_nan_code(nf, c)) continue;
      EXPECT_EQ(scale_decode(*p.f, c), sop::decode(nf, c)) << p.name << " code " << c;
    }
  }
}

TEST(GoldenProduct, ExactAndMatchesDoubleArithmetic) {
  std::mt19937 rng(1);
  for (EntryFormat ef : {EntryFormat::Hif, EntryFormat::Fp16}) {
    DecodeConfig cfg;
    cfg.entry_format = ef;
    for (int i = 0; i < 100000; ++i) {
      const uint32_t e = rng() & ((1u << cfg.entry_bits()) - 1);
      const uint32_t s = rng() & 0xFF;
      const Product p = multiply(cfg, e, s);
      const double want = (ef == EntryFormat::Hif ? hif_decode(cfg.hif, e) : fp16_decode(static_cast<uint16_t>(e))) *
                          scale_decode(cfg.scale, s);
      ASSERT_EQ(to_double(p), want);
      ASSERT_EQ(static_cast<int>(p.exp_field) - exp_offset(cfg), p.exp);
      if (ef == EntryFormat::Hif) ASSERT_EQ(static_cast<double>(to_float(p)), want);  // exact in FP32
    }
  }
}

TEST(GoldenStream, ResidualsReplaceEntriesAndCodesPack) {
  DecodeConfig cfg;
  const std::vector<double> t0(16, 0.5), t1(16, -0.25);
  const LayerTables tables = make_tables(cfg, t0, t1);
  std::vector<uint8_t> codes(32);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i % 16);
  std::vector<uint8_t> bytes;
  pack_codes(codes, 4, bytes);
  ASSERT_EQ(bytes.size(), 16u);
  EXPECT_EQ(bytes[0], 0x10);  // code 0 in the low nibble, code 1 in the high nibble
  std::vector<uint8_t> back(32);
  unpack_codes(bytes, 4, 0, back);
  EXPECT_EQ(back, codes);
  const uint32_t one = scale_encode(cfg.scale, 1.0);
  const std::vector<Block> blocks = {{one, false, Span<const uint8_t>(codes.data(), 16)},
                                     {one, true, Span<const uint8_t>(codes.data() + 16, 16)}};
  const std::vector<Residual> res = {{3, hif_encode(cfg.hif, 2.0)}, {17, hif_encode(cfg.hif, -3.0)}};
  const std::vector<Product> out = decode_stream(cfg, tables, blocks, res);
  ASSERT_EQ(out.size(), 32u);
  EXPECT_EQ(to_double(out[0]), 0.5);
  EXPECT_EQ(to_double(out[3]), 2.0);
  EXPECT_EQ(to_double(out[16]), -0.25);
  EXPECT_EQ(to_double(out[17]), -3.0);
  // 6-bit codes straddle bytes.
  std::vector<uint8_t> c6 = {63, 1, 42, 7, 0, 33};
  pack_codes(c6, 6, bytes);
  std::vector<uint8_t> b6(6);
  unpack_codes(bytes, 6, 0, b6);
  EXPECT_EQ(b6, c6);
}

// The packed codes against a bit-by-bit packing written here (code i at bits i*b .. i*b+b-1, least
// significant first), for every length up to 40 (whole-byte groups and the tails after them).
TEST(GoldenStream, PackedCodesAreTheBitsOfEveryCodeInOrder) {
  for (int bits : {2, 3, 4, 5, 6}) {
    for (std::size_t n = 0; n <= 40; ++n) {
      std::vector<uint8_t> codes(n);
      for (std::size_t i = 0; i < n; ++i) codes[i] = static_cast<uint8_t>((i * 37 + 11) & ((1u << bits) - 1));
      std::vector<uint8_t> want((n * static_cast<std::size_t>(bits) + 7) / 8, 0);
      for (std::size_t i = 0; i < n; ++i) {
        for (int b = 0; b < bits; ++b) {
          if ((codes[i] >> b) & 1) {
            const std::size_t at = i * static_cast<std::size_t>(bits) + static_cast<std::size_t>(b);
            want[at / 8] = static_cast<uint8_t>(want[at / 8] | (1u << (at % 8)));
          }
        }
      }
      std::vector<uint8_t> got;
      pack_codes(codes, bits, got);
      ASSERT_EQ(got, want) << bits << " bits, " << n << " codes";
      // Pieces of a multiple of 8 codes packed separately join into the same bytes.
      std::vector<uint8_t> pieces(want.size(), 0);
      for (std::size_t first = 0; first < n; first += 16) {
        pack_codes_to(Span<const uint8_t>(codes.data() + first, std::min<std::size_t>(16, n - first)), bits,
                      pieces.data() + first * static_cast<std::size_t>(bits) / 8);
      }
      ASSERT_EQ(pieces, want) << bits << " bits, " << n << " codes in pieces of 16";
    }
  }
}

}  // namespace
}  // namespace sop::golden
