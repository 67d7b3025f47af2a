#include "quantizer/calibrate/downstream.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "base/error.h"

namespace sop {
namespace {

// A uniform double in [0, 1) from 53 bits of the generator: identical on every platform.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

int sample_token(Span<const float> logits, double temperature, std::mt19937_64& rng) {
  if (temperature <= 0) return argmax(logits);
  std::vector<float> scaled(logits.begin(), logits.end());
  for (float& v : scaled) v = static_cast<float>(v / temperature);
  const std::vector<double> p = softmax(scaled);
  double u = uniform01(rng), acc = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    acc += p[i];
    if (u < acc) return static_cast<int>(i);
  }
  return static_cast<int>(p.size()) - 1;
}

}  // namespace

std::vector<std::vector<int>> sample_sequences(const LlamaModel& model, const TextSampling& sampling) {
  std::mt19937_64 rng(sampling.seed);
  std::vector<std::vector<int>> out;
  for (int s = 0; s < sampling.sequences; ++s) {
    LlamaModel::Session session(model);
    std::vector<int> tokens = {sampling.bos};
    for (int t = 0; t < sampling.tokens; ++t) {
      const std::vector<float>& logits = session.forward(tokens.back());
      tokens.push_back(sample_token(logits, sampling.temperature, rng));
    }
    out.push_back(std::move(tokens));
  }
  return out;
}

ActivationStats collect_activation_stats(const LlamaModel& model, const std::vector<std::vector<int>>& sequences) {
  std::map<std::string, std::vector<double>> sums;
  std::map<std::string, int64_t> counts;
  const LlamaModel::InputObserver observe = [&](const std::string& matrix, Span<const float> x) {
    auto& s = sums[matrix];
    s.resize(x.size(), 0.0);
    for (std::size_t j = 0; j < x.size(); ++j) s[j] += static_cast<double>(x[j]) * x[j];
    ++counts[matrix];
  };
  for (const auto& seq : sequences) {
    LlamaModel::Session session(model);
    for (std::size_t t = 0; t + 1 < seq.size(); ++t) session.forward(seq[t], observe);
  }
  ActivationStats stats;
  for (auto& [name, s] : sums) {
    std::vector<float> mean(s.size());
    for (std::size_t j = 0; j < s.size(); ++j) mean[j] = static_cast<float>(s[j] / static_cast<double>(counts[name]));
    stats.channels[name] = std::move(mean);
  }
  return stats;
}

DownstreamMetrics compare_models(const LlamaModel& reference, const LlamaModel& quantized,
                                 const std::vector<std::vector<int>>& sequences, int first_scored) {
  DownstreamMetrics m;
  double kl = 0, kl_squares = 0, ref_nll = 0, q_nll = 0;
  int64_t agree = 0;
  for (const auto& seq : sequences) {
    LlamaModel::Session ref_session(reference), q_session(quantized);
    for (std::size_t t = 0; t + 1 < seq.size(); ++t) {
      const std::vector<double> p = softmax(ref_session.forward(seq[t]));
      const std::vector<float>& q_logits = q_session.forward(seq[t]);
      // Every position runs through both models (the KV caches need it); only later ones are scored.
      if (static_cast<int64_t>(t) < first_scored) continue;
      const std::vector<double> q = softmax(q_logits);
      double kl_here = 0;
      for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] > 0) kl_here += p[i] * (std::log(p[i]) - std::log(std::max(q[i], 1e-300)));
      }
      kl += kl_here;
      kl_squares += kl_here * kl_here;
      const std::size_t next = static_cast<std::size_t>(seq[t + 1]);
      ref_nll -= std::log(std::max(p[next], 1e-300));
      q_nll -= std::log(std::max(q[next], 1e-300));
      std::size_t ref_best = 0, q_best = 0;
      for (std::size_t i = 1; i < p.size(); ++i) {
        if (p[i] > p[ref_best]) ref_best = i;
        if (q[i] > q[q_best]) q_best = i;
      }
      agree += ref_best == q_best ? 1 : 0;
      ++m.positions;
    }
  }
  if (m.positions > 0) {
    const double n = static_cast<double>(m.positions);
    m.kl_divergence = kl / n;
    // As llama-perplexity reports it: the sample standard deviation over positions, / sqrt(n).
    if (m.positions > 1) {
      const double variance = std::max(0.0, (kl_squares / n - m.kl_divergence * m.kl_divergence) * n / (n - 1));
      m.kl_standard_error = std::sqrt(variance / n);
    }
    m.reference_ppl = std::exp(ref_nll / n);
    m.quantized_ppl = std::exp(q_nll / n);
    m.top1_agreement = static_cast<double>(agree) / n;
  }
  return m;
}

}  // namespace sop

namespace sop {

std::vector<std::vector<int>> text_chunks(const std::vector<int>& tokens, int ctx, int max_chunks, int bos,
                                          const std::string& source) {
  if (ctx < 2) throw Error(source, "--ctx", "must be at least 2, not " + std::to_string(ctx));
  std::size_t count = tokens.size() / static_cast<std::size_t>(ctx);
  if (count == 0) {
    throw Error(source, "--ctx", "the text is " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                                     std::to_string(ctx));
  }
  if (max_chunks > 0) count = std::min(count, static_cast<std::size_t>(max_chunks));
  std::vector<std::vector<int>> chunks;
  for (std::size_t c = 0; c < count; ++c) {
    const auto begin = tokens.begin() + static_cast<std::ptrdiff_t>(c * static_cast<std::size_t>(ctx));
    chunks.emplace_back(begin, begin + ctx);
    chunks.back()[0] = bos;  // llama-perplexity puts BOS first in every chunk, replacing a text token
  }
  return chunks;
}

std::vector<FormatDownstream> evaluate_downstream(const ModelReader& reader, const std::vector<std::string>& formats,
                                                  const TextSampling& sampling, const QuantOptions& options) {
  const LlamaModel reference(reader);
  return evaluate_downstream(reader, formats, sample_sequences(reference, sampling), 0, options);
}

std::vector<FormatDownstream> evaluate_downstream(const ModelReader& reader, const std::vector<std::string>& formats,
                                                  const std::vector<std::vector<int>>& sequences, int first_scored,
                                                  const QuantOptions& options) {
  const LlamaModel reference(reader);
  const std::vector<std::string> matrices = reference.matmul_names();
  std::vector<FormatDownstream> out;
  for (const std::string& name : formats) {
    const auto format = make_weight_format(name);
    format->plan(reader, matrices, options);
    LlamaModel quantized(reader);
    for (const std::string& m : matrices) {
      const Tensor w = reader.read(m);
      quantized.set_matrix(m, format->quantize(w, options_for_tensor(options, m, w.cols())).dequant);
    }
    out.push_back({name, compare_models(reference, quantized, sequences, first_scored)});
  }
  return out;
}

}  // namespace sop
