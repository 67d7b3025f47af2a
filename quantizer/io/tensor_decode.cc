#include "quantizer/io/tensor_decode.h"

#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"

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
    out.resize(count);
  } catch (const std::exception&) {  // std::bad_alloc, or std::length_error past max_size()
    throw Error(file, info.name,
                "needs " + std::to_string(count) + " FP32 values (" + std::to_string(count / (uint64_t{1} << 20) * 4) +
                    " MiB) in memory, more than could be allocated");
  }
}

void reject_non_finite(const std::vector<float>& values, const TensorInfo& info, const std::string& file) {
  // One pass over the exponent bits: cheap, and independent of -ffast-math assumptions about isfinite.
  for (uint64_t i = 0; i < values.size(); ++i) {
    if ((float_to_bits(values[i]) & 0x7F800000u) == 0x7F800000u) {
      throw_non_finite(file, info, i, static_cast<double>(values[i]), "non-finite value");
    }
  }
}

void decode_to_fp32(const uint8_t* bytes, const TensorInfo& info, const std::string& file,
                    std::vector<float>& out) {
  allocate_fp32(info, file, out);
  const uint64_t count = out.size();
  switch (info.dtype) {
    case DType::F32:
      if (count) std::memcpy(out.data(), bytes, count * sizeof(float));
      break;
    case DType::F16:
      for (uint64_t i = 0; i < count; ++i) out[i] = fp16_to_fp32(load_u16(bytes + 2 * i));
      break;
    case DType::BF16:
      for (uint64_t i = 0; i < count; ++i) out[i] = bf16_to_fp32(load_u16(bytes + 2 * i));
      break;
    case DType::F64:
      for (uint64_t i = 0; i < count; ++i) {
        double v;
        std::memcpy(&v, bytes + 8 * i, sizeof v);
        if (!std::isfinite(v)) throw_non_finite(file, info, i, v, "non-finite value");
        out[i] = static_cast<float>(v);
        if (!std::isfinite(out[i])) throw_non_finite(file, info, i, 0.0, "value outside the FP32 range");
      }
      break;
    default:
      throw_unreadable_dtype(file, info);
  }
  reject_non_finite(out, info, file);
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
