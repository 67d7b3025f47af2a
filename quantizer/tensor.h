// Tensors as the quantizer sees them: a name, a shape and FP32 values, row-major.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sop {

// Element types a checkpoint may store; readers convert everything they accept to FP32.
enum class DType { F32, F16, BF16, F64, I8, I16, I32, I64, U8, Bool, Quantized, Unknown };

const char* dtype_name(DType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::Unknown;
  std::string dtype_label;        // as written in the file ("F16", "Q4_0", ...), for messages
  std::vector<int64_t> shape;     // outermost first: a weight matrix is [out, in]
  int64_t element_count() const;
  bool is_matrix() const { return shape.size() == 2; }
};

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;      // row-major, values.size() == product of shape

  int64_t rows() const { return shape.empty() ? 0 : shape.front(); }
  // Everything after the first dimension, so an [out, in] matrix has cols() == in.
  int64_t cols() const;
};

}  // namespace sop
