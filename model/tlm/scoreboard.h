// The scoreboard: watches the consumer's input and checks every decoded weight against the golden
// decode of the layer in its own formats (golden::decode_stream on the layer's blocks, scales and
// residuals as stored). A product is correct when its exact value mant * 2^exp equals the golden one;
// when the unit and the layer share their formats the raw exponent field must match too.
// It only watches: it never changes what the engines do. Reports:
//   sop/scoreboard/mismatch    a product differs (first few displayed, all counted)
//   sop/scoreboard/order       chunks arrived out of order (a layer or chunk skipped or repeated)
//   sop/scoreboard/incomplete  the run ended before every chunk arrived
#pragma once

#include <cstdint>
#include <vector>

#include "model/tlm/transactions.h"
#include "model/tlm/workload.h"

namespace sop::sysc {

struct ScoreboardConfig {
  bool check_values = true;  // off: order and completeness only (counts-only runs)
  int lanes = 8;
  golden::DecodeConfig unit;
  int max_displayed = 10;
  int unit_index = 0;  // the unit whose output this scoreboard watches, of `units`: it expects that
  int units = 1;       // unit's share of every layer's chunks (unit_chunk_range), in order
};

class Scoreboard {
 public:
  Scoreboard(const std::vector<PreparedLayer>& layers, const ScoreboardConfig& config);

  void observe(const OutputChunk& out);
  // At the end of the run: reports sop/scoreboard/incomplete when chunks are missing.
  void finish();

  uint64_t checked() const { return checked_; }
  uint64_t mismatches() const { return mismatches_; }
  uint64_t order_errors() const { return order_errors_; }
  bool complete() const { return next_layer_ == static_cast<int64_t>(layers_.size()); }

 private:
  // From layer `layer` on, the first layer with a share for this unit, and that share's first chunk.
  void expect_from(int64_t layer);

  const std::vector<PreparedLayer>& layers_;
  ScoreboardConfig config_;
  int64_t next_layer_ = 0;
  int64_t next_chunk_ = 0;
  uint64_t checked_ = 0;
  uint64_t mismatches_ = 0;
  uint64_t order_errors_ = 0;
  std::vector<golden::Product> expected_;
};

}  // namespace sop::sysc
