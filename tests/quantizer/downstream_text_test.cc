// llama-perplexity's chunking and scoring convention (FACTS.md) in text_chunks and compare_models.
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "quantizer/calibrate/downstream.h"
#include "quantizer/calibrate/vocabulary.h"
#include "quantizer/model_reader.h"
#include "tests/io/io_test_util.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using sop::testing::expect_error;

TEST(DownstreamText, ChunksLikeLlamaPerplexity) {
  std::vector<int> tokens(300);
  std::iota(tokens.begin(), tokens.end(), 100);  // 100, 101, ..., 399
  // 300 tokens at ctx 128: two whole chunks (tokens 0-127 and 128-255); the last 44 are dropped.
  const auto chunks = text_chunks(tokens, 128, 0, 1, "text.txt");
  ASSERT_EQ(chunks.size(), 2u);
  ASSERT_EQ(chunks[0].size(), 128u);
  EXPECT_EQ(chunks[0][0], 1);    // BOS replaces the first token of every chunk
  EXPECT_EQ(chunks[0][1], 101);
  EXPECT_EQ(chunks[0][127], 227);
  EXPECT_EQ(chunks[1][0], 1);
  EXPECT_EQ(chunks[1][1], 229);  // chunk 1 starts at token 128 (value 228), whose place BOS takes
  EXPECT_EQ(chunks[1][127], 355);
  EXPECT_EQ(text_chunks(tokens, 128, 1, 1, "text.txt").size(), 1u);
  expect_error([&] { text_chunks(tokens, 301, 0, 1, "text.txt"); }, {"text.txt", "--ctx", "300 tokens", "301"});
  expect_error([&] { text_chunks(tokens, 1, 0, 1, "text.txt"); }, {"text.txt", "--ctx"});
}

TEST(DownstreamText, ScoresTheSecondHalfOfEachChunk) {
  SOP_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto reader = open_model(path);
  const LlamaModel model(*reader);
  const Vocabulary vocab = Vocabulary::from_model(*reader);
  std::vector<int> tokens = vocab.encode("Once upon a time, there was a little girl named Lily. She loved to play outside.", true);
  while (tokens.size() < 64) tokens.insert(tokens.end(), tokens.begin() + 1, tokens.end());
  const auto chunks = text_chunks(tokens, 32, 2, vocab.bos(), "text");
  ASSERT_EQ(chunks.size(), 2u);
  // ctx 32: positions 16..30 predict tokens 17..31, 15 per chunk.
  const DownstreamMetrics same = compare_models(model, model, chunks, 16);
  EXPECT_EQ(same.positions, 30);
  EXPECT_EQ(same.kl_divergence, 0.0);
  EXPECT_EQ(same.kl_standard_error, 0.0);
  EXPECT_EQ(same.top1_agreement, 1.0);
  EXPECT_EQ(same.reference_ppl, same.quantized_ppl);
  EXPECT_GT(same.reference_ppl, 1.0);
  // Scoring from 0 counts all 31 positions of each chunk.
  EXPECT_EQ(compare_models(model, model, chunks, 0).positions, 62);
}

}  // namespace
}  // namespace sop
