// The port bit-field helpers of the one verilated-unit driver (model/tlm/verilated_core.h), against a
// bit-by-bit reference: every field of up to 64 bits at every offset of wide (VlWide) and narrow ports
// reads back what was written and leaves the other bits alone. The regression's configurations use
// wide ports only for the outputs, so the wide write path is proven here. ctest rtl_port_bits.
#include <bitset>
#include <cstdint>
#include <cstdio>
#include <random>

#include "model/tlm/verilated_core.h"

namespace {

using sop::sysc::read_port_bits;
using sop::sysc::write_port_bits;

int failures = 0;

void expect(bool ok, const char* what, int lsb, int width) {
  if (ok) return;
  if (++failures <= 10) std::printf("FAIL %s: lsb %d width %d\n", what, lsb, width);
}

uint64_t field_mask(int width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

template <std::size_t Words>
void check_wide(std::mt19937_64& rng) {
  constexpr int kBits = static_cast<int>(Words) * 32;
  for (int width = 1; width <= 64; ++width) {
    for (int lsb = 0; lsb + width <= kBits; ++lsb) {
      VlWide<Words> port;
      std::bitset<kBits> reference;
      for (std::size_t w = 0; w < Words; ++w) {
        port[w] = static_cast<uint32_t>(rng());
        for (int b = 0; b < 32; ++b) reference[w * 32 + static_cast<std::size_t>(b)] = (port[w] >> b) & 1u;
      }
      const uint64_t value = rng();
      write_port_bits(port, lsb, width, value);
      for (int b = 0; b < width; ++b) reference[static_cast<std::size_t>(lsb + b)] = (value >> b) & 1u;
      bool same = true;
      for (int b = 0; b < kBits; ++b) {
        same &= reference[static_cast<std::size_t>(b)] == (((port[static_cast<std::size_t>(b / 32)] >> (b % 32)) & 1u) != 0);
      }
      expect(same, "wide write", lsb, width);
      expect(read_port_bits(port, lsb, width) == (value & field_mask(width)), "wide read", lsb, width);
    }
  }
}

template <class Port>
void check_narrow(std::mt19937_64& rng) {
  constexpr int kBits = static_cast<int>(sizeof(Port)) * 8;
  for (int width = 1; width <= kBits; ++width) {
    for (int lsb = 0; lsb + width <= kBits; ++lsb) {
      auto port = static_cast<Port>(rng());
      const uint64_t before = port, value = rng();
      write_port_bits(port, lsb, width, value);
      const uint64_t outside = ~(field_mask(width) << lsb) & field_mask(kBits);
      expect((port & outside) == (before & outside), "narrow write leaves other bits", lsb, width);
      expect(read_port_bits(port, lsb, width) == (value & field_mask(width)), "narrow read", lsb, width);
    }
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(7);
  check_wide<3>(rng);  // 96 bits: fields across two and three words
  check_wide<5>(rng);
  check_narrow<uint8_t>(rng);
  check_narrow<uint32_t>(rng);
  check_narrow<uint64_t>(rng);
  std::printf("%s: port bit fields, %d failures\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
