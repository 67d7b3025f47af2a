#include "quantizer/tensor.h"

namespace sop {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I8: return "I8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
    case DType::Quantized: return "QUANTIZED";
    case DType::Unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

int64_t TensorInfo::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Tensor::cols() const {
  if (shape.size() < 2) return shape.empty() ? 0 : shape.front();
  int64_t n = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace sop
