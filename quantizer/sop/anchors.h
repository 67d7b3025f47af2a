// The published 4-bit formats SOP is measured against, as WeightFormats with plain scalar reference
// implementations: NF4 (bitsandbytes), IQ4_NL and Q4_0 (llama.cpp), NVFP4, MXFP4 (OCP MX) and
// BOF4-S (block 64). Their tables are float values, as the original formats store them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "quantizer/weight_format.h"

namespace sop {

std::vector<WeightFormatListing> anchor_format_listings();
std::unique_ptr<WeightFormat> make_anchor_format(const std::string& name);  // nullptr if not an anchor

namespace detail {

// Scalar references over one block (n weights, per-weight error weights w): write the reconstruction
// to q. Each returns nothing; the bits are counted by the format.
void quantize_block_nf4(const float* x, int n, float* q);                  // absmax FP32 scale
void quantize_block_signed_table(const float* x, int n, const std::vector<float>& table, float* q);  // signed max, FP32
void quantize_block_q4_0(const float* x, int n, float* q);                 // d = max / -8, FP16
void quantize_block_iq4_nl(const float* x, const float* w, int n, float* q);  // FP16 d with scale search
void quantize_block_nvfp4(const float* x, int n, float tensor_scale, float* q);
void quantize_block_mxfp4(const float* x, int n, float* q);

}  // namespace detail
}  // namespace sop
