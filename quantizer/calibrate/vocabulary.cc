#include "quantizer/calibrate/vocabulary.h"

#include <cstdint>
#include <cstring>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <queue>

#include "base/error.h"
#include "quantizer/io/gguf_reader.h"

namespace sop {

Vocabulary::Vocabulary(std::vector<std::string> pieces, int bos, int eos, std::vector<float> scores,
                       bool add_space_prefix, int unknown)
    : pieces_(std::move(pieces)), bos_(bos), eos_(eos), scores_(std::move(scores)),
      add_space_prefix_(add_space_prefix), unknown_(unknown) {
  if (scores_.empty()) scores_.assign(pieces_.size(), 0.0f);
  if (scores_.size() != pieces_.size()) {
    throw Error("tokenizer", "scores", std::to_string(scores_.size()) + " scores for " + std::to_string(pieces_.size()) + " tokens");
  }
  for (int& id : byte_tokens_) id = -1;
  // SentencePiece vocabularies (GGUF) mark spaces with U+2581; llama2.c's tokenizer files hold spaces.
  word_marker_ = " ";
  for (const std::string& p : pieces_) {
    if (p.find("\xE2\x96\x81") != std::string::npos) {
      word_marker_ = "\xE2\x96\x81";
      break;
    }
  }
  for (std::size_t i = 0; i < pieces_.size(); ++i) {
    ids_.emplace(pieces_[i], static_cast<int>(i));
    unsigned byte = 0;
    const std::string& p = pieces_[i];
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' && std::sscanf(p.c_str(), "<0x%02X>", &byte) == 1 &&
        byte < 256 && byte_tokens_[byte] < 0) {
      byte_tokens_[byte] = static_cast<int>(i);
    }
  }
}

namespace {

// Bytes in the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte, as llama.cpp).
std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

}  // namespace

std::vector<int> Vocabulary::encode(const std::string& text, bool add_bos) const {
  std::vector<int> out;
  if (add_bos) out.push_back(bos_);
  if (text.empty()) return out;
  const std::string& marker = word_marker_;
  std::string spaced;
  if (add_space_prefix_) spaced += marker;
  for (char c : text) {
    if (c == ' ') spaced += marker;
    else spaced += c;
  }
  // Pieces as a linked list over the text: [begin, begin + length), merged in place.
  struct Piece {
    std::size_t begin, length;
    int prev, next;
  };
  std::vector<Piece> pieces;
  for (std::size_t at = 0; at < spaced.size();) {
    const std::size_t n = std::min(utf8_length(static_cast<unsigned char>(spaced[at])), spaced.size() - at);
    const int index = static_cast<int>(pieces.size());
    pieces.push_back({at, n, index - 1, index + 1});
    at += n;
  }
  pieces.back().next = -1;
  // Candidate merges: best score first, then leftmost. An entry whose pieces changed since it was
  // queued (its recorded length no longer matches) is stale and skipped.
  struct Candidate {
    float score;
    int left, right;
    std::size_t length;
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::size_t length = pieces[left].length + pieces[right].length;
    const auto found = ids_.find(spaced.substr(pieces[left].begin, length));
    if (found == ids_.end()) return;
    queue.push({scores_[static_cast<std::size_t>(found->second)], left, right, length});
  };
  for (std::size_t i = 1; i < pieces.size(); ++i) consider(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Piece& left = pieces[static_cast<std::size_t>(c.left)];
    Piece& right = pieces[static_cast<std::size_t>(c.right)];
    if (left.length == 0 || right.length == 0 || left.length + right.length != c.length || left.next != c.right) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) pieces[static_cast<std::size_t>(right.next)].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }
  for (int i = 0; i >= 0; i = pieces[static_cast<std::size_t>(i)].next) {
    const Piece& p = pieces[static_cast<std::size_t>(i)];
    const std::string piece = spaced.substr(p.begin, p.length);
    const auto found = ids_.find(piece);
    if (found != ids_.end()) {
      out.push_back(found->second);
      continue;
    }
    for (unsigned char byte : piece) out.push_back(byte_tokens_[byte] >= 0 ? byte_tokens_[byte] : unknown_);
  }
  return out;
}

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
  std::vector<float> scores;
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
    scores.push_back(score);
  }
  if (pieces.size() < 3) throw Error(path, "", "holds fewer than 3 tokens");
  return Vocabulary(std::move(pieces), 1, 2, std::move(scores));
}

Vocabulary Vocabulary::from_model(const ModelReader& reader) {
  const auto* gguf = dynamic_cast<const GgufReader*>(&reader.underlying());
  if (gguf == nullptr || !gguf->has("tokenizer.ggml.tokens")) {
    throw Error(reader.path(), "tokenizer.ggml.tokens", "the checkpoint has no tokenizer: give a tokenizer file");
  }
  std::vector<std::string> pieces;
  for (const GgufValue& v : gguf->get_array("tokenizer.ggml.tokens")) pieces.push_back(v.as_string("tokenizer.ggml.tokens"));
  const int bos = gguf->has("tokenizer.ggml.bos_token_id") ? static_cast<int>(gguf->get_uint("tokenizer.ggml.bos_token_id")) : 1;
  const int eos = gguf->has("tokenizer.ggml.eos_token_id") ? static_cast<int>(gguf->get_uint("tokenizer.ggml.eos_token_id")) : 2;
  const int unknown =
      gguf->has("tokenizer.ggml.unknown_token_id") ? static_cast<int>(gguf->get_uint("tokenizer.ggml.unknown_token_id")) : 0;
  std::vector<float> scores;
  if (gguf->has("tokenizer.ggml.scores")) {
    for (const GgufValue& v : gguf->get_array("tokenizer.ggml.scores")) {
      scores.push_back(static_cast<float>(v.as_float("tokenizer.ggml.scores")));
    }
    if (scores.size() != pieces.size()) {
      throw Error(reader.path(), "tokenizer.ggml.scores",
                  std::to_string(scores.size()) + " scores for " + std::to_string(pieces.size()) + " tokens");
    }
  }
  const bool space_prefix =
      gguf->has("tokenizer.ggml.add_space_prefix") ? gguf->get_bool("tokenizer.ggml.add_space_prefix") : true;
  return Vocabulary(std::move(pieces), bos, eos, std::move(scores), space_prefix, unknown);
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
