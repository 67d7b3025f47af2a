#include "quantizer/io/tensor_decode.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "base/large_array.h"
#include "base/parallel.h"

namespace sop::detail {

namespace {

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

[[noreturn]] void throw_non_finite(const std::string& file, const TensorInfo& info, uint64_t index,
                                   double value, const char* why) {
  std::string message = std::string(why) + " at element " + std::to_string(index) + " " +
                        element_coordinates(info.shape, index);
  message += std::isnan(value) ? " (NaN)" : (value > 0 ? " (+Inf)" : (value < 0 ? " (-Inf)" : ""));
  throw Error(file, info.name, message);
}

}  // namespace

bool is_convertible_float(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 || dtype == DType::F64;
}

std::size_t convertible_element_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F64: return 8;
    default: return 0;
  }
}

std::string element_coordinates(const std::vector<int64_t>& shape, uint64_t flat_index) {
  if (shape.empty()) return "[]";
  std::vector<uint64_t> coordinates(shape.size(), 0);
  uint64_t rest = flat_index;
  for (std::size_t i = shape.size(); i-- > 0;) {
    const uint64_t extent = shape[i] > 0 ? static_cast<uint64_t>(shape[i]) : 1;
    coordinates[i] = rest % extent;
    rest /= extent;
  }
  std::string text = "[";
  for (std::size_t i = 0; i < coordinates.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(coordinates[i]);
  }
  return text + "]";
}

void allocate_fp32(const TensorInfo& info, const std::string& file, std::vector<float>& out) {
  const uint64_t count = static_cast<uint64_t>(info.element_count());
  // A well-formed but huge tensor (100 GB) must name itself, not end as a bare "std::bad_alloc".
  try {
    // Storage that holds enough is kept (its stale values are overwritten by the caller).
    resize_for_overwrite(out, count);
  } catch (const std::exception&) {  // std::bad_alloc, or std::length_error past max_size()
    throw Error(file, info.name,
                "needs " + std::to_string(count) + " FP32 values (" + std::to_string(count / (uint64_t{1} << 20) * 4) +
                    " MiB) in memory, more than could be allocated");
  }
}

namespace {

// The index of the first non-finite value in [begin, end), or end.
uint64_t first_non_finite(const float* values, uint64_t begin, uint64_t end) {
  // One pass over the exponent bits: cheap, and independent of -ffast-math assumptions about isfinite.
  uint32_t all_ones = 0;  // OR of the exponent tests, so the common all-finite case has no branch per value
  for (uint64_t i = begin; i < end; ++i) all_ones |= (float_to_bits(values[i]) & 0x7F800000u) == 0x7F800000u;
  if (!all_ones) return end;
  for (uint64_t i = begin; i < end; ++i) {
    if ((float_to_bits(values[i]) & 0x7F800000u) == 0x7F800000u) return i;
  }
  return end;
}

// The element chunks the conversion is split into: fixed, so the first bad element named does not
// depend on the thread count.
constexpr uint64_t kDecodeChunk = uint64_t{1} << 20;

}  // namespace

void reject_non_finite(const std::vector<float>& values, const TensorInfo& info, const std::string& file) {
  const uint64_t bad = first_non_finite(values.data(), 0, values.size());
  if (bad != values.size()) throw_non_finite(file, info, bad, static_cast<double>(values[bad]), "non-finite value");
}

void decode_to_fp32(const uint8_t* bytes, const TensorInfo& info, const std::string& file,
                    std::vector<float>& out, int threads, const MappedFile* source) {
  if (!is_convertible_float(info.dtype)) throw_unreadable_dtype(file, info);
  allocate_fp32(info, file, out);
  const uint64_t count = out.size();
  const auto chunks = static_cast<int64_t>((count + kDecodeChunk - 1) / kDecodeChunk);
  // Per chunk: the first element that is not finite (or that F64 takes out of the FP32 range), the
  // smallest of them reported, as a single pass in order would.
  std::vector<uint64_t> first_bad(static_cast<std::size_t>(chunks), count);
  std::vector<uint8_t> out_of_range(static_cast<std::size_t>(chunks), 0);
  float* values = out.data();
  parallel_for_ranges(chunks, threads, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t c = chunk_begin; c < chunk_end; ++c) {
      const uint64_t begin = static_cast<uint64_t>(c) * kDecodeChunk;
      const uint64_t end = std::min(count, begin + kDecodeChunk);
      switch (info.dtype) {
        case DType::F32:
          if (source == nullptr ||
              !source->copy_out(static_cast<std::size_t>(bytes - source->data()) + 4 * begin, 4 * (end - begin), values + begin)) {
            std::memcpy(values + begin, bytes + 4 * begin, (end - begin) * sizeof(float));
          }
          break;
        case DType::F16:
          for (uint64_t i = begin; i < end; ++i) values[i] = fp16_to_fp32(load_u16(bytes + 2 * i));
          break;
        case DType::BF16:
          for (uint64_t i = begin; i < end; ++i) values[i] = bf16_to_fp32(load_u16(bytes + 2 * i));
          break;
        default:  // F64
          for (uint64_t i = begin; i < end; ++i) {
            double v;
            std::memcpy(&v, bytes + 8 * i, sizeof v);
            values[i] = static_cast<float>(v);
            if (!std::isfinite(v) || !std::isfinite(values[i])) {
              first_bad[static_cast<std::size_t>(c)] = i;
              out_of_range[static_cast<std::size_t>(c)] = std::isfinite(v) ? 1 : 0;
              break;
            }
          }
          break;
      }
      if (first_bad[static_cast<std::size_t>(c)] == count) {
        const uint64_t bad = first_non_finite(values, begin, end);
        if (bad != end) first_bad[static_cast<std::size_t>(c)] = bad;
      }
    }
  });
  for (int64_t c = 0; c < chunks; ++c) {
    const uint64_t bad = first_bad[static_cast<std::size_t>(c)];
    if (bad == count) continue;
    if (info.dtype == DType::F64) {
      double v;
      std::memcpy(&v, bytes + 8 * bad, sizeof v);
      if (out_of_range[static_cast<std::size_t>(c)]) throw_non_finite(file, info, bad, 0.0, "value outside the FP32 range");
      throw_non_finite(file, info, bad, v, "non-finite value");
    }
    throw_non_finite(file, info, bad, static_cast<double>(values[bad]), "non-finite value");
  }
}

void throw_unreadable_dtype(const std::string& file, const TensorInfo& info) {
  const std::string label = info.dtype_label.empty() ? dtype_name(info.dtype) : info.dtype_label;
  if (info.dtype == DType::Quantized) {
    throw Error(file, info.name,
                "stored as quantized type " + label +
                    ", which this reader lists but does not decode (F32, F16, BF16 and F64 are read, and in GGUF "
                "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K and IQ4_NL)");
  }
  throw Error(file, info.name,
              "stored as " + label + ", which is not a floating-point weight type (only F32, F16, BF16 and F64 "
              "tensors are read)");
}

}  // namespace sop::detail
