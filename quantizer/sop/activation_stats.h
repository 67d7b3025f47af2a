// Per-input-channel activation statistics E[x_j^2], keyed by the name of the weight matrix whose input
// they describe. Read from:
//  - JSON (the project's format, docs/sop-method.md):
//      {"format": "sop-activation-stats", "version": 1,
//       "tensors": {"model.layers.0.self_attn.q_proj.weight": [E[x_0^2], E[x_1^2], ...], ...}}
//  - llama.cpp imatrix .dat (legacy binary): int32 count, then per entry int32 name length, name,
//    int32 ncall, int32 nval, float[nval]; the values are divided by ncall (only relative sizes matter).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "quantizer/tensor.h"

namespace sop {

struct ActivationStats {
  std::map<std::string, std::vector<float>> channels;
  // The vector for a matrix, or nullptr (then the matrix is weighted uniformly).
  const std::vector<float>* find(const std::string& tensor_name) const;
};

// Picks the reader by content (JSON starts with '{'). Throws sop::Error naming the file on bad data.
ActivationStats load_activation_stats(const std::string& path);
// Refuses, naming `stats_path` and the tensor, a vector whose length is not the input-channel count
// of the model's matrix of that name (it would otherwise be silently ignored). Entries naming no
// matrix of the model are left alone.
void check_activation_stats_fit(const ActivationStats& stats, const std::string& stats_path,
                                const std::vector<TensorInfo>& tensors);
void save_activation_stats_json(const ActivationStats& stats, const std::string& path);

}  // namespace sop
