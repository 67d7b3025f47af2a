// Hugging Face <-> llama.cpp tensor names for Llama (FACTS.md's table).
#include <gtest/gtest.h>

#include "quantizer/io/llama_names.h"

namespace sop {
namespace {

TEST(LlamaNames, BothWays) {
  const std::pair<const char*, const char*> pairs[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
      {"model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight"},
      {"model.layers.12.self_attn.v_proj.weight", "blk.12.attn_v.weight"},
      {"model.layers.4.self_attn.o_proj.weight", "blk.4.attn_output.weight"},
      {"model.layers.4.mlp.gate_proj.weight", "blk.4.ffn_gate.weight"},
      {"model.layers.4.mlp.up_proj.weight", "blk.4.ffn_up.weight"},
      {"model.layers.31.mlp.down_proj.weight", "blk.31.ffn_down.weight"},
      {"model.layers.1.input_layernorm.weight", "blk.1.attn_norm.weight"},
      {"model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight"},
  };
  for (const auto& [hf, gguf] : pairs) {
    EXPECT_EQ(llama_cpp_tensor_name(hf), gguf) << hf;
    EXPECT_EQ(hugging_face_tensor_name(gguf), hf) << gguf;
  }
}

TEST(LlamaNames, UnknownNamesMapToNothing) {
  for (const char* name : {"weight", "model.layers.x.mlp.up_proj.weight", "model.layers.1", "model.layers..mlp.up_proj.weight",
                           "blk.2.attn_qkv.weight", "model.layers.2.mlp.up_proj.bias", "rope_freqs.weight"}) {
    EXPECT_EQ(llama_cpp_tensor_name(name), "") << name;
    EXPECT_EQ(hugging_face_tensor_name(name), "") << name;
  }
}

}  // namespace
}  // namespace sop
