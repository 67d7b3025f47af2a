// A pack file seen as a checkpoint: every stored tensor, quantized layers decoded through the golden
// decode (dequantize_layer) and full-precision ones as stored. Lets anything that reads a ModelReader
// (the safetensors writer behind `sop dequant`, evaluation) take a .sop file.
#pragma once

#include <memory>
#include <string>

#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"

namespace sop {

// Opens and validates the pack (PackFile::open); tensors() lists what it stores, in source order, as F32.
std::unique_ptr<ModelReader> open_pack_as_model(const std::string& path);

}  // namespace sop
