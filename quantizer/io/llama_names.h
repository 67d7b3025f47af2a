// Tensor names of Llama-style checkpoints: Hugging Face's (model.layers.N.self_attn.q_proj.weight)
// and llama.cpp's GGUF names (blk.N.attn_q.weight), FACTS.md's table.
#pragma once

#include <string>

namespace sop {

// The llama.cpp name of a Hugging Face Llama tensor name; "" for a name the table does not cover.
std::string llama_cpp_tensor_name(const std::string& hugging_face_name);
// The reverse; "" for a name the table does not cover.
std::string hugging_face_tensor_name(const std::string& llama_cpp_name);

}  // namespace sop
