// A reference forward pass of a Llama-style decoder (RMSNorm, rotary attention with grouped KV heads,
// SwiGLU), in FP32, one token at a time. It exists to measure what quantization does downstream:
// activation statistics for calibration (E[x_j^2] at every matrix's input) and the next-token
// distributions of a quantized model against the original. Small models only (it is a plain loop).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "quantizer/model_reader.h"
#include "base/span.h"

namespace sop {

struct LlamaShape {
  int dim = 0;
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int kv_heads = 0;
  int vocab = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int head_dim() const { return dim / heads; }
  int kv_dim() const { return head_dim() * kv_heads; }
};

// The matrix names of one layer, in whichever naming the checkpoint uses.
struct LlamaLayerNames {
  std::string attn_norm, q, k, v, o, ffn_norm, gate, up, down;
};

struct LlamaNames {
  std::string embedding, final_norm, output;  // output == embedding for tied embeddings
  std::vector<LlamaLayerNames> layers;
};

class LlamaModel {
 public:
  // Reads the weights. Names: llama.cpp GGUF (blk.N.attn_q.weight, ...) or Hugging Face
  // (model.layers.N.self_attn.q_proj.weight, ...). Head counts come from GGUF metadata
  // (llama.attention.head_count[_kv]) or safetensors metadata (nh/nkv, num_attention_heads,
  // num_key_value_heads), or from heads/kv_heads when non-zero. Throws sop::Error naming the file and
  // the missing tensor or key.
  explicit LlamaModel(const ModelReader& reader, int heads = 0, int kv_heads = 0);

  const LlamaShape& shape() const { return shape_; }
  const LlamaNames& names() const { return names_; }
  // The names of every matrix the forward pass multiplies by (the embedding is a lookup, not a matmul,
  // unless it is also the tied output matrix).
  std::vector<std::string> matmul_names() const;

  // Replaces a matrix's values (for evaluating a quantized model); the shape must match.
  void set_matrix(const std::string& name, std::vector<float> values);
  const std::vector<float>& matrix(const std::string& name) const;

  // Called with (matrix name, input vector) before every matrix-vector product.
  using InputObserver = std::function<void(const std::string& matrix, Span<const float> input)>;

  // A decoding session: its own KV cache. forward() takes the token at the next position and returns
  // the logits for the position after it.
  class Session {
   public:
    explicit Session(const LlamaModel& model);
    const std::vector<float>& forward(int token, const InputObserver& observer = nullptr);
    int position() const { return position_; }

   private:
    const LlamaModel& model_;
    int position_ = 0;
    std::vector<std::vector<float>> key_cache_, value_cache_;  // per layer, [position][kv_dim]
    std::vector<float> x_, xb_, xb2_, q_, k_, v_, att_, hb_, hb2_, logits_;
  };

 private:
  LlamaShape shape_;
  LlamaNames names_;
  std::map<std::string, std::vector<float>> weights_;
  std::string path_;
};

// Index of the largest value (the first one on ties).
int argmax(Span<const float> values);
// Softmax in double, numerically stable.
std::vector<double> softmax(Span<const float> logits);

}  // namespace sop
