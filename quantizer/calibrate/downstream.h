// What quantization does to a Llama-style model's outputs, and activation statistics for calibration,
// both measured with the reference forward pass (quantizer/calibrate/llama.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quantizer/calibrate/llama.h"
#include "quantizer/sop/activation_stats.h"
#include "quantizer/weight_format.h"

namespace sop {

struct TextSampling {
  int sequences = 4;
  int tokens = 128;          // generated per sequence, after BOS
  double temperature = 1.0;  // 0: greedy
  uint64_t seed = 1;
  int bos = 1;
};

// Token sequences sampled from the model itself, starting at BOS (deterministic for a seed).
std::vector<std::vector<int>> sample_sequences(const LlamaModel& model, const TextSampling& sampling);

// E[x_j^2] at the input of every matrix the model multiplies by, over the given sequences.
ActivationStats collect_activation_stats(const LlamaModel& model, const std::vector<std::vector<int>>& sequences);

struct DownstreamMetrics {
  double kl_divergence = 0;      // mean over positions of KL(reference || quantized), nats
  double reference_ppl = 0;      // perplexity of the reference model on the sequences
  double quantized_ppl = 0;
  double top1_agreement = 0;     // fraction of positions whose argmax agrees
  int64_t positions = 0;
};

// Teacher-forced over the sequences: compares the next-token distributions of two models.
DownstreamMetrics compare_models(const LlamaModel& reference, const LlamaModel& quantized,
                                 const std::vector<std::vector<int>>& sequences);

}  // namespace sop

namespace sop {

struct FormatDownstream {
  std::string format;
  DownstreamMetrics metrics;
};

// Quantizes every matrix the model multiplies by with each format (whole-model formats plan first)
// and compares the quantized model with the original on sequences sampled from the original.
// `options` may carry per-tensor activation statistics (tensor_importance) for the formats' searches.
std::vector<FormatDownstream> evaluate_downstream(const ModelReader& reader, const std::vector<std::string>& formats,
                                                  const TextSampling& sampling, const QuantOptions& options);

}  // namespace sop
