// Bit packing of the pack format's fields against a bit-by-bit packing written here, and the
// CRC-32 of the pack format against its published check value.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/byte_io.h"

namespace sop::detail {
namespace {

// Value i at bits i*b .. i*b+b-1, least significant bit first (docs/pack-format.md).
std::vector<uint8_t> bit_by_bit(const std::vector<uint64_t>& values, int bits) {
  std::vector<uint8_t> out(packed_byte_count(values.size(), bits), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    for (int b = 0; b < bits; ++b) {
      if ((values[i] >> b) & 1u) {
        const uint64_t at = i * static_cast<uint64_t>(bits) + static_cast<uint64_t>(b);
        out[at / 8] = static_cast<uint8_t>(out[at / 8] | (1u << (at % 8)));
      }
    }
  }
  return out;
}

TEST(ByteIo, PackedBitsAreEveryValueInOrderAtEveryWidth) {
  std::mt19937_64 rng(5);
  for (int bits = 1; bits <= 48; ++bits) {
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 100u}) {
      std::vector<uint64_t> values(n);
      // Values wider than the field too: only their low bits are stored.
      for (auto& v : values) v = rng();
      std::vector<uint64_t> low(values);
      for (auto& v : low) v &= bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
      const std::vector<uint8_t> want = bit_by_bit(low, bits);
      ASSERT_EQ(pack_bits64(values, bits), want) << bits << " bits, " << n << " values";
      if (bits <= 32) {
        const std::vector<uint32_t> narrow(values.begin(), values.end());
        ASSERT_EQ(pack_bits(narrow, bits), want) << bits << " bits, " << n << " values";
      }
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(read_packed_bits64(want, bits, i), low[i]);
    }
  }
}

TEST(ByteIo, Crc32IsTheIeeeCheckValue) {
  const std::string text = "123456789";
  EXPECT_EQ(crc32_update(0, reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0xCBF43926u);
  // In pieces: the running value continues.
  const uint32_t first = crc32_update(0, reinterpret_cast<const uint8_t*>(text.data()), 4);
  EXPECT_EQ(crc32_update(first, reinterpret_cast<const uint8_t*>(text.data()) + 4, 5), 0xCBF43926u);
  EXPECT_EQ(crc32_update(7, nullptr, 0), 7u);
  // Combined from two halves, and in 4 MiB pieces on several threads: the one-pass CRC.
  EXPECT_EQ(crc32_combine(first, crc32_update(0, reinterpret_cast<const uint8_t*>(text.data()) + 4, 5), 5), 0xCBF43926u);
  std::vector<uint8_t> big((std::size_t{9} << 20) + 3);
  std::mt19937_64 rng(3);
  for (auto& b : big) b = static_cast<uint8_t>(rng());
  const uint32_t whole = crc32(big);
  for (int threads : {1, 2, 3}) EXPECT_EQ(crc32_parallel(big, threads), whole) << threads << " threads";
  EXPECT_EQ(crc32_parallel(Span<const uint8_t>(big.data(), 10), 2), crc32(Span<const uint8_t>(big.data(), 10)));
}

}  // namespace
}  // namespace sop::detail
