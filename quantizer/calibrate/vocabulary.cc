#include "quantizer/calibrate/vocabulary.h"

#include <cstdint>
#include <cstring>
#include <fstream>

#include "base/error.h"
#include "quantizer/io/gguf_reader.h"

namespace sop {

Vocabulary::Vocabulary(std::vector<std::string> pieces, int bos, int eos)
    : pieces_(std::move(pieces)), bos_(bos), eos_(eos) {}

Vocabulary Vocabulary::from_llama2c_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open the tokenizer file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0);
  int32_t max_len = 0;
  if (!in.read(reinterpret_cast<char*>(&max_len), 4) || max_len <= 0 || max_len > 4096) {
    throw Error(path, "max_token_length", "missing or out of range: not a llama2.c tokenizer file");
  }
  std::vector<std::string> pieces;
  while (in.tellg() < size) {
    float score = 0;
    int32_t len = 0;
    const std::string token = "token " + std::to_string(pieces.size());
    if (!in.read(reinterpret_cast<char*>(&score), 4) || !in.read(reinterpret_cast<char*>(&len), 4)) {
      throw Error(path, token, "truncated");
    }
    if (len < 0 || len > max_len || in.tellg() + std::streamoff{len} > size) {
      throw Error(path, token, "length " + std::to_string(len) + " is out of range");
    }
    std::string piece(static_cast<std::size_t>(len), '\0');
    in.read(piece.data(), len);
    pieces.push_back(std::move(piece));
  }
  if (pieces.size() < 3) throw Error(path, "", "holds fewer than 3 tokens");
  return Vocabulary(std::move(pieces));
}

Vocabulary Vocabulary::from_model(const ModelReader& reader) {
  const auto* gguf = dynamic_cast<const GgufReader*>(&reader);
  if (gguf == nullptr || !gguf->has("tokenizer.ggml.tokens")) {
    throw Error(reader.path(), "tokenizer.ggml.tokens", "the checkpoint has no tokenizer: give a tokenizer file");
  }
  std::vector<std::string> pieces;
  for (const GgufValue& v : gguf->get_array("tokenizer.ggml.tokens")) pieces.push_back(v.as_string("tokenizer.ggml.tokens"));
  const int bos = gguf->has("tokenizer.ggml.bos_token_id") ? static_cast<int>(gguf->get_uint("tokenizer.ggml.bos_token_id")) : 1;
  const int eos = gguf->has("tokenizer.ggml.eos_token_id") ? static_cast<int>(gguf->get_uint("tokenizer.ggml.eos_token_id")) : 2;
  return Vocabulary(std::move(pieces), bos, eos);
}

std::string Vocabulary::piece_text(int previous, int token) const {
  if (token < 0 || token >= size()) return "";
  std::string piece = pieces_[static_cast<std::size_t>(token)];
  // Byte-fallback tokens.
  unsigned byte = 0;
  if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' &&
      std::sscanf(piece.c_str(), "<0x%02X>", &byte) == 1) {
    return std::string(1, static_cast<char>(byte));
  }
  // SentencePiece's word marker U+2581.
  const std::string marker = "\xE2\x96\x81";
  for (std::size_t at; (at = piece.find(marker)) != std::string::npos;) piece.replace(at, marker.size(), " ");
  if (previous == bos_ && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
  return piece;
}

std::string Vocabulary::decode(const std::vector<int>& tokens) const {
  std::string text;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == bos_ || tokens[i] == eos_) continue;
    text += piece_text(i == 0 ? bos_ : tokens[i - 1], tokens[i]);
  }
  return text;
}

}  // namespace sop
