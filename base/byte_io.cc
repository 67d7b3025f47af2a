#include "base/byte_io.h"

#include <algorithm>
#include <array>

#include <zlib.h>

#include "base/error.h"
#include "base/parallel.h"

namespace sop::detail {

// zlib's CRC-32 (the IEEE polynomial of the pack format, docs/pack-format.md), several bytes per
// step; crc32_z takes a size_t length.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, std::size_t size) {
  if (size == 0) return crc;
  return static_cast<uint32_t>(::crc32_z(crc, data, size));
}

uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, std::size_t size_b) {
  // zlib's length is a z_off_t; a piece is far below its range (the callers' pieces are arrays in memory).
  return static_cast<uint32_t>(::crc32_combine(crc_a, crc_b, static_cast<z_off_t>(size_b)));
}

uint32_t crc32_parallel(Span<const uint8_t> bytes, int threads) {
  constexpr std::size_t kPiece = std::size_t{4} << 20;
  const std::size_t pieces = (bytes.size() + kPiece - 1) / kPiece;
  if (pieces <= 1) return crc32(bytes);
  std::vector<uint32_t> crcs(pieces);
  parallel_for_ranges(static_cast<int64_t>(pieces), threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const std::size_t at = static_cast<std::size_t>(p) * kPiece;
      crcs[static_cast<std::size_t>(p)] = crc32_update(0, bytes.data() + at, std::min(kPiece, bytes.size() - at));
    }
  });
  uint32_t crc = crcs[0];
  for (std::size_t p = 1; p < pieces; ++p) crc = crc32_combine(crc, crcs[p], std::min(kPiece, bytes.size() - p * kPiece));
  return crc;
}

void ByteWriter::short_string(const std::string& s) {
  if (s.size() > 0xFFFF) throw Error("pack", s.substr(0, 40) + "...", "name longer than 65535 bytes");
  u16(static_cast<uint32_t>(s.size()));
  raw(Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

void ByteCursor::fail(const std::string& field, const std::string& message) const {
  throw Error(file_, context_.empty() ? field : context_ + ": " + field, message);
}

Span<const uint8_t> ByteCursor::take(uint64_t count, const char* field) {
  if (count > remaining()) {
    fail(field, "needs " + std::to_string(count) + " bytes at offset " + std::to_string(position_) +
                    " of the section, only " + std::to_string(remaining()) + " remain (truncated or corrupt)");
  }
  const Span<const uint8_t> out = bytes_.subspan(position_, static_cast<std::size_t>(count));
  position_ += static_cast<std::size_t>(count);
  return out;
}

float ByteCursor::f32(const char* field) {
  const uint32_t bits = u32(field);
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

double ByteCursor::f64(const char* field) {
  const uint64_t bits = u64(field);
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

std::string ByteCursor::short_string(const char* field) {
  const uint32_t length = u16(field);
  const Span<const uint8_t> b = take(length, field);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

namespace {

template <typename T>
std::vector<uint8_t> pack_bits_of(Span<const T> values, int bits) {
  std::vector<uint8_t> out(static_cast<std::size_t>(packed_byte_count(values.size(), bits)), 0);
  if (bits > 0 && bits <= 32) {
    // Whole bytes at a time through an accumulator: the same bits as the loop below (value i at
    // bits i*b .. i*b+b-1, least significant first), several times faster.
    const uint64_t mask = (uint64_t{1} << bits) - 1;
    uint64_t acc = 0;
    int held = 0;
    std::size_t at = 0;
    for (T v : values) {
      acc |= (static_cast<uint64_t>(v) & mask) << held;
      held += bits;
      for (; held >= 8; held -= 8, acc >>= 8) out[at++] = static_cast<uint8_t>(acc);
    }
    if (held > 0) out[at] = static_cast<uint8_t>(acc);
    return out;
  }
  uint64_t bit = 0;
  for (T v : values) {
    for (int k = 0; k < bits; ++k, ++bit) {
      if ((v >> k) & 1u) out[static_cast<std::size_t>(bit / 8)] |= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  return out;
}

}  // namespace

std::vector<uint8_t> pack_bits(Span<const uint32_t> values, int bits) { return pack_bits_of(values, bits); }
std::vector<uint8_t> pack_bits64(Span<const uint64_t> values, int bits) { return pack_bits_of(values, bits); }

uint64_t read_packed_bits64(Span<const uint8_t> bytes, int bits, uint64_t index) {
  uint64_t v = 0;
  uint64_t bit = index * static_cast<uint64_t>(bits);
  for (int k = 0; k < bits; ++k, ++bit) {
    v |= static_cast<uint64_t>((bytes[static_cast<std::size_t>(bit / 8)] >> (bit % 8)) & 1u) << k;
  }
  return v;
}

uint32_t read_packed_bits(Span<const uint8_t> bytes, int bits, uint64_t index) {
  return static_cast<uint32_t>(read_packed_bits64(bytes, bits, index));
}

}  // namespace sop::detail
