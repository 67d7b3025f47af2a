// A weight format turns one weight matrix into its reconstruction and says how many bits it spent.
// Every format the tool evaluates (block-scaled FP, the power-of-two FP8 baseline, codebook anchors,
// the SOP method) is one of these, made by name from a single registry table.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/span.h"
#include "quantizer/tensor.h"

namespace sop {

class ModelReader;

struct QuantOptions {
  // Per-input-channel activation mean squares E[x_j^2] (size cols) of the matrix being quantized, or
  // empty for uniform importance.
  std::vector<float> channel_importance;
  // The same statistics for every matrix of a model, by tensor name (from `sop calibrate` or an
  // imatrix), for whole-model planning; quantize() callers copy a matrix's entry into
  // channel_importance (see importance_for_tensor).
  std::shared_ptr<const std::map<std::string, std::vector<float>>> tensor_importance;
  int threads = 0;  // 0: all hardware threads
  // SOP formats: the decode unit's LUT SRAM the tables must fit (-1: the format's or recipe's own,
  // 0: no limit) and its lanes, for reload stalls (0: the default, 8). quantizer/sop/lut_capacity.h.
  int64_t lut_sram_bytes = -1;
  int lut_lanes = 0;
};

// The options for quantizing one named matrix: channel_importance set from tensor_importance when
// it has an entry of the right length for this tensor.
QuantOptions options_for_tensor(const QuantOptions& model_options, const std::string& tensor, int64_t cols);

struct QuantResult {
  std::vector<float> dequant;  // same shape as the input, row-major
  double total_bits = 0;       // everything stored: codes, scales, metadata, per-tensor values
  std::string detail;          // free-form note on choices made (shown with --verbose)
  nlohmann::json choice;       // the same as structured fields (SOP: the option chosen); null if none
};

class WeightFormat {
 public:
  virtual ~WeightFormat() = default;
  virtual std::string name() const = 0;
  // Formats that decide per layer under a whole-model budget (SOP-4.5: knapsack promotion) look at
  // every matrix first. Called once before quantize() with the matrices that will be quantized;
  // must stream (read one tensor at a time). The default does nothing.
  virtual void plan(const ModelReader& model, const std::vector<std::string>& matrix_names,
                    const QuantOptions& opts) {
    (void)model; (void)matrix_names; (void)opts;
  }
  // Quantizes a [rows, cols] matrix (blocks run along rows, i.e. along the input dimension).
  virtual QuantResult quantize(const Tensor& w, const QuantOptions& opts) const = 0;
  // What plan() decided for the whole model (SOP budgets: the knapsack's budget, result and bound),
  // as JSON; null for formats without a plan.
  virtual nlohmann::json describe_plan() const { return nullptr; }
};

struct WeightFormatListing {
  std::string name;         // as accepted by make_weight_format
  std::string description;
  double nominal_bpw;       // for a matrix whose row length is a multiple of the block
};

// Makes a format from its paper-style name: "E2M3sUE4M4" (block 16), "E2M3sUE4M4@g32", "E4M3-POT", ...
// Throws sop::Error("format", name, ...) for an unknown name.
std::unique_ptr<WeightFormat> make_weight_format(const std::string& name);
std::vector<WeightFormatListing> list_weight_formats();

}  // namespace sop
