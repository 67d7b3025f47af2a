// Token pieces for turning generated token ids back into text, and text into token ids: from a GGUF's
// tokenizer.ggml.tokens and .scores or from a llama2.c tokenizer file (int32 max length; per token:
// float score, int32 length, bytes).
//
// encode() is the GGUF llama tokenizer (tokenizer.ggml.model = llama, llama.cpp's SentencePiece BPE):
// a space is put in front of the text (tokenizer.ggml.add_space_prefix, default true), every space
// becomes U+2581 (stays a space for llama2.c vocabularies, whose pieces hold spaces), the text is split into UTF-8 characters, and adjacent pieces merge, highest score of
// the merged token first (ties: the leftmost pair), as long as the merged text is a token; a piece
// left that is not a token becomes its bytes' <0xXX> tokens (the unknown token if none).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "quantizer/model_reader.h"

namespace sop {

class Vocabulary {
 public:
  // `scores` empty or one per piece (empty: every score 0, so merges go left to right).
  explicit Vocabulary(std::vector<std::string> pieces, int bos = 1, int eos = 2, std::vector<float> scores = {},
                      bool add_space_prefix = true, int unknown = 0);
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
  // Token ids of `text`, BOS first when `add_bos`. decode(encode(text)) == text for any text that
  // holds no U+2581 of its own.
  std::vector<int> encode(const std::string& text, bool add_bos) const;

 private:
  std::vector<std::string> pieces_;
  int bos_, eos_;
  std::vector<float> scores_;
  bool add_space_prefix_ = true;
  int unknown_ = 0;
  std::unordered_map<std::string, int> ids_;  // piece text -> id (the first, if a piece repeats)
  int byte_tokens_[256];                      // id of <0xXX>, -1 if absent
  std::string word_marker_;                   // what a space is in the pieces: U+2581, or " " (llama2.c)
};

}  // namespace sop
