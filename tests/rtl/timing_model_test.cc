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

TEST(UnitTiming, FullRateIsLoadThenFillThenOneCyclePerBeatAndResidualPlusTheOutputStage) {
  // 32 entries in cycles 0..31. Beat 0 is offered at 32: the fill takes residual 1 into the holding
  // register (32); it is merged at 33, where 9 is taken; beat 0 issues at 34 (9 is past it). Beat 1 merges
  // 9 at 35 (the sentinel taken beside it), issues at 36; beat 2 at 37, accepted at 38:
  // 32 + 1 fill + 3 beats + 2 residuals + 1 = 39 cycles.
  const auto e = expected_timing({load(0, 32), stream(0, 3, {1, 9})}, 8, Scripted{});
  EXPECT_EQ(e.fire[1], (Cycles{34, 36, 37}));
  EXPECT_EQ(e.take[1], (Cycles{32, 33}));
  EXPECT_EQ(e.cycles, 39u);
}

TEST(UnitTiming, ABeatIssuesInTheCycleItsPredecessorIsAccepted) {
  // The fill at 0, beat 0 issues at 1; out_ready is low in 2, so it is accepted at 3, where beat 1
  // issues; beat 2 at 4, accepted at 5.
  const auto e = expected_timing({stream(0, 3)}, 8, Scripted{{1, 2}, {}, {}, {}});
  EXPECT_EQ(e.fire[0], (Cycles{1, 3, 4}));
  EXPECT_EQ(e.cycles, 6u);
}

TEST(UnitTiming, StaleAndRepeatedResidualsTakeACycleEach) {
  // 4 lanes: the fill takes 2 (0), merged at 1 where 5 is taken: beat 0 issues at 2. Beat 1 merges 5 at 3
  // (taking 1), drops 1 at 4 (taking 0) and 0 at 5 (both behind it; the sentinel taken), issues at 6.
  const auto e = expected_timing({stream(0, 2, {2, 5, 1, 0})}, 4, Scripted{});
  EXPECT_EQ(e.take[0], (Cycles{0, 1, 3, 4}));
  EXPECT_EQ(e.fire[0], (Cycles{2, 6}));
  EXPECT_EQ(e.cycles, 8u);
}

TEST(UnitTiming, ResidualsAreTakenWhileTheOutputStageIsFull) {
  // The fill takes 8 (0); beat 0 issues at 1 and is held until 4 (out_ready low in 2 and 3); beat 1 merges
  // 8 at 2 and 9 at 3 anyway, and issues at 4, when beat 0 leaves.
  const auto e = expected_timing({stream(0, 2, {8, 9})}, 8, Scripted{{1, 2, 3}, {}, {}, {}});
  EXPECT_EQ(e.take[0], (Cycles{0, 2}));
  EXPECT_EQ(e.fire[0], (Cycles{1, 4}));
  EXPECT_EQ(e.cycles, 6u);
}

TEST(UnitTiming, LoadsRunBeneathStreamsOfOtherSlotsAndWaitForTheirOwn) {
  // L0 0..3; S0 fills at 4 and fires 5 and 6 (done 7); L1 4..7 beneath it; S1 waits for L1: fill 8, fire
  // 9; L0' waits for S0 (done 7) and the port (free at 8): 8..11; S0' fills at 12, fires 13, accepted 14.
  const auto e = expected_timing({load(0, 4), stream(0, 2), load(1, 4), stream(1, 1), load(0, 4), stream(0, 1)}, 8,
                                 Scripted{});
  EXPECT_EQ(e.done[0], 4u);
  EXPECT_EQ(e.fire[1], (Cycles{5, 6}));
  EXPECT_EQ(e.done[2], 8u);
  EXPECT_EQ(e.fire[3], (Cycles{9}));
  EXPECT_EQ(e.done[4], 12u);
  EXPECT_EQ(e.fire[5], (Cycles{13}));
  EXPECT_EQ(e.cycles, 15u);
}

TEST(UnitTiming, BubblesResidualStallsAndIdleLoadCyclesEachCostOneCycle) {
  // Load entries at 0, 2, 3 (idle at 1): done at 4. The beat is offered from 5 (bubble at 4); the fill
  // waits out the port's stall at 5 and takes residual 0 at 6; merged at 7 (the sentinel taken); beat 0
  // issues at 8, beat 1 at 9.
  const auto e = expected_timing({load(0, 3), stream(0, 2, {0})}, 8, Scripted{{}, {4}, {5}, {1}});
  EXPECT_EQ(e.done[0], 4u);
  EXPECT_EQ(e.take[1], (Cycles{6}));
  EXPECT_EQ(e.fire[1], (Cycles{8, 9}));
  EXPECT_EQ(e.cycles, 11u);
}

TEST(UnitTiming, AResidualStallDelaysOnlyTheNextEntry) {
  // 8 lanes, residuals 1 and 2 in beat 0. The fill takes 1 (0); 1 is merged at 1, but the port is not
  // valid at 1 or 2, so 2 is taken at 3 and merged at 4 (the sentinel taken); beat 0 issues at 5.
  const auto e = expected_timing({stream(0, 1, {1, 2})}, 8, Scripted{{}, {}, {1, 2}, {}});
  EXPECT_EQ(e.take[0], (Cycles{0, 3}));
  EXPECT_EQ(e.fire[0], (Cycles{5}));
  EXPECT_EQ(e.cycles, 7u);
}

TEST(UnitTiming, TwoStagesHoldTheirBeatsUnderBackpressure) {
  // PipeStages 2, 4 beats, no residuals, out_ready low in 3..5. Cycle by cycle (stage 1 | output):
  //   0  fill                  1  b0 issues
  //   2  b0 | -  : b0 moves on, b1 issues (stage 1 frees in the same cycle)
  //   3  b1 | b0 : out_ready low, nothing moves, no issue (3, 4, 5)
  //   6  b1 | b0 : b0 accepted, b1 moves on, b2 issues
  //   7  b2 | b1 : b1 accepted, b2 moves on, b3 issues
  //   8  b3 | b2 : b2 accepted;  9  - | b3 : b3 accepted: 10 cycles.
  const auto e = expected_timing({stream(0, 4)}, 8, Scripted{{3, 4, 5}, {}, {}, {}}, 2);
  EXPECT_EQ(e.fire[0], (Cycles{1, 2, 6, 7}));
  EXPECT_EQ(e.cycles, 10u);
}

TEST(UnitTiming, EveryStageAddsOneCycleOfFillLatencyAtFullRate) {
  // The first case with 2 and 3 stages: the same issues, the last beat accepted 1 or 2 cycles later.
  for (int stages = 1; stages <= 3; ++stages) {
    const auto e = expected_timing({load(0, 32), stream(0, 3, {1, 9})}, 8, Scripted{}, stages);
    EXPECT_EQ(e.fire[1], (Cycles{34, 36, 37})) << stages;
    EXPECT_EQ(e.cycles, 38u + static_cast<uint64_t>(stages)) << stages;
  }
}

TEST(UnitTiming, ThreeStagesKeepOneBeatACycleThroughAStall) {
  // PipeStages 3, 5 beats, out_ready low at 5 only. M(b) = issue, leaves stage 1, leaves stage 2,
  // accepted (M_b(s) = max(M_b(s-1) + 1, M_{b-1}(s+1))). At 5 the output holds b1, stage 2 b2, stage 1
  // b3: all full, so nothing moves and b4 waits; at 6 everything moves and b4 issues.
  //   M(b0) = 1, 2, 3, 4      M(b1) = 2, 3, 4, 6 (accepted after the stall at 5)
  //   M(b2) = 3, 4, 6, 7      (leaves stage 2 when b1 leaves the output)
  //   M(b3) = 4, 6, 7, 8      (issued at 4 into stage 1, held there at 5)
  //   M(b4) = 6, 7, 8, 9      (stage 1 frees at 6): accepted at 9, 10 cycles.
  const auto e = expected_timing({stream(0, 5)}, 8, Scripted{{5}, {}, {}, {}}, 3);
  EXPECT_EQ(e.fire[0], (Cycles{1, 2, 3, 4, 6}));
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
