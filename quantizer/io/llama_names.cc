#include "quantizer/io/llama_names.h"

#include <cctype>
#include <algorithm>
#include <cstddef>

#include "base/error.h"

namespace sop {

namespace {

struct NamePair {
  const char* hugging_face;
  const char* llama_cpp;
};

// Whole-model tensors.
constexpr NamePair kGlobal[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Per layer: model.layers.N.<hf> <-> blk.N.<llama.cpp>.
constexpr NamePair kPerLayer[] = {
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
};

// "<prefix><digits>.<rest>": the layer number and the rest, or false.
bool split_layer(const std::string& name, const std::string& prefix, std::string* layer, std::string* rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  std::size_t i = prefix.size();
  const std::size_t digits = i;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == digits || i >= name.size() || name[i] != '.') return false;
  *layer = name.substr(digits, i - digits);
  *rest = name.substr(i + 1);
  return true;
}

std::string map_name(const std::string& name, bool to_llama_cpp) {
  for (const NamePair& p : kGlobal) {
    if (name == (to_llama_cpp ? p.hugging_face : p.llama_cpp)) return to_llama_cpp ? p.llama_cpp : p.hugging_face;
  }
  const std::string from_prefix = to_llama_cpp ? "model.layers." : "blk.";
  const std::string to_prefix = to_llama_cpp ? "blk." : "model.layers.";
  std::string layer, rest;
  if (!split_layer(name, from_prefix, &layer, &rest)) return "";
  for (const NamePair& p : kPerLayer) {
    if (rest == (to_llama_cpp ? p.hugging_face : p.llama_cpp)) {
      return to_prefix + layer + "." + (to_llama_cpp ? p.llama_cpp : p.hugging_face);
    }
  }
  return "";
}

}  // namespace

std::string llama_cpp_tensor_name(const std::string& hugging_face_name) { return map_name(hugging_face_name, true); }

std::string hugging_face_tensor_name(const std::string& llama_cpp_name) { return map_name(llama_cpp_name, false); }

std::vector<float> llama_cpp_rotary_rows(const std::vector<float>& values, int64_t rows, int64_t heads,
                                         const std::string& tensor) {
  if (heads <= 0 || rows <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0 ||
      values.size() % static_cast<std::size_t>(rows) != 0) {
    throw Error(tensor, "rows", std::to_string(rows) + " rows do not split into " + std::to_string(heads) +
                                    " heads of an even size");
  }
  const int64_t cols = static_cast<int64_t>(values.size()) / rows;
  const int64_t head_dim = rows / heads;
  const int64_t half = head_dim / 2;
  std::vector<float> out(values.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t j = 0; j < 2; ++j) {
      for (int64_t i = 0; i < half; ++i) {
        const int64_t from = h * head_dim + j * half + i;
        const int64_t to = h * head_dim + 2 * i + j;
        std::copy_n(values.begin() + from * cols, cols, out.begin() + to * cols);
      }
    }
  }
  return out;
}

}  // namespace sop
