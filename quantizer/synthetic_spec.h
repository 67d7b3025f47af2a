// What every synthetic-model generator of the project shares: the seeded random sources, the parser
// of "kind?key=value&..." specs, and the table of model shapes. Two generators use it:
//   quantizer/synthetic.cc   `synthetic:llm`, `synthetic:7b?layers=2`, ...: FP32 weights to quantize;
//   model/tlm/workload.cc    `sop simulate --shapes llama2-7b?...`: quantized codes, scales and residuals
//                            for the decode unit.
// They draw different values (weights vs. codes) from different streams, each pinned by its own
// golden tests, but the same spec grammar, the same error messages and the same shapes, so a
// Llama-2-7B layer is one and the same list of matrices on both sides.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sop::synthetic {

// ---- seeded random sources ------------------------------------------------------------------------

// splitmix64 (Steele, Lea, Flood 2014): one step of its golden-ratio counter, then its finalizer.
// Nearby inputs give unrelated outputs, which is what seed derivation and counter streams need.
uint64_t splitmix64(uint64_t x);

// A child seed from a seed and a salt (tensor index, row, ...): splitmix64(seed + golden * salt).
uint64_t mix_seed(uint64_t seed, uint64_t salt);

// A counter-based stream: output i is splitmix64(key + i). Any (matrix, row) stream can be started on
// its own, so the decode unit's workload produces any chunk without generating the rows before it.
class CounterRandom {
 public:
  explicit CounterRandom(uint64_t key) : counter_(key) {}
  // The stream of one row of one matrix of a model drawn with `seed`.
  static CounterRandom for_row(uint64_t seed, uint64_t matrix, uint64_t row);
  uint64_t next() { return splitmix64(counter_++); }

 private:
  uint64_t counter_;
};

// Real-valued draws for weights: std::mt19937_64 (fully specified by the C++ standard) with the
// distributions implemented here (Marsaglia's polar method, inverse CDFs, Marsaglia-Tsang gamma),
// because std::*_distribution's output is implementation-defined.
class SyntheticRandom {
 public:
  explicit SyntheticRandom(uint64_t seed);
  uint64_t next_u64();
  double uniform();                 // [0, 1), 53 random bits
  uint64_t below(uint64_t bound);   // uniform integer in [0, bound), bound > 0, unbiased
  double gaussian();                // N(0, 1)
  double laplace();                 // zero mean, unit variance
  double student_t(double dof);     // unit variance when dof > 2
  double gamma(double shape);       // Gamma(shape, 1)

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0;
};

// ---- specs ----------------------------------------------------------------------------------------

// A spec "kind?key=value&key=value". The constructor checks the syntax (every item key=value, no key
// twice; empty items are skipped); the typed getters read and range-check one key each, and
// reject_unknown() refuses whatever no getter asked for. Every error is a sop::Error naming the spec
// as given and the offending key.
class SpecQuery {
 public:
  // `prefix` (e.g. "synthetic:") is not part of the kind when the spec starts with it.
  explicit SpecQuery(std::string spec, const std::string& prefix = "");

  const std::string& spec() const { return spec_; }
  const std::string& kind() const { return kind_; }
  bool has(const std::string& key) const;

  // Each returns `fallback` when the key is absent.
  std::string text(const std::string& key, const std::string& fallback);
  int64_t integer(const std::string& key, int64_t fallback, int64_t low, int64_t high);
  uint64_t seed(const std::string& key, uint64_t fallback);  // any unsigned 64-bit integer
  double real(const std::string& key, double fallback, double low, double high);  // finite
  bool flag(const std::string& key, bool fallback);          // 0 or 1

  // Throws for the first key in spec order that no getter read, listing `allowed`.
  void reject_unknown(const std::string& allowed) const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  struct Item {
    std::string key;
    std::string value;
    bool read = false;
  };
  const Item* find(const std::string& key) const;
  Item* take(const std::string& key);

  std::string spec_;
  std::string kind_;
  std::vector<Item> items_;
};

// ---- model shapes ---------------------------------------------------------------------------------

// A Llama-style decoder: per layer q, k, v, o [dim, dim]; gate, up [hidden, dim]; down [dim, hidden];
// then, where vocab > 0, an output head lm_head [vocab, dim].
struct ModelShape {
  uint64_t weights_per_layer() const;
  // "dim 4096, hidden 11008, 32 layers", for help texts.
  std::string summary() const;

  std::string name;
  int64_t dim = 0;     // model width
  int64_t hidden = 0;  // MLP width
  int64_t layers = 0;
  int64_t vocab = 0;   // 0: the table has no output head for it
};

// The named shapes, Llama-2-7B's first.
const std::vector<ModelShape>& model_shapes();
// The shape called `name`; throws sop::Error naming `spec` and listing the known names.
const ModelShape& model_shape(const std::string& name, const std::string& spec);
inline constexpr const char* kLlama2_7b = "llama2-7b";
inline constexpr const char* kLlamaSmall = "llama-small";

struct MatrixShape {
  std::string name;  // "model.layers.N.self_attn.q_proj.weight", ..., "lm_head.weight"
  int64_t rows = 0;
  int64_t cols = 0;
};

// The weight matrices of `layers` decoder layers of `shape` in checkpoint order, then lm_head when
// asked for (needs shape.vocab > 0).
std::vector<MatrixShape> llama_matrices(const ModelShape& shape, int64_t layers, bool lm_head);

}  // namespace sop::synthetic
