// Turning a tensor's stored bytes into checked FP32 values, shared by the safetensors and GGUF readers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "quantizer/tensor.h"

namespace sop::detail {

// True for the stored types read() converts: F32, F16, BF16 and F64.
bool is_convertible_float(DType dtype);
// Bytes per element of a convertible type.
std::size_t convertible_element_size(DType dtype);

// Converts info.element_count() elements starting at `bytes` (no alignment needed) into `out`, then
// rejects the first NaN or infinity with a sop::Error naming `file`, the tensor and the element's
// flat index and coordinates. The caller has already bounds-checked the byte range. Split between
// up to `threads` threads (0: every core); `out` keeps its storage when it holds enough. `source`,
// when given, is the map `bytes` points into: F32 data is then copied with its copy_out.
void decode_to_fp32(const uint8_t* bytes, const TensorInfo& info, const std::string& file,
                    std::vector<float>& out, int threads = 1, const MappedFile* source = nullptr);

// The two halves of decode_to_fp32, for readers that decode other stored types (GGUF's block types):
// sizes `out` to info.element_count() (an error naming the tensor if that cannot be allocated; its
// storage is kept when it holds enough, and its old values are not cleared), and rejects the first
// NaN or infinity in `values`.
void allocate_fp32(const TensorInfo& info, const std::string& file, std::vector<float>& out);
void reject_non_finite(const std::vector<float>& values, const TensorInfo& info, const std::string& file);

// "[3, 17]" for flat index 209 of a [.., 64] tensor: where a bad value sits, for messages.
std::string element_coordinates(const std::vector<int64_t>& shape, uint64_t flat_index);

// The error read() gives for a tensor whose stored type it lists but does not convert.
[[noreturn]] void throw_unreadable_dtype(const std::string& file, const TensorInfo& info);

}  // namespace sop::detail
