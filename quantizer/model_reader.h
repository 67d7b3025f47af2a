// Reading checkpoints one tensor at a time: safetensors (single or sharded) and GGUF v3.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "quantizer/tensor.h"

namespace sop {

class ModelReader {
 public:
  virtual ~ModelReader() = default;
  // The checkpoint path as the user gave it (used in every error message).
  virtual const std::string& path() const = 0;
  // All tensors in file order, with their stored dtype and shape; reading the list touches no weights.
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  // Reads one tensor, converted to FP32. Throws sop::Error naming the file and tensor on a bad dtype,
  // out-of-range data, or NaN/Inf values.
  virtual Tensor read(const std::string& name) const = 0;
};

// Opens a checkpoint by looking at it: a .safetensors file, a model.safetensors.index.json (sharded),
// a directory holding either, or a .gguf file. "synthetic:<spec>" opens the built-in generator
// (see quantizer/synthetic.h). Throws sop::Error on anything it cannot read.
std::unique_ptr<ModelReader> open_model(const std::string& path);

}  // namespace sop
