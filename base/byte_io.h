// Little-endian serialization for pack files, one field at a time (never a struct memcpy, so padding
// and host byte order never reach the file), and CRC-32 for their checksums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/large_array.h"
#include "base/span.h"

namespace sop::detail {

// CRC-32 as zlib, PNG and gzip compute it (reflected polynomial 0xEDB88320, initial and final value
// 0xFFFFFFFF). crc32_update chains: crc32_update(crc32_update(0, a), b) == crc of a followed by b.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, std::size_t size);
inline uint32_t crc32(Span<const uint8_t> bytes) { return crc32_update(0, bytes.data(), bytes.size()); }
// The CRC of a followed by b from crc(a), crc(b) and b's length (zlib's crc32_combine).
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, std::size_t size_b);
// crc32(bytes) computed in pieces on up to `threads` threads (0: every core) and combined.
uint32_t crc32_parallel(Span<const uint8_t> bytes, int threads);

class ByteWriter {
 public:
  void u8(uint32_t v) { bytes_.push_back(static_cast<uint8_t>(v)); }
  void u16(uint32_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void i32(int32_t v) { put(static_cast<uint32_t>(v), 4); }
  void f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put(bits, 4);
  }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put(bits, 8);
  }
  // A string as u16 byte count + UTF-8 bytes (names and labels are short).
  void short_string(const std::string& s);
  void raw(Span<const uint8_t> data) { bytes_.insert(bytes_.end(), data.begin(), data.end()); }
  // n zero bytes appended, for the caller to fill in place (large arrays, without a second copy).
  uint8_t* append_zeroed(std::size_t n) {
    bytes_.resize(bytes_.size() + n);
    return bytes_.data() + bytes_.size() - n;
  }
  // Room for n bytes in all; new storage for a large section is advised to huge pages before it is
  // touched (base/large_array.h).
  void reserve(std::size_t n) {
    if (bytes_.capacity() >= n) return;
    std::vector<uint8_t> grown;
    grown.reserve(n);
    advise_huge_pages(grown.data(), n);
    grown.assign(bytes_.begin(), bytes_.end());
    bytes_.swap(grown);
  }
  void clear() { bytes_.clear(); }  // keeps the storage for the next use

  std::vector<uint8_t>& bytes() { return bytes_; }
  std::size_t size() const { return bytes_.size(); }

 private:
  void put(uint64_t v, int count) {
    for (int i = 0; i < count; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> bytes_;
};

// Reads fields from an untrusted byte range. Every read checks the bytes remain; a failure throws
// sop::Error(file, context + field, ...), so the message names the file, the section and the field.
class ByteCursor {
 public:
  ByteCursor(Span<const uint8_t> bytes, std::string file, std::string context)
      : bytes_(bytes), file_(std::move(file)), context_(std::move(context)) {}

  uint32_t u8(const char* field) { return static_cast<uint32_t>(take(1, field)[0]); }
  uint32_t u16(const char* field) { return static_cast<uint32_t>(get(2, field)); }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(get(4, field)); }
  uint64_t u64(const char* field) { return get(8, field); }
  int32_t i32(const char* field) { return static_cast<int32_t>(static_cast<uint32_t>(get(4, field))); }
  float f32(const char* field);
  double f64(const char* field);
  std::string short_string(const char* field);
  // count bytes, checked against what remains (count comes from the file: it is never trusted).
  Span<const uint8_t> bytes(uint64_t count, const char* field) { return take(count, field); }

  std::size_t remaining() const { return bytes_.size() - position_; }
  std::size_t position() const { return position_; }
  void set_context(std::string context) { context_ = std::move(context); }
  const std::string& context() const { return context_; }
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const;

 private:
  uint64_t get(int count, const char* field) {
    const Span<const uint8_t> b = take(static_cast<uint64_t>(count), field);
    uint64_t v = 0;
    for (int i = 0; i < count; ++i) v |= static_cast<uint64_t>(b[static_cast<std::size_t>(i)]) << (8 * i);
    return v;
  }
  Span<const uint8_t> take(uint64_t count, const char* field);

  Span<const uint8_t> bytes_;
  std::size_t position_ = 0;
  std::string file_;
  std::string context_;
};

// Bit packing of unsigned fields of `bits` bits each, LSB first into little-endian bytes: the same
// convention golden::pack_codes uses for codes, here for scale codes and select bits.
std::vector<uint8_t> pack_bits(Span<const uint32_t> values, int bits);
uint32_t read_packed_bits(Span<const uint8_t> bytes, int bits, uint64_t index);
// The same for fields up to 64 bits wide (a pack's sparse indices: ceil(log2(rows x cols)) bits).
std::vector<uint8_t> pack_bits64(Span<const uint64_t> values, int bits);
uint64_t read_packed_bits64(Span<const uint8_t> bytes, int bits, uint64_t index);
inline uint64_t packed_byte_count(uint64_t count, int bits) { return (count * static_cast<uint64_t>(bits) + 7) / 8; }

}  // namespace sop::detail
