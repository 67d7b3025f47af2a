#include "quantizer/calibrate/llama.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/safetensors_reader.h"

namespace sop {
namespace {

bool has_tensor(const ModelReader& reader, const std::string& name) {
  for (const TensorInfo& t : reader.tensors()) {
    if (t.name == name) return true;
  }
  return false;
}

const TensorInfo& tensor_info(const ModelReader& reader, const std::string& name) {
  for (const TensorInfo& t : reader.tensors()) {
    if (t.name == name) return t;
  }
  throw Error(reader.path(), name, "tensor not found: not a Llama-style checkpoint this forward pass knows");
}

LlamaNames gguf_names(int layers) {
  LlamaNames n;
  n.embedding = "token_embd.weight";
  n.final_norm = "output_norm.weight";
  n.output = "output.weight";
  for (int l = 0; l < layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    n.layers.push_back({p + "attn_norm.weight", p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight",
                        p + "attn_output.weight", p + "ffn_norm.weight", p + "ffn_gate.weight", p + "ffn_up.weight",
                        p + "ffn_down.weight"});
  }
  return n;
}

LlamaNames hf_names(int layers) {
  LlamaNames n;
  n.embedding = "model.embed_tokens.weight";
  n.final_norm = "model.norm.weight";
  n.output = "lm_head.weight";
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    n.layers.push_back({p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                        p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight",
                        p + "post_attention_layernorm.weight", p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight",
                        p + "mlp.down_proj.weight"});
  }
  return n;
}

int count_layers(const ModelReader& reader, const std::string& prefix, const std::string& suffix) {
  int layers = 0;
  while (has_tensor(reader, prefix + std::to_string(layers) + suffix)) ++layers;
  return layers;
}

// Head counts from the checkpoint's own metadata, when it has them.
void read_head_counts(const ModelReader& reader, int& heads, int& kv_heads) {
  if (const auto* gguf = dynamic_cast<const GgufReader*>(&reader.underlying())) {
    if (heads == 0 && gguf->has("llama.attention.head_count")) {
      heads = static_cast<int>(gguf->get_uint("llama.attention.head_count"));
    }
    if (kv_heads == 0 && gguf->has("llama.attention.head_count_kv")) {
      kv_heads = static_cast<int>(gguf->get_uint("llama.attention.head_count_kv"));
    }
  } else if (const auto* st = dynamic_cast<const SafetensorsReader*>(&reader.underlying())) {
    for (const auto& [key, value] : st->metadata()) {
      try {
        if (heads == 0 && (key == "nh" || key == "num_attention_heads")) heads = std::stoi(value);
        if (kv_heads == 0 && (key == "nkv" || key == "num_key_value_heads")) kv_heads = std::stoi(value);
      } catch (const std::exception&) {
        throw Error(reader.path(), "__metadata__." + key, "is not an integer: " + value);
      }
    }
  }
}

void rmsnorm(Span<float> out, Span<const float> x, Span<const float> weight, float eps) {
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps));
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = weight[i] * (inv * x[i]);
}

// out[r] = sum_c w[r, c] x[c] for a [rows, cols] row-major matrix.
void matvec(Span<float> out, const std::vector<float>& w, Span<const float> x) {
  const std::size_t cols = x.size();
  for (std::size_t r = 0; r < out.size(); ++r) {
    const float* row = w.data() + r * cols;
    float acc = 0;
    for (std::size_t c = 0; c < cols; ++c) acc += row[c] * x[c];
    out[r] = acc;
  }
}

// Rotary embedding on consecutive pairs (2i, 2i+1) within each head, as llama2.c and llama.cpp's
// GGUF conversion of it store q and k.
void rotate_pairs(Span<float> v, int head_dim, int position, float theta) {
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
    const int within_head = static_cast<int>(i) % head_dim;
    const float freq = 1.0f / std::pow(theta, static_cast<float>(within_head) / static_cast<float>(head_dim));
    const float angle = static_cast<float>(position) * freq;
    const float c = std::cos(angle), s = std::sin(angle);
    const float a = v[i], b = v[i + 1];
    v[i] = a * c - b * s;
    v[i + 1] = a * s + b * c;
  }
}

}  // namespace

int argmax(Span<const float> values) {
  int best = 0;
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
  }
  return best;
}

std::vector<double> softmax(Span<const float> logits) {
  double m = -INFINITY;
  for (float v : logits) m = std::max(m, static_cast<double>(v));
  std::vector<double> p(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[i]) - m);
  for (double& v : p) v /= sum;
  return p;
}

LlamaModel::LlamaModel(const ModelReader& reader, int heads, int kv_heads) : path_(reader.path()) {
  if (has_tensor(reader, "token_embd.weight")) {
    names_ = gguf_names(count_layers(reader, "blk.", ".attn_q.weight"));
  } else if (has_tensor(reader, "model.embed_tokens.weight")) {
    names_ = hf_names(count_layers(reader, "model.layers.", ".self_attn.q_proj.weight"));
  } else {
    throw Error(reader.path(), "token_embd.weight", "no token embedding: not a Llama-style checkpoint");
  }
  if (names_.layers.empty()) throw Error(reader.path(), "layers", "no decoder layers found");
  if (!has_tensor(reader, names_.output)) names_.output = names_.embedding;  // tied embeddings

  const TensorInfo& embedding = tensor_info(reader, names_.embedding);
  const TensorInfo& gate = tensor_info(reader, names_.layers[0].gate);
  const TensorInfo& k = tensor_info(reader, names_.layers[0].k);
  shape_.vocab = static_cast<int>(embedding.shape.at(0));
  shape_.dim = static_cast<int>(embedding.shape.at(1));
  shape_.hidden = static_cast<int>(gate.shape.at(0));
  shape_.layers = static_cast<int>(names_.layers.size());
  read_head_counts(reader, heads, kv_heads);
  if (heads <= 0) throw Error(reader.path(), "head_count", "unknown number of attention heads: pass it explicitly");
  if (kv_heads <= 0) kv_heads = heads;
  shape_.heads = heads;
  shape_.kv_heads = kv_heads;
  if (shape_.dim % heads != 0 || heads % kv_heads != 0 || k.shape.at(0) != shape_.kv_dim()) {
    throw Error(reader.path(), names_.layers[0].k,
                "shape does not match " + std::to_string(heads) + " heads and " + std::to_string(kv_heads) +
                    " KV heads at width " + std::to_string(shape_.dim));
  }
  if (const auto* gguf = dynamic_cast<const GgufReader*>(&reader.underlying())) {
    if (gguf->has("llama.attention.layer_norm_rms_epsilon")) {
      shape_.norm_eps = static_cast<float>(gguf->get_float("llama.attention.layer_norm_rms_epsilon"));
    }
  }

  auto load = [&](const std::string& name, std::vector<int64_t> expected) {
    Tensor t = reader.read(name);
    if (t.shape != expected) throw Error(reader.path(), name, "unexpected shape for a Llama layer");
    weights_[name] = std::move(t.values);
  };
  const int64_t d = shape_.dim, h = shape_.hidden, kv = shape_.kv_dim();
  load(names_.embedding, {shape_.vocab, d});
  load(names_.final_norm, {d});
  if (names_.output != names_.embedding) load(names_.output, {shape_.vocab, d});
  for (const LlamaLayerNames& l : names_.layers) {
    load(l.attn_norm, {d});
    load(l.ffn_norm, {d});
    load(l.q, {d, d});
    load(l.k, {kv, d});
    load(l.v, {kv, d});
    load(l.o, {d, d});
    load(l.gate, {h, d});
    load(l.up, {h, d});
    load(l.down, {d, h});
  }
}

std::vector<std::string> LlamaModel::matmul_names() const {
  std::vector<std::string> out;
  for (const LlamaLayerNames& l : names_.layers) {
    for (const std::string* n : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) out.push_back(*n);
  }
  out.push_back(names_.output);
  return out;
}

void LlamaModel::set_matrix(const std::string& name, std::vector<float> values) {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw Error(path_, name, "not a matrix of this model");
  if (it->second.size() != values.size()) throw Error(path_, name, "replacement has the wrong size");
  it->second = std::move(values);
}

const std::vector<float>& LlamaModel::matrix(const std::string& name) const {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw Error(path_, name, "not a matrix of this model");
  return it->second;
}

LlamaModel::Session::Session(const LlamaModel& model) : model_(model) {
  const LlamaShape& s = model.shape_;
  key_cache_.resize(static_cast<std::size_t>(s.layers));
  value_cache_.resize(static_cast<std::size_t>(s.layers));
  x_.resize(static_cast<std::size_t>(s.dim));
  xb_.resize(x_.size());
  xb2_.resize(x_.size());
  q_.resize(x_.size());
  k_.resize(static_cast<std::size_t>(s.kv_dim()));
  v_.resize(k_.size());
  hb_.resize(static_cast<std::size_t>(s.hidden));
  hb2_.resize(hb_.size());
  logits_.resize(static_cast<std::size_t>(s.vocab));
}

const std::vector<float>& LlamaModel::Session::forward(int token, const InputObserver& observer) {
  const LlamaShape& s = model_.shape_;
  if (token < 0 || token >= s.vocab) throw Error(model_.path_, "token", std::to_string(token) + " is out of the vocabulary");
  const auto& w = model_.weights_;
  const std::size_t dim = static_cast<std::size_t>(s.dim);
  const float* row = w.at(model_.names_.embedding).data() + static_cast<std::size_t>(token) * dim;
  std::copy(row, row + dim, x_.begin());
  auto project = [&](Span<float> out, const std::string& name, Span<const float> in) {
    if (observer) observer(name, in);
    matvec(out, w.at(name), in);
  };
  const int hd = s.head_dim();
  const int group = s.heads / s.kv_heads;
  for (std::size_t l = 0; l < static_cast<std::size_t>(s.layers); ++l) {
    const LlamaLayerNames& n = model_.names_.layers[l];
    rmsnorm(xb_, x_, w.at(n.attn_norm), s.norm_eps);
    project(q_, n.q, xb_);
    project(k_, n.k, xb_);
    project(v_, n.v, xb_);
    rotate_pairs(q_, hd, position_, s.rope_theta);
    rotate_pairs(k_, hd, position_, s.rope_theta);
    key_cache_[l].insert(key_cache_[l].end(), k_.begin(), k_.end());
    value_cache_[l].insert(value_cache_[l].end(), v_.begin(), v_.end());
    const int steps = position_ + 1;
    att_.resize(static_cast<std::size_t>(steps));
    const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int h = 0; h < s.heads; ++h) {
      const float* qh = q_.data() + h * hd;
      const int kvh = h / group;
      float max_score = -INFINITY;
      for (int t = 0; t < steps; ++t) {
        const float* kt = key_cache_[l].data() + static_cast<std::size_t>(t * s.kv_dim() + kvh * hd);
        float dot = 0;
        for (int i = 0; i < hd; ++i) dot += qh[i] * kt[i];
        att_[static_cast<std::size_t>(t)] = dot * inv_sqrt;
        max_score = std::max(max_score, att_[static_cast<std::size_t>(t)]);
      }
      float sum = 0;
      for (float& a : att_) sum += a = std::exp(a - max_score);
      float* out = xb_.data() + h * hd;
      std::fill(out, out + hd, 0.0f);
      for (int t = 0; t < steps; ++t) {
        const float a = att_[static_cast<std::size_t>(t)] / sum;
        const float* vt = value_cache_[l].data() + static_cast<std::size_t>(t * s.kv_dim() + kvh * hd);
        for (int i = 0; i < hd; ++i) out[i] += a * vt[i];
      }
    }
    project(xb2_, n.o, xb_);
    for (std::size_t i = 0; i < dim; ++i) x_[i] += xb2_[i];
    rmsnorm(xb_, x_, w.at(n.ffn_norm), s.norm_eps);
    project(hb_, n.gate, xb_);
    project(hb2_, n.up, xb_);
    for (std::size_t i = 0; i < hb_.size(); ++i) {
      const float g = hb_[i];
      hb_[i] = g / (1.0f + std::exp(-g)) * hb2_[i];  // SiLU(gate) * up
    }
    project(xb2_, n.down, hb_);
    for (std::size_t i = 0; i < dim; ++i) x_[i] += xb2_[i];
  }
  rmsnorm(xb_, x_, w.at(model_.names_.final_norm), s.norm_eps);
  project(logits_, model_.names_.output, xb_);
  ++position_;
  return logits_;
}

}  // namespace sop
