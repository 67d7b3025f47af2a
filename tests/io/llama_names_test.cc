// Hugging Face <-> llama.cpp tensor names for Llama (FACTS.md's table).
#include <gtest/gtest.h>

#include "base/error.h"
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

// Rows r0..r7 of a [8, 1] q with 2 heads of 4 (halves r0 r1 | r2 r3 and r4 r5 | r6 r7) interleave
// per head: r0 r2 r1 r3, r4 r6 r5 r7.
TEST(LlamaNames, RotaryRowsInterleaveEachHeadsHalves) {
  const std::vector<float> q = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(llama_cpp_rotary_rows(q, 8, 2, "q"), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  // One head of 8: r0 r4 r1 r5 r2 r6 r3 r7. Columns move with their row.
  EXPECT_EQ(llama_cpp_rotary_rows(q, 8, 1, "q"), (std::vector<float>{0, 4, 1, 5, 2, 6, 3, 7}));
  const std::vector<float> two_cols = {0, 10, 1, 11, 2, 12, 3, 13};  // [4, 2]
  EXPECT_EQ(llama_cpp_rotary_rows(two_cols, 4, 1, "k"), (std::vector<float>{0, 10, 2, 12, 1, 11, 3, 13}));
  EXPECT_THROW(llama_cpp_rotary_rows(q, 8, 3, "q"), Error);
  EXPECT_THROW(llama_cpp_rotary_rows(q, 8, 8, "q"), Error);  // heads of 1 row have no halves
}

}  // namespace
}  // namespace sop
