// The golden decode: the one definition of how a block's codes, select bit and scale become weights
// through a layer's LUT. The quantizer's dequantizer, the SystemC model and the RTL regression all call
// these functions and must agree with them bit for bit. Pure functions, no state.
//
// Outside the decode unit (and so outside this file): the per-tensor FP32 scale and the per-row r and
// per-column c factors of the SOP weight model. A decoded weight here is s_block * LUT[sel][code].
//
// Number formats used here (docs/hif.md has the bit layouts and the measured rounding):
//   HIF entry     value = M * 2^(E - bias), M a two's complement integer of man_bits bits, E an unsigned
//                 exponent of exp_bits bits; code = E << man_bits | (M & mask).
//   FP16 entry    IEEE binary16; as an integer pair: M = +-(e ? 1024 + m : m), exponent max(e, 1) - 25.
//                 Codes with e = 31 are decoded as finite (the unit has no inf/NaN); never store them.
//   block scale   a small float: optional sign, exp_bits, man_bits, bias, with or without subnormals.
//   product       value = mant * 2^exp with integer mant: entry x scale is formed exactly (an integer
//                 multiply of the two mantissas and an add of the two exponents), for HIF and FP16 alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/span.h"
#include "model/golden/formats.h"

namespace sop::golden {

// ---- LUT entry formats -------------------------------------------------------------------------

struct HifFormat {
  int man_bits;  // two's complement mantissa width, sign included
  int exp_bits;  // unsigned exponent field width
  int bias;      // value = M * 2^(E - bias)
  constexpr int bits() const { return man_bits + exp_bits; }
};

// The project's HIF: 8-bit mantissa, 3-bit exponent, bias 9 (11 bits per entry). Chosen by measurement
// (docs/hif.md): E2M1, E2M3, E3M2 and Split87 exact; NF4 worst 0.82 %, IQ4_NL/127 worst 0.78 %.
inline constexpr HifFormat kHif{8, 3, 9};

enum class EntryFormat { Hif, Fp16 };

// An exact binary value mant * 2^exp.
struct IntFloat {
  int64_t mant = 0;
  int exp = 0;
};

// Nearest HIF value, ties to even mantissa; the smallest exponent whose rounded mantissa fits is used
// (most precision), values beyond the largest exponent saturate. NaN throws std::domain_error.
uint32_t hif_encode(const HifFormat& f, double x);
IntFloat hif_unpack(const HifFormat& f, uint32_t code);
double hif_decode(const HifFormat& f, uint32_t code);

// IEEE binary16, round to nearest even, saturating to +-65504 (the LUT holds no infinities).
uint16_t fp16_encode(double x);
IntFloat fp16_unpack(uint16_t code);
double fp16_decode(uint16_t code);

// ---- Block scale format ------------------------------------------------------------------------

struct ScaleFormat {
  bool has_sign;
  int exp_bits;
  int man_bits;
  int bias;
  bool subnormals;  // false for E8M0: exponent field 0 is 2^-bias, not zero
  constexpr int bits() const { return (has_sign ? 1 : 0) + exp_bits + man_bits; }
};

// Layout of a scale code: [sign][exponent][mantissa], sign in the top bit when present.
// NaN codes of the source formats (E4M3 S.1111.111, E8M0 0xFF) decode as ordinary finite values here;
// the quantizer never emits them.
// A scale format from a row of the number-format table: a power-of-two row (E8M0) has no subnormals
// (exponent field 0 is 2^-bias).
constexpr ScaleFormat scale_format_of(const NumberFormat& f) {
  return ScaleFormat{f.has_sign, f.exp_bits, f.man_bits, f.bias, f.kind != FormatKind::PowerOfTwo};
}
constexpr ScaleFormat with_sign(ScaleFormat f) {
  f.has_sign = true;
  return f;
}
constexpr bool operator==(const ScaleFormat& a, const ScaleFormat& b) {
  return a.has_sign == b.has_sign && a.exp_bits == b.exp_bits && a.man_bits == b.man_bits && a.bias == b.bias &&
         a.subnormals == b.subnormals;
}
constexpr bool operator!=(const ScaleFormat& a, const ScaleFormat& b) { return !(a == b); }

inline constexpr ScaleFormat kScaleE4M3 = scale_format_of(formats::kE4M3);              // signed, the SOP default
inline constexpr ScaleFormat kScaleSE4M4 = with_sign(scale_format_of(formats::kUE4M4));  // signed UE4M4 (9 bits)
inline constexpr ScaleFormat kScaleUE4M4 = scale_format_of(formats::kUE4M4);  // the paper's unsigned scale
inline constexpr ScaleFormat kScaleUE4M3 = scale_format_of(formats::kUE4M3);  // NVFP4's scale
inline constexpr ScaleFormat kScaleE8M0 = scale_format_of(formats::kE8M0);    // MX
static_assert(kScaleE4M3.bits() == 8 && kScaleSE4M4.bits() == 9 && kScaleE8M0.bits() == 8 && !kScaleE8M0.subnormals);

IntFloat scale_unpack(const ScaleFormat& f, uint32_t code);
double scale_decode(const ScaleFormat& f, uint32_t code);
// Nearest scale code (ties to even, saturating; negative values clamp to 0 on unsigned formats).
uint32_t scale_encode(const ScaleFormat& f, double x);

// ---- The decode configuration and a layer's tables --------------------------------------------

struct DecodeConfig {
  EntryFormat entry_format = EntryFormat::Hif;
  HifFormat hif = kHif;
  ScaleFormat scale = kScaleE4M3;
  int code_bits = 4;  // 4 (16-entry tables) or 6 (64-entry tables)

  int entries_per_table() const { return 1 << code_bits; }
  int entry_bits() const { return entry_format == EntryFormat::Hif ? hif.bits() : 16; }
};

// Encodes a real codebook value in the configured entry format.
uint32_t encode_entry(const DecodeConfig& cfg, double x);
IntFloat entry_unpack(const DecodeConfig& cfg, uint32_t code);

// A layer's tables: entries[table * entries_per_table + code], in the entry format. The method's pair
// is two tables; a layer may hold any number T >= 1 (a block's selector, or its row group, picks one).
struct LayerTables {
  std::vector<uint32_t> entries;
  std::size_t table_count(const DecodeConfig& cfg) const {
    return entries.size() / static_cast<std::size_t>(cfg.entries_per_table());
  }
};

// Builds a layer's tables from two codebooks (each entries_per_table real values).
LayerTables make_tables(const DecodeConfig& cfg, Span<const double> table0, Span<const double> table1);
// Builds a layer's tables from any number of codebooks (each entries_per_table real values).
LayerTables make_tables(const DecodeConfig& cfg, const std::vector<std::vector<double>>& tables);

// ---- Products ----------------------------------------------------------------------------------

// One decoded weight: value = mant * 2^exp exactly. exp_field is what the hardware emits in place of
// exp: the sum of the entry's and the scale's raw exponent fields (exp = exp_field - exp_offset(cfg)).
struct Product {
  int64_t mant = 0;
  int exp = 0;
  uint32_t exp_field = 0;
  bool operator==(const Product& o) const { return mant == o.mant && exp_field == o.exp_field && exp == o.exp; }
  bool operator!=(const Product& o) const { return !(*this == o); }
};

int exp_offset(const DecodeConfig& cfg);
// entry x scale, exact: product of integer mantissas (negated for a negative scale), sum of exponents.
Product multiply(const DecodeConfig& cfg, uint32_t entry_code, uint32_t scale_code);
double to_double(const Product& p);  // always exact
float to_float(const Product& p);    // exact whenever the value is a normal FP32 (every HIF x E4M3/UE4M4)

// ---- Blocks, residuals, streams ----------------------------------------------------------------

struct Block {
  uint32_t scale_code = 0;
  uint32_t table = 0;      // which of the layer's tables (its selector, or its row group's table)
  Span<const uint8_t> codes;  // one code per weight, unpacked (see unpack_codes)
};

// Sparse residual, merged as a replacement entry: the weight at `index` (counted from the tensor's first
// weight) decodes as s_block * entry instead of s_block * LUT[table][code]. It carries the additive
// residual R = s_block * (entry - LUT[table][code]) with no adder in the datapath.
struct Residual {
  uint32_t index = 0;
  uint32_t entry = 0;  // in the layer's entry format
};

// Decodes one block; residuals (sorted by index, indices relative to this block's first weight) replace
// entries. out.size() must equal block.codes.size(); block.table must name one of tables' tables.
void decode_block(const DecodeConfig& cfg, const LayerTables& tables, const Block& block,
                  Span<const Residual> residuals, Span<Product> out);

// Decodes a whole tensor: blocks in order, residuals sorted by index over the tensor.
std::vector<Product> decode_stream(const DecodeConfig& cfg, const LayerTables& tables,
                                   Span<const Block> blocks, Span<const Residual> residuals);

// Code packing: codes are packed LSB first into little-endian bytes (code i occupies bits
// [i*code_bits, (i+1)*code_bits) of the byte string). Used by the pack file and the RTL's lane bus alike.
void unpack_codes(Span<const uint8_t> bytes, int code_bits, std::size_t first, Span<uint8_t> out);
void pack_codes(Span<const uint8_t> codes, int code_bits, std::vector<uint8_t>& bytes);
// The same bits into out[0, ceil(codes.size() * code_bits / 8)), which must start zeroed: pieces of a
// multiple of 8 codes packed separately end on whole bytes and join into the whole string.
void pack_codes_to(Span<const uint8_t> codes, int code_bits, uint8_t* out);

}  // namespace sop::golden
