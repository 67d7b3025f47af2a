// The regression's timing model (decode_unit_timing.h) on small cases worked out by hand from the
// documented rules (docs/rtl.md, "Timing"): it is what the verilated unit is checked against, so it is
// checked on its own first. Cycles count from 0; "fire" is the cycle a beat issues, "take" a residual's.
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "tests/rtl/decode_unit_timing.h"

namespace sop::rtltb {
namespace {

struct Scripted {
  std::set<uint64_t> out, bubble, res, idle;  // the cycles each idle input is drawn
  bool out_stall(uint64_t c) const { return out.count(c) != 0; }
  bool in_bubble(uint64_t c) const { return bubble.count(c) != 0; }
  bool res_stall(uint64_t c) const { return res.count(c) != 0; }
  bool load_idle(uint64_t c) const { return idle.count(c) != 0; }
};

TimingJob load(uint32_t layer, std::size_t entries) { return TimingJob{true, layer, entries, 0, {}}; }
TimingJob stream(uint32_t layer, std::size_t beats, std::vector<uint32_t> res = {}) {
  return TimingJob{false, layer, 0, beats, std::move(res)};
}
using Cycles = std::vector<uint64_t>;

TEST(UnitTiming, FullRateIsLoadThenOneCyclePerBeatAndResidualPlusTheOutputStage) {
  // 32 entries in cycles 0..31; residual 1 taken at 32, beat 0 at 33; residual 9 at 34, beat 1 at 35;
  // beat 2 at 36, accepted at 37: 32 + 3 beats + 2 residuals + 1 = 38 cycles.
  const auto e = expected_timing({load(0, 32), stream(0, 3, {1, 9})}, 8, Scripted{});
  EXPECT_EQ(e.fire[1], (Cycles{33, 35, 36}));
  EXPECT_EQ(e.take[1], (Cycles{32, 34}));
  EXPECT_EQ(e.cycles, 38u);
}

TEST(UnitTiming, ABeatIssuesInTheCycleItsPredecessorIsAccepted) {
  // Beat 0 issues at 0; out_ready is low in 1 and 2, so it is accepted at 3, where beat 1 issues.
  const auto e = expected_timing({stream(0, 3)}, 8, Scripted{{1, 2}, {}, {}, {}});
  EXPECT_EQ(e.fire[0], (Cycles{0, 3, 4}));
  EXPECT_EQ(e.cycles, 6u);
}

TEST(UnitTiming, StaleAndRepeatedResidualsTakeACycleEach) {
  // 4 lanes: 2 is in beat 0; 5 ends it (beat 0 at 1); beat 1 takes 5 (2), then 1 and 0, both behind it,
  // dropped at 3 and 4; the sentinel lets beat 1 issue at 5.
  const auto e = expected_timing({stream(0, 2, {2, 5, 1, 0})}, 4, Scripted{});
  EXPECT_EQ(e.take[0], (Cycles{0, 2, 3, 4}));
  EXPECT_EQ(e.fire[0], (Cycles{1, 5}));
  EXPECT_EQ(e.cycles, 7u);
}

TEST(UnitTiming, ResidualsAreTakenWhileTheOutputStageIsFull) {
  // Beat 0 at 0, held until 4 (out_ready low in 1..3); beat 1's residuals 8 and 9 go at 1 and 2 anyway,
  // and beat 1 issues at 4, when beat 0 leaves.
  const auto e = expected_timing({stream(0, 2, {8, 9})}, 8, Scripted{{1, 2, 3}, {}, {}, {}});
  EXPECT_EQ(e.take[0], (Cycles{1, 2}));
  EXPECT_EQ(e.fire[0], (Cycles{0, 4}));
  EXPECT_EQ(e.cycles, 6u);
}

TEST(UnitTiming, LoadsRunBeneathStreamsOfOtherSlotsAndWaitForTheirOwn) {
  // L0 0..3; L1 4..7 (beneath S0, which fires 4 and 5); S1 waits for L1: 8; L0' waits for S0 (done 6)
  // and the port (free at 8): 8..11; S0' at 12, accepted at 13.
  const auto e = expected_timing({load(0, 4), stream(0, 2), load(1, 4), stream(1, 1), load(0, 4), stream(0, 1)}, 8,
                                 Scripted{});
  EXPECT_EQ(e.done[0], 4u);
  EXPECT_EQ(e.fire[1], (Cycles{4, 5}));
  EXPECT_EQ(e.done[2], 8u);
  EXPECT_EQ(e.fire[3], (Cycles{8}));
  EXPECT_EQ(e.done[4], 12u);
  EXPECT_EQ(e.fire[5], (Cycles{12}));
  EXPECT_EQ(e.cycles, 14u);
}

TEST(UnitTiming, BubblesResidualStallsAndIdleLoadCyclesEachCostOneCycle) {
  // Load entries at 0, 2, 3 (idle at 1): done at 4. The beat is offered from 5 (bubble at 4); residual 0
  // waits out the port's stall at 5 and goes at 6; beat 0 issues at 7, beat 1 at 8.
  const auto e = expected_timing({load(0, 3), stream(0, 2, {0})}, 8, Scripted{{}, {4}, {5}, {1}});
  EXPECT_EQ(e.done[0], 4u);
  EXPECT_EQ(e.take[1], (Cycles{6}));
  EXPECT_EQ(e.fire[1], (Cycles{7, 8}));
  EXPECT_EQ(e.cycles, 10u);
}

TEST(UnitTiming, ThePatternIsAFunctionOfTheCycleAlone) {
  const TrafficPattern a(Traffic{}, 7), b(Traffic{}, 7), full(Traffic{0, 0, 0, 0}, 7);
  int stalls = 0;
  for (uint64_t c = 0; c < 10000; ++c) {
    EXPECT_EQ(a.out_stall(c), b.out_stall(c));
    EXPECT_FALSE(full.out_stall(c) || full.in_bubble(c) || full.res_stall(c) || full.load_idle(c));
    stalls += a.out_stall(c);
  }
  EXPECT_NEAR(stalls, 2000, 200);  // out_stall = 0.2
}

}  // namespace
}  // namespace sop::rtltb
