// A built-in model generator: seeded, platform-independent synthetic weights with LLM-like shapes and
// statistics, for tests, demos and benchmarks that must run without a real checkpoint.
//
// Spec grammar (what open_model() and `sop` commands accept after "synthetic:"):
//
//   spec   := "synthetic:" kind [ "?" param { "&" param } ]
//   kind   := "llm" | "7b" | "gaussian" | "student-t" | "laplace"
//   param  := key "=" value
//
// The kind sets defaults; every parameter overrides them:
//   llm        Llama-shaped layers (dim 256, hidden 688, 4 layers), LLM-like values   (~3.2 M weights)
//   7b         Llama-2-7B shapes (dim 4096, hidden 11008, 32 layers), LLM-like values (~6.5 G weights)
//   gaussian   one rows x cols matrix (default 1024 x 1024) named "weight", N(0, scale^2)
//   student-t  one matrix, Student-t with `dof` degrees of freedom, scaled to std dev `scale` (dof > 2)
//   laplace    one matrix, Laplace, scaled to std dev `scale`
//
// Keys:
//   seed=N          64-bit seed (default 1); every tensor and row has its own stream derived from it,
//                   so a tensor's values do not depend on which tensors were read before it
//   dist=D          element distribution: llm | gaussian | student-t | laplace
//   scale=X         standard deviation of the core distribution (default 0.02, typical of LLM weights)
//   dim=N hidden=N layers=N   Llama shapes: per layer q, k, v, o [dim, dim]; gate, up [hidden, dim];
//                   down [dim, hidden]; names model.layers.N.self_attn.q_proj.weight, ...mlp.down_proj.weight
//   rows=N cols=N   a single [rows, cols] matrix named "weight" (cannot be combined with dim/hidden/layers)
//   dof=X           Student-t degrees of freedom (default 5)
//   outliers=N      "llm": outlier input channels per input width (default cols/128 clamped to [2, 8])
//   row_spread=X    "llm": std dev of log(row scale), a log-normal spread across output rows (default 0.3)
//   tail=X tail_gain=X   "llm": fraction of elements drawn from a wider Gaussian (default 0.01, 4x)
//
// The "llm" distribution: w[r][c] = scale * row_scale[r] * channel_gain[c] * z, where z is a Gaussian
// core contaminated by a heavier tail, row_scale is log-normal, and a few input channels have a gain
// drawn uniformly from [10, 20]. Outlier channels are chosen per (seed, input width), so matrices that
// read the same residual stream (q, k, v, gate, up) share them, as in real LLMs.
//
// Values are bit-identical across platforms: std::mt19937_64 is fully specified by the C++ standard,
// and the distributions are implemented here (Marsaglia's polar method, inverse CDFs,
// Marsaglia-Tsang gamma) instead of std::*_distribution, whose output is implementation-defined. They
// use only +, *, /, sqrt (exactly rounded) and log; a last-ulp difference in a platform's double log
// would almost never survive rounding to FP32.
//
// The Llama shapes ("llm", "7b") and the spec syntax and its errors come from quantizer/synthetic_spec.h,
// which `sop simulate --shapes` uses too.
//
// Tensors are generated lazily by read(): listing even the 7b model costs no memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quantizer/model_reader.h"
#include "quantizer/synthetic_spec.h"

namespace sop {

inline constexpr const char* kSyntheticPrefix = "synthetic:";

struct SyntheticKindListing {
  std::string name;         // "llm", "7b", ...
  std::string example;      // a full spec string
  std::string description;
};
// The kinds, for `sop formats` and help texts.
std::vector<SyntheticKindListing> synthetic_kinds();

// Opens a spec ("synthetic:" prefix optional). Throws sop::Error naming the spec and the offending key
// for unknown kinds, unknown keys, malformed or out-of-range values.
std::unique_ptr<ModelReader> open_synthetic(const std::string& spec);

// Streams the synthetic model to a safetensors file, tensor by tensor (F32, F16 or BF16), through a
// temporary file renamed into place at the end. Returns the number of bytes written.
uint64_t write_synthetic_safetensors(const std::string& spec, const std::string& out_path, DType dtype);

// The random source behind the generator (synthetic::SyntheticRandom, seeded through
// synthetic::mix_seed) and the spec parser and shapes it shares with the decode unit's synthetic
// workload are in quantizer/synthetic_spec.h.
}  // namespace sop
