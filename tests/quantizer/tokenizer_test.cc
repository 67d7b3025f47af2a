// The GGUF llama tokenizer's encoder (Vocabulary::encode): ids of fixed strings worked out by hand
// from stories260K.gguf's vocabulary, merge order on a made-up vocabulary, and
// decode(encode(text)) == text on varied text.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "quantizer/calibrate/vocabulary.h"
#include "quantizer/model_reader.h"
#include "tests/test_support.h"

namespace sop {
namespace {

// In stories260K.gguf (512 tokens: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces with
// scores 0, -1, -2, ...), "_" standing for U+2581 below, the pieces these strings touch are:
//   _ 410 (-151)  _T 274 (-15)  he 260 (-1)  _The 291 (-32)  _a 261 (-2)  _b 268 (-9)  _h 270 (-11)
//   e 411  T 434  h 415  a 412  b 430  l 421  o 414  ll 306 (-47)  e-acute 485 (-226)  ! 443 (-184)
// and these are not tokens: Th, The, a_, __, _a_, hé, él, lo, llo, _hé, _日, 日!.
TEST(Tokenizer, StoriesIdsWorkedOutByHand) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const Vocabulary vocab = Vocabulary::from_model(*open_model(path));
  // "The" -> "_The": pieces _ T h e; candidate merges _T (-15), he (-1): he first -> _ T he; then
  // _T (-15) -> _T he; then _The (-32) -> one piece.
  EXPECT_EQ(vocab.encode("The", true), (std::vector<int>{1, 291}));
  EXPECT_EQ(vocab.encode("The", false), (std::vector<int>{291}));
  // "a  b" -> "_a__b": _a (-2) and _b (-9) merge; a_, __ and _a_ are not tokens: _a _ _b.
  EXPECT_EQ(vocab.encode("a  b", true), (std::vector<int>{1, 261, 410, 268}));
  // "héllo" -> "_héllo": _h (-11) then ll (-47); nothing else merges: _h é ll o.
  EXPECT_EQ(vocab.encode("h\xC3\xA9llo", true), (std::vector<int>{1, 270, 485, 306, 414}));
  // "日!" -> "_日!": 日 (E6 97 A5) is no token, so its bytes: <0xE6> = 3 + 230 = 233, <0x97> = 3 + 151
  // = 154, <0xA5> = 3 + 165 = 168; then ! = 443.
  EXPECT_EQ(vocab.encode("\xE6\x97\xA5!", true), (std::vector<int>{1, 410, 233, 154, 168, 443}));
  EXPECT_EQ(vocab.encode("", true), (std::vector<int>{1}));
  EXPECT_EQ(vocab.encode("", false), (std::vector<int>{}));
}

// Merge order on a vocabulary made up here (no space prefix, so the text is taken as it is).
TEST(Tokenizer, HighestScoreFirstThenLeftmost) {
  const std::vector<std::string> pieces = {"<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc", "abc"};
  // Equal scores: the leftmost pair (ab) merges first, then ab+c = abc.
  const Vocabulary ties(pieces, 1, 2, std::vector<float>(pieces.size(), 0.0f), false);
  EXPECT_EQ(ties.encode("abc", false), (std::vector<int>{8}));
  // Without abc: ab c (leftmost wins the tie).
  const std::vector<std::string> no_abc(pieces.begin(), pieces.end() - 1);
  EXPECT_EQ(Vocabulary(no_abc, 1, 2, std::vector<float>(no_abc.size(), 0.0f), false).encode("abc", false),
            (std::vector<int>{6, 5}));
  // bc scoring higher than ab: a bc.
  std::vector<float> scores(no_abc.size(), 0.0f);
  scores[7] = 1.0f;
  EXPECT_EQ(Vocabulary(no_abc, 1, 2, scores, false).encode("abc", false), (std::vector<int>{3, 7}));
  // No byte tokens in this vocabulary: an unknown character becomes <unk> (0), one per byte.
  EXPECT_EQ(Vocabulary(no_abc, 1, 2, scores, false).encode("a\xC3\xA9", false), (std::vector<int>{3, 0, 0}));
}

TEST(Tokenizer, DecodeOfEncodeIsTheText) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const Vocabulary vocab = Vocabulary::from_model(*open_model(path));
  const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "  two leading spaces, and   runs   of    spaces  ",
      "tabs\tand\nnew lines\n\nand a carriage return\r\n",
      "UTF-8: caf\xC3\xA9, na\xC3\xAFve, \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E, \xF0\x9F\x98\x80, \xE2\x82\xAC5",
      "bytes that are no UTF-8: \xFF\xFE \x80 end",
      "punctuation!?;:'\"()[]{}<>|\\/~`@#$%^&*-_=+",
      "\x01\x02 control bytes",
      "x",
      " ",
  };
  for (const std::string& text : texts) {
    const std::vector<int> ids = vocab.encode(text, true);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);
    for (int id : ids) EXPECT_NE(id, 0) << "byte fallback covers every byte: no <unk> in " << text;
    EXPECT_EQ(vocab.decode(ids), text);
  }
}

// llama2.c's tokenizer files hold spaces where SentencePiece has U+2581; the same encoder works on
// them. aidreams260K.tok512.bin: 0 <unk>, 1 <s>, 2 </s>, 3..258 bytes, then "in" (259, score 0),
// "es" (-1), "er" (-2), " a" (262, -3), " t" (263, -4).
TEST(Tokenizer, Llama2cVocabulary) {
  SOP_REQUIRE_MODEL(path, "aidreams260K.tok512.bin");
  const Vocabulary vocab = Vocabulary::from_llama2c_file(path);
  // "a" -> " a": the prefix space and a merge (262).
  EXPECT_EQ(vocab.encode("a", true), (std::vector<int>{1, 262}));
  for (const std::string text : {"I dreamed of a tall tower in the sea.", "  spaces  and \t tabs\n",
                                 "caf\xC3\xA9 \xE6\x97\xA5 \xFF"}) {
    EXPECT_EQ(vocab.decode(vocab.encode(text, true)), text);
  }
}

}  // namespace
}  // namespace sop
