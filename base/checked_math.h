// Overflow-checked size arithmetic for parsing untrusted headers: every offset and size read from a
// file goes through these before it is used to index the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace sop::detail {

// Each returns false (and leaves *out unspecified) when the exact result does not fit.
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// Rounds up to a multiple of `alignment` (> 0).
inline bool checked_align_up(uint64_t value, uint64_t alignment, uint64_t* out) {
  const uint64_t remainder = value % alignment;
  if (remainder == 0) {
    *out = value;
    return true;
  }
  return checked_add(value, alignment - remainder, out);
}

// The largest tensor dimension any reader accepts (2^48): far beyond any real tensor, and the same for
// model readers and pack files, so the tool never writes a pack that it then refuses to read.
constexpr uint64_t kMaxTensorDimension = uint64_t{1} << 48;

// Product of dimensions as an element count that fits in int64 (what TensorInfo and Tensor hold).
inline bool checked_element_count(const int64_t* dims, std::size_t rank, uint64_t* out) {
  uint64_t count = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) return false;
    if (!checked_mul(count, static_cast<uint64_t>(dims[i]), &count)) return false;
  }
  if (count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = count;
  return true;
}

}  // namespace sop::detail
