// Block-scaled element formats ("E2M3sUE4M4"): every run of `block` consecutive weights along a row
// shares one scale in a small scale format; elements are a small float or integer format.
// Also the per-tensor power-of-two baseline ("E4M3-POT"): one 2^k for the whole matrix.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "model/golden/formats.h"
#include "base/span.h"
#include "quantizer/weight_format.h"

namespace sop {

// Rounds a value already divided by its scale onto an element grid (float or integer).
class ElementGrid {
 public:
  explicit ElementGrid(const NumberFormat& element);
  float round(float x) const;
  // The largest magnitude the scale search maps a block's amax onto.
  float max_value() const { return max_; }
  int bits() const { return bits_; }
  bool is_integer() const { return is_integer_; }
  const FloatRounder& float_rounder() const { return float_rounder_; }

 private:
  bool is_integer_;
  FloatRounder float_rounder_;
  float int_lo_ = 0;
  float max_ = 0;
  int bits_;
};

struct BlockScaledSpec {
  const NumberFormat* element = nullptr;
  const NumberFormat* scale = nullptr;
  int block = 16;
  int scale_neighbours = 2;  // scale codes tried on each side of the nearest one
};

// The per-tensor FP32 factor that places the largest block scale at the top of the scale format's
// range; 1 for formats wide enough to need none (E8M0, BF16, FP16, FP32).
bool scale_needs_tensor_factor(const NumberFormat& scale);

// Quantizes one block (size <= spec.block) with an already-decided tensor factor; writes the
// reconstruction to `out` and returns the chosen scale code. importance: per-element weights of
// the squared error (same size as w) or empty.
uint32_t quantize_block(const BlockScaledSpec& spec, const ElementGrid& grid, Span<const float> scale_values,
                        double tensor_factor, Span<const float> w, Span<const float> importance, Span<float> out);

class BlockScaledFormat : public WeightFormat {
 public:
  BlockScaledFormat(std::string name, BlockScaledSpec spec);
  std::string name() const override { return name_; }
  QuantResult quantize(const Tensor& w, const QuantOptions& opts) const override;
  double nominal_bpw() const;

 private:
  std::string name_;
  BlockScaledSpec spec_;
};

class PowerOfTwoTensorFormat : public WeightFormat {
 public:
  PowerOfTwoTensorFormat(std::string name, const NumberFormat& element);
  std::string name() const override { return name_; }
  QuantResult quantize(const Tensor& w, const QuantOptions& opts) const override;

 private:
  std::string name_;
  const NumberFormat* element_;
};

// Parses "<ELEMENT>s<SCALE>[@g<BLOCK>]" (e.g. "E2M3sUE4M4", "INT4sFP16@g32"); nullptr if it is not one.
std::unique_ptr<WeightFormat> parse_block_scaled_name(const std::string& name);

}  // namespace sop
