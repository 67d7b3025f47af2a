#include "model/golden/decode.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace sop::golden {
namespace {

// Round to nearest, ties to even, without depending on the floating-point environment.
double round_even(double q) {
  const double f = std::floor(q);
  const double d = q - f;
  if (d > 0.5) return f + 1.0;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

// Exponent k with 2^k <= a < 2^(k+1), for a > 0.
int floor_log2(double a) {
  int e = 0;
  std::frexp(a, &e);
  return e - 1;
}

void require_finite(double x, const char* what) {
  if (std::isnan(x)) throw std::domain_error(std::string(what) + ": cannot encode NaN");
}

}  // namespace

// ---- HIF -------------------------------------------------------------------------------------------

uint32_t hif_encode(const HifFormat& f, double x) {
  require_finite(x, "hif_encode");
  const int64_t lo = -(int64_t{1} << (f.man_bits - 1));
  const int64_t hi = (int64_t{1} << (f.man_bits - 1)) - 1;
  const int emax = (1 << f.exp_bits) - 1;
  const uint32_t man_mask = (1u << f.man_bits) - 1;
  // The smallest exponent whose rounded mantissa fits gives the finest step for this value.
  for (int e = 0; e <= emax; ++e) {
    const double r = round_even(std::ldexp(x, f.bias - e));
    if (r >= static_cast<double>(lo) && r <= static_cast<double>(hi)) {
      const auto m = static_cast<int64_t>(r);
      return (static_cast<uint32_t>(e) << f.man_bits) | (static_cast<uint32_t>(m) & man_mask);
    }
  }
  const int64_t m = x < 0 ? lo : hi;  // beyond the largest exponent: saturate
  return (static_cast<uint32_t>(emax) << f.man_bits) | (static_cast<uint32_t>(m) & man_mask);
}

IntFloat hif_unpack(const HifFormat& f, uint32_t code) {
  const uint32_t man_mask = (1u << f.man_bits) - 1;
  int64_t m = code & man_mask;
  if (m & (int64_t{1} << (f.man_bits - 1))) m -= int64_t{1} << f.man_bits;  // sign-extend
  const int e = static_cast<int>((code >> f.man_bits) & ((1u << f.exp_bits) - 1));
  return {m, e - f.bias};
}

double hif_decode(const HifFormat& f, uint32_t code) {
  const IntFloat v = hif_unpack(f, code);
  return std::ldexp(static_cast<double>(v.mant), v.exp);
}

// ---- FP16 ------------------------------------------------------------------------------------------

// The table's FP16 row: nearest, ties to even, saturating at +-65504 (the LUT holds no infinities).
uint16_t fp16_encode(double x) {
  require_finite(x, "fp16_encode");
  return static_cast<uint16_t>(encode(formats::kFP16, x));
}

IntFloat fp16_unpack(uint16_t code) {
  const uint32_t e = (code >> 10) & 0x1F;
  const uint32_t m = code & 0x3FF;
  int64_t mant = e == 0 ? m : (1024 + m);
  if (code & 0x8000) mant = -mant;
  const int raw_exp = e == 0 ? 1 : static_cast<int>(e);
  return {mant, raw_exp - 25};
}

double fp16_decode(uint16_t code) {
  const IntFloat v = fp16_unpack(code);
  return std::ldexp(static_cast<double>(v.mant), v.exp);
}

// ---- Scales ----------------------------------------------------------------------------------------

namespace {

struct ScaleFields {
  bool negative;
  uint32_t exp;
  uint32_t man;
};

ScaleFields scale_fields(const ScaleFormat& f, uint32_t code) {
  ScaleFields s{};
  s.man = code & ((1u << f.man_bits) - 1);
  s.exp = (code >> f.man_bits) & ((1u << f.exp_bits) - 1);
  s.negative = f.has_sign && ((code >> (f.man_bits + f.exp_bits)) & 1u);
  return s;
}

// The exponent field as the datapath adds it: subnormals share the smallest normal exponent.
uint32_t scale_raw_exp(const ScaleFormat& f, const ScaleFields& s) {
  return (f.subnormals && s.exp == 0) ? 1u : s.exp;
}

}  // namespace

IntFloat scale_unpack(const ScaleFormat& f, uint32_t code) {
  const ScaleFields s = scale_fields(f, code);
  const bool hidden = !(f.subnormals && s.exp == 0);
  int64_t mant = static_cast<int64_t>(s.man) + (hidden ? (int64_t{1} << f.man_bits) : 0);
  if (s.negative) mant = -mant;
  return {mant, static_cast<int>(scale_raw_exp(f, s)) - f.bias - f.man_bits};
}

double scale_decode(const ScaleFormat& f, uint32_t code) {
  const IntFloat v = scale_unpack(f, code);
  return std::ldexp(static_cast<double>(v.mant), v.exp);
}

uint32_t scale_encode(const ScaleFormat& f, double x) {
  require_finite(x, "scale_encode");
  uint32_t sign = 0;
  if (std::signbit(x)) {
    if (f.has_sign) sign = 1u << (f.man_bits + f.exp_bits);
    x = f.has_sign ? -x : 0.0;
  }
  const uint32_t emax = (1u << f.exp_bits) - 1;
  const uint32_t mmax = (1u << f.man_bits) - 1;
  const uint32_t max_code = (emax << f.man_bits) | mmax;
  const int min_normal_exp = (f.subnormals ? 1 : 0) - f.bias;
  if (x == 0.0) return sign;  // zero (or the smallest value 2^-bias without subnormals)
  int k = floor_log2(x);
  if (k < min_normal_exp) {
    if (!f.subnormals) return sign;  // below 2^-bias: clamp to the smallest code
    // Subnormal step 2^(min_normal_exp - man_bits); 2^man_bits rounds up into the smallest normal.
    const auto m = static_cast<uint32_t>(round_even(std::ldexp(x, f.man_bits - min_normal_exp)));
    return sign | m;
  }
  auto q = static_cast<uint32_t>(round_even(std::ldexp(x, f.man_bits - k)));
  if (q == (2u << f.man_bits)) {
    q = 1u << f.man_bits;
    ++k;
  }
  const int ef = k + f.bias;
  if (ef > static_cast<int>(emax)) return sign | max_code;
  return sign | (static_cast<uint32_t>(ef) << f.man_bits) | (q - (1u << f.man_bits));
}

// ---- Entries and tables ----------------------------------------------------------------------------

uint32_t encode_entry(const DecodeConfig& cfg, double x) {
  return cfg.entry_format == EntryFormat::Hif ? hif_encode(cfg.hif, x) : fp16_encode(x);
}

IntFloat entry_unpack(const DecodeConfig& cfg, uint32_t code) {
  return cfg.entry_format == EntryFormat::Hif ? hif_unpack(cfg.hif, code)
                                              : fp16_unpack(static_cast<uint16_t>(code));
}

LayerTables make_tables(const DecodeConfig& cfg, Span<const double> table0, Span<const double> table1) {
  const auto n = static_cast<std::size_t>(cfg.entries_per_table());
  if (table0.size() != n || table1.size() != n) {
    throw std::invalid_argument("make_tables: each table needs " + std::to_string(n) + " entries");
  }
  LayerTables t;
  t.entries.reserve(2 * n);
  for (double v : table0) t.entries.push_back(encode_entry(cfg, v));
  for (double v : table1) t.entries.push_back(encode_entry(cfg, v));
  return t;
}

LayerTables make_tables(const DecodeConfig& cfg, const std::vector<std::vector<double>>& tables) {
  const auto n = static_cast<std::size_t>(cfg.entries_per_table());
  if (tables.empty()) throw std::invalid_argument("make_tables: a layer needs at least one table");
  LayerTables t;
  t.entries.reserve(tables.size() * n);
  for (const auto& table : tables) {
    if (table.size() != n) throw std::invalid_argument("make_tables: each table needs " + std::to_string(n) + " entries");
    for (double v : table) t.entries.push_back(encode_entry(cfg, v));
  }
  return t;
}

// ---- Products --------------------------------------------------------------------------------------

namespace {

int entry_exp_offset(const DecodeConfig& cfg) {
  return cfg.entry_format == EntryFormat::Hif ? cfg.hif.bias : 25;
}

uint32_t entry_raw_exp(const DecodeConfig& cfg, uint32_t code) {
  if (cfg.entry_format == EntryFormat::Hif) {
    return (code >> cfg.hif.man_bits) & ((1u << cfg.hif.exp_bits) - 1);
  }
  const uint32_t e = (code >> 10) & 0x1F;
  return e == 0 ? 1u : e;
}

}  // namespace

int exp_offset(const DecodeConfig& cfg) {
  return entry_exp_offset(cfg) + cfg.scale.bias + cfg.scale.man_bits;
}

Product multiply(const DecodeConfig& cfg, uint32_t entry_code, uint32_t scale_code) {
  const IntFloat e = entry_unpack(cfg, entry_code);
  const IntFloat s = scale_unpack(cfg.scale, scale_code);
  Product p;
  p.mant = e.mant * s.mant;
  p.exp = e.exp + s.exp;
  p.exp_field = entry_raw_exp(cfg, entry_code) + scale_raw_exp(cfg.scale, scale_fields(cfg.scale, scale_code));
  return p;
}

double to_double(const Product& p) { return std::ldexp(static_cast<double>(p.mant), p.exp); }

float to_float(const Product& p) { return std::ldexp(static_cast<float>(p.mant), p.exp); }

// ---- Blocks and streams ----------------------------------------------------------------------------

void decode_block(const DecodeConfig& cfg, const LayerTables& tables, const Block& block,
                  Span<const Residual> residuals, Span<Product> out) {
  const auto n = static_cast<uint32_t>(cfg.entries_per_table());
  if (out.size() != block.codes.size()) throw std::invalid_argument("decode_block: output size mismatch");
  if (tables.entries.empty() || tables.entries.size() % n != 0) {
    throw std::invalid_argument("decode_block: tables hold " + std::to_string(tables.entries.size()) +
                                " entries, not a whole number of " + std::to_string(n) + "-entry tables");
  }
  if (block.table >= tables.entries.size() / n) {
    throw std::out_of_range("decode_block: table " + std::to_string(block.table) + " of a layer with " +
                            std::to_string(tables.entries.size() / n) + " tables");
  }
  const std::size_t base = static_cast<std::size_t>(block.table) * n;
  std::size_t r = 0;
  for (std::size_t i = 0; i < block.codes.size(); ++i) {
    const uint32_t code = block.codes[i];
    if (code >= n) throw std::out_of_range("decode_block: code " + std::to_string(code) + " out of range");
    uint32_t entry = tables.entries[base + code];
    while (r < residuals.size() && residuals[r].index < i) ++r;  // unsorted or stale: skipped
    if (r < residuals.size() && residuals[r].index == i) entry = residuals[r].entry;
    out[i] = multiply(cfg, entry, block.scale_code);
  }
}

std::vector<Product> decode_stream(const DecodeConfig& cfg, const LayerTables& tables,
                                   Span<const Block> blocks, Span<const Residual> residuals) {
  std::vector<Product> out;
  std::vector<Residual> local;
  std::size_t r = 0;
  uint32_t first = 0;
  for (const Block& b : blocks) {
    const auto n = static_cast<uint32_t>(b.codes.size());
    local.clear();
    for (; r < residuals.size() && residuals[r].index < first + n; ++r) {
      if (residuals[r].index >= first) local.push_back({residuals[r].index - first, residuals[r].entry});
    }
    const std::size_t at = out.size();
    out.resize(at + n);
    decode_block(cfg, tables, b, Span<const Residual>(local.data(), local.size()),
                 Span<Product>(out.data() + at, n));
    first += n;
  }
  return out;
}

// ---- Code packing ----------------------------------------------------------------------------------

void unpack_codes(Span<const uint8_t> bytes, int code_bits, std::size_t first, Span<uint8_t> out) {
  const uint32_t mask = (1u << code_bits) - 1;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t bit = (first + i) * static_cast<std::size_t>(code_bits);
    const std::size_t byte = bit / 8;
    if ((bit + static_cast<std::size_t>(code_bits) + 7) / 8 > bytes.size()) {
      throw std::out_of_range("unpack_codes: past the end of the packed codes");
    }
    uint32_t word = bytes[byte];
    if (byte + 1 < bytes.size()) word |= static_cast<uint32_t>(bytes[byte + 1]) << 8;
    out[i] = static_cast<uint8_t>((word >> (bit % 8)) & mask);
  }
}

void pack_codes(Span<const uint8_t> codes, int code_bits, std::vector<uint8_t>& bytes) {
  const std::size_t total_bits = codes.size() * static_cast<std::size_t>(code_bits);
  bytes.assign((total_bits + 7) / 8, 0);
  pack_codes_to(codes, code_bits, bytes.data());
}

void pack_codes_to(Span<const uint8_t> codes, int code_bits, uint8_t* bytes) {
  const uint32_t mask = (1u << code_bits) - 1;
  // Whole bytes at a time for the unit's 4- and 6-bit codes (2 codes per byte, 4 per 3 bytes), the
  // same bits as the loop below, which packs what is left.
  std::size_t i = 0;
  if (code_bits == 4) {
    for (; i + 2 <= codes.size(); i += 2) {
      bytes[i / 2] = static_cast<uint8_t>((codes[i] & mask) | (codes[i + 1] & mask) << 4);
    }
  } else if (code_bits == 6) {
    for (; i + 4 <= codes.size(); i += 4) {
      const uint32_t v = (codes[i] & mask) | (codes[i + 1] & mask) << 6 | (codes[i + 2] & mask) << 12 |
                         (codes[i + 3] & mask) << 18;
      uint8_t* out = bytes + i / 4 * 3;
      out[0] = static_cast<uint8_t>(v);
      out[1] = static_cast<uint8_t>(v >> 8);
      out[2] = static_cast<uint8_t>(v >> 16);
    }
  }
  for (; i < codes.size(); ++i) {
    const std::size_t bit = i * static_cast<std::size_t>(code_bits);
    const uint32_t v = (codes[i] & mask) << (bit % 8);
    bytes[bit / 8] = static_cast<uint8_t>(bytes[bit / 8] | (v & 0xFF));
    if ((v >> 8) != 0) bytes[bit / 8 + 1] = static_cast<uint8_t>(bytes[bit / 8 + 1] | (v >> 8));
  }
}

}  // namespace sop::golden
