// Tensor names of Llama-style checkpoints: Hugging Face's (model.layers.N.self_attn.q_proj.weight)
// and llama.cpp's GGUF names (blk.N.attn_q.weight), FACTS.md's table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sop {

// The llama.cpp name of a Hugging Face Llama tensor name; "" for a name the table does not cover.
std::string llama_cpp_tensor_name(const std::string& hugging_face_name);
// The reverse; "" for a name the table does not cover.
std::string hugging_face_tensor_name(const std::string& llama_cpp_name);

// llama.cpp's HF-to-GGUF converter reorders the rows of q and k within each head: transformers'
// Llama checkpoints hold each head's two rotary halves one after the other (rows 0..d/2-1, then
// d/2..d-1), llama.cpp's rotary embedding wants them interleaved. Row h*d + j*(d/2) + i moves to
// h*d + 2i + j (d = rows / heads; j = 0, 1; i < d/2). `values` is [rows, cols] row-major; q takes the
// attention head count, k the KV head count. Throws sop::Error naming `tensor` if rows do not split
// into `heads` heads of an even size.
std::vector<float> llama_cpp_rotary_rows(const std::vector<float>& values, int64_t rows, int64_t heads,
                                         const std::string& tensor);

}  // namespace sop
