// Writing a model as GGUF v3 (llama.cpp's checkpoint format), F32 or F16, one tensor at a time.
//
// Layout written (FACTS.md; the reader's quantizer/io/gguf_reader.h): "GGUF", version 3, tensor count,
// metadata count; the metadata in the given order; the tensor descriptions (name, rank, dims innermost
// first, ggml type, offset into the data section) in model order; zero padding to the alignment; the
// data, every tensor starting at a multiple of the alignment (general.alignment when the metadata
// has it, else 32).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/safetensors_writer.h"  // WriteProgress
#include "quantizer/model_reader.h"

namespace sop {

struct GgufWriteOptions {
  // F32, or F16: matrices (and higher ranks) as F16, 1-D tensors (norms) kept F32 as llama.cpp's
  // own converter does, since its kernels read norm weights as F32.
  DType dtype = DType::F32;
  // Written as given, in order (the caller copies them from a source GGUF). general.alignment, if
  // present, sets the alignment and must be a power of two.
  std::vector<std::pair<std::string, GgufValue>> metadata;
  // The name each tensor gets in the file; identity when empty.
  std::function<std::string(const std::string&)> rename;
  WriteProgress progress;
};

// Writes every tensor of `model` through a temporary beside `out_path`, renamed into place only when
// complete and synced (base/atomic_file.h): a failure leaves nothing. Returns the file size.
// Throws sop::Error naming the output (or the model's file and tensor) on failure: a dtype other than
// F32/F16, a bad alignment, two tensors with one output name, a value F16 cannot hold.
uint64_t write_gguf(const ModelReader& model, const std::string& out_path, const GgufWriteOptions& options);

}  // namespace sop
