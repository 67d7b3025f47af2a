// Token pieces for turning generated token ids back into text: from a GGUF's tokenizer.ggml.tokens
// or from a llama2.c tokenizer file (int32 max length; per token: float score, int32 length, bytes).
#pragma once

#include <string>
#include <vector>

#include "quantizer/model_reader.h"

namespace sop {

class Vocabulary {
 public:
  explicit Vocabulary(std::vector<std::string> pieces, int bos = 1, int eos = 2);
  // Reads a llama2.c tokenizer file; throws sop::Error naming the file and the token on bad data.
  static Vocabulary from_llama2c_file(const std::string& path);
  // The GGUF's own tokenizer; throws sop::Error if the checkpoint has none.
  static Vocabulary from_model(const ModelReader& reader);

  int size() const { return static_cast<int>(pieces_.size()); }
  int bos() const { return bos_; }
  int eos() const { return eos_; }
  // The text of `token` following `previous`: SentencePiece's word marker becomes a space (dropped
  // right after BOS) and byte tokens <0xNN> become their byte.
  std::string piece_text(int previous, int token) const;
  std::string decode(const std::vector<int>& tokens) const;  // tokens[0] is usually BOS

 private:
  std::vector<std::string> pieces_;
  int bos_, eos_;
};

}  // namespace sop
