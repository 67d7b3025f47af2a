// Reading checkpoints one tensor at a time: safetensors (single or sharded) and GGUF v3.
#pragma once

#include <cstdint>
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
  // read() into `out`, keeping its values' storage when it holds enough (a loop over a model's
  // tensors then touches no new pages after the largest), converting on up to `threads` threads
  // (0: every core). The same values and errors as read(); readers without their own take read().
  virtual void read_into(const std::string& name, Tensor& out, int threads) const {
    (void)threads;
    out = read(name);
  }
  // The reader of the file itself, for format metadata (GGUF keys, safetensors metadata): a reader
  // in front of another (with_memory_budget) returns the inner one's.
  virtual const ModelReader& underlying() const { return *this; }
};

// Opens a checkpoint by looking at it: a .safetensors file, a model.safetensors.index.json (sharded),
// a directory holding either, or a .gguf file. "synthetic:<spec>" opens the built-in generator
// (see quantizer/synthetic.h). Throws sop::Error on anything it cannot read.
std::unique_ptr<ModelReader> open_model(const std::string& path);

// A memory budget for tensor data (`--max-memory`): read() of a tensor whose FP32 copy needs more
// than `max_bytes` throws sop::Error naming the file, the tensor and the limit, before the inner
// reader allocates anything. Everything else is the inner reader's.
std::unique_ptr<ModelReader> with_memory_budget(std::unique_ptr<ModelReader> reader, uint64_t max_bytes);

// A size as --max-memory takes it: bytes, or a number with K, M, G or T (binary: K = 1024), e.g.
// "8G", "512M". Throws std::invalid_argument when it is not one (or is 0, or overflows 64 bits).
uint64_t parse_memory_size(const std::string& text);

}  // namespace sop
