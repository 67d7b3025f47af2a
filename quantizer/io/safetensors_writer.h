// Writing a model to a safetensors file, one tensor at a time, so the output can be far larger than
// memory. Used by `sop synth` to materialize synthetic models for benchmarks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "quantizer/model_reader.h"

namespace sop {

// Called after each tensor: (tensors written, total tensors, name of the one just written).
using WriteProgress = std::function<void(std::size_t, std::size_t, const std::string&)>;

// Writes every tensor of `model` as `dtype` (F32, F16 or BF16; narrowing rounds to nearest even),
// with `metadata` as the "__metadata__" object. The header is computed from model.tensors() first,
// then each tensor is read, converted and appended. The file is written under a temporary name beside
// `out_path` and renamed into place only when complete and synced (base/atomic_file.h); on failure the
// temporary is removed. Returns the
// file size in bytes. Throws sop::Error naming the output path (or the tensor) on failure.
uint64_t write_safetensors(const ModelReader& model, const std::string& out_path, DType dtype,
                           const std::vector<std::pair<std::string, std::string>>& metadata = {},
                           const WriteProgress& progress = {});

}  // namespace sop
