// `sop quantize` as a library call: a checkpoint and a recipe in, a pack file out. The SOP search
// (quantizer/sop/) does the per-layer work; this file decides what is quantized, builds each layer's
// option menu from the recipe, runs the knapsack when the recipe has a budget, and streams the
// results into a PackWriter one tensor at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quantizer/recipe.h"
#include "quantizer/sop/sop_plan.h"  // layout_of
#include "quantizer/sop/sop_search.h"

namespace sop {

class ModelReader;

struct QuantizedLayerSummary {
  std::string name;
  int64_t weights = 0;
  std::string option;      // the search's description of what it chose
  double bits = 0;
  double weighted_error = 0;
  double signal = 0;       // sum of squared weights, for SQNR
  double noise = 0;        // sum of squared reconstruction errors
};

struct QuantizeSummary {
  std::vector<QuantizedLayerSummary> layers;
  std::vector<std::string> kept;      // stored in FP32
  std::vector<std::string> omitted;   // not stored, with the reason
  int64_t quantized_weights = 0;
  double quantized_bits = 0;          // sum of the layers' bits as the search counts them
  double knapsack_gap = 0;            // relative optimality gap of the budget solution (0 without a budget)
  uint64_t pack_bytes = 0;
  double bpw() const { return quantized_weights ? quantized_bits / static_cast<double>(quantized_weights) : 0; }
  double sqnr_db() const;             // over all quantized weights
};

// stage: "plan" (building menus, budget recipes only; its tensors are the planned matrices) or
// "quantize" (every tensor of the model); called after each tensor, with done of total finished and
// the tensor just finished (done = 0 and no tensor: the stage starts).
using QuantizeProgress = std::function<void(const char* stage, std::size_t done, std::size_t total,
                                            const std::string& tensor)>;

struct QuantizeRequest {
  std::string model_path;   // as given, recorded in the pack
  std::string out_path;
  int threads = -1;         // -1: the recipe's threads
  int64_t lut_sram_bytes = -1;  // -1: the recipe's lut_sram_bytes (0: no limit)
  int lut_lanes = 0;        // lanes for reload stalls of streamed tables; 0: LutCapacity's default
  std::string created_by = "sop";
};

// Writes the pack (temporary file + rename: nothing is left at out_path on failure).
QuantizeSummary quantize_model_to_pack(const ModelReader& model, const Recipe& recipe, const QuantizeRequest& request,
                                       const QuantizeProgress& progress = {});

}  // namespace sop
