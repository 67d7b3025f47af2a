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
  double kl_standard_error = 0;  // of that mean: sqrt(sample variance / positions)
  double reference_ppl = 0;      // perplexity of the reference model on the sequences
  double quantized_ppl = 0;
  double top1_agreement = 0;     // fraction of positions whose argmax agrees
  int64_t positions = 0;
};

// Teacher-forced over the sequences: compares the next-token distributions of two models at every
// position t >= first_scored (the logits after token t, predicting token t + 1).
DownstreamMetrics compare_models(const LlamaModel& reference, const LlamaModel& quantized,
                                 const std::vector<std::vector<int>>& sequences, int first_scored = 0);

// llama-perplexity's chunks of a tokenized text (FACTS.md): `tokens` (the whole text, BOS first) cut
// into consecutive chunks of `ctx` tokens (a last partial chunk is dropped), at most `max_chunks`
// (0: all), each with its first token replaced by `bos`. Score them with first_scored = ctx / 2.
// Throws sop::Error naming `source` if the text holds fewer than ctx tokens.
std::vector<std::vector<int>> text_chunks(const std::vector<int>& tokens, int ctx, int max_chunks, int bos,
                                          const std::string& source);

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
// The same on given token sequences, scored from position `first_scored` on (text_chunks).
std::vector<FormatDownstream> evaluate_downstream(const ModelReader& reader, const std::vector<std::string>& formats,
                                                  const std::vector<std::vector<int>>& sequences, int first_scored,
                                                  const QuantOptions& options);

}  // namespace sop
