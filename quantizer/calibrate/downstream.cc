#include "quantizer/calibrate/downstream.h"

#include <cmath>
#include <map>
#include <random>

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
                                 const std::vector<std::vector<int>>& sequences) {
  DownstreamMetrics m;
  double kl = 0, ref_nll = 0, q_nll = 0;
  int64_t agree = 0;
  for (const auto& seq : sequences) {
    LlamaModel::Session ref_session(reference), q_session(quantized);
    for (std::size_t t = 0; t + 1 < seq.size(); ++t) {
      const std::vector<double> p = softmax(ref_session.forward(seq[t]));
      const std::vector<float>& q_logits = q_session.forward(seq[t]);
      const std::vector<double> q = softmax(q_logits);
      for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] > 0) kl += p[i] * (std::log(p[i]) - std::log(std::max(q[i], 1e-300)));
      }
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
    m.reference_ppl = std::exp(ref_nll / n);
    m.quantized_ppl = std::exp(q_nll / n);
    m.top1_agreement = static_cast<double>(agree) / n;
  }
  return m;
}

}  // namespace sop

namespace sop {

std::vector<FormatDownstream> evaluate_downstream(const ModelReader& reader, const std::vector<std::string>& formats,
                                                  const TextSampling& sampling, const QuantOptions& options) {
  const LlamaModel reference(reader);
  const auto sequences = sample_sequences(reference, sampling);
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
    out.push_back({name, compare_models(reference, quantized, sequences)});
  }
  return out;
}

}  // namespace sop
