// The decode unit's documented cycle timing (rtl/sop_decode_unit.sv, docs/rtl.md "Timing"), as the
// regression harness (decode_unit_tb.cc) schedules its jobs: what the harness checks the RTL against.
// It reads no RTL and no simulation: the expected cycles follow from the jobs and the harness's input
// decisions alone, which are pure functions of (seed, cycle) so that they are the same whatever the unit does.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sop::rtltb {

// Probabilities per cycle of the harness's idle inputs.
struct Traffic {
  double out_stall = 0.2;    // out_ready low
  double in_bubble = 0.1;    // no beat offered (drawn in each cycle a beat could be offered)
  double res_stall = 0.05;   // residual port not valid
  double load_idle = 0.2;    // no load entry offered (drawn in each cycle a load entry could be offered)
};

// The harness's input decisions for one run: cycle c's draws depend on (seed, c) only. A probability of
// zero never draws (the benchmark's full-rate runs pay nothing).
class TrafficPattern {
 public:
  TrafficPattern(const Traffic& t, uint64_t seed) : t_(t), seed_(seed) {}
  bool out_stall(uint64_t c) const { return draw(c, 0, t_.out_stall); }
  bool in_bubble(uint64_t c) const { return draw(c, 1, t_.in_bubble); }
  bool res_stall(uint64_t c) const { return draw(c, 2, t_.res_stall); }
  bool load_idle(uint64_t c) const { return draw(c, 3, t_.load_idle); }
  const Traffic& traffic() const { return t_; }

 private:
  bool draw(uint64_t c, uint64_t port, double p) const {
    if (p <= 0) return false;
    uint64_t x = seed_ + (c * 4 + port + 1) * 0x9E3779B97F4A7C15ull;  // splitmix64
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return static_cast<double>(x >> 11) * 0x1.0p-53 < p;
  }
  Traffic t_;
  uint64_t seed_;
};

// What the timing needs of a job: a table load of `entries` entries into `layer`, or a tensor of `beats`
// beats streamed from `layer` whose residuals (in port order) have these indices.
struct TimingJob {
  bool is_load = false;
  uint32_t layer = 0;
  std::size_t entries = 0;
  std::size_t beats = 0;
  std::vector<uint32_t> residual_index;
};

struct ExpectedTiming {
  // Per job (streams; empty for loads): the cycle each beat issues (in_valid_i && in_ready_o) and the
  // cycle each residual is taken (res_valid_i && res_ready_o).
  std::vector<std::vector<uint64_t>> fire, take;
  std::vector<uint64_t> done;  // per job: a load's cycle after its last entry, a stream's after its last beat
  uint64_t cycles = 0;         // the run, up to and including the cycle the last output beat is accepted
};

// The unit's rules (cycle c counts from 0 after reset; a cycle's inputs are applied before its edge):
//  - a beat is offered from the first cycle it may be (previous beat issued, the stream's loads written)
//    that draws no bubble, and stays offered until it issues;
//  - the residual port feeds a one-entry holding register, taken (res_ready_o) only while a beat is
//    offered: the port shows the tensor's residuals in order, then the sentinel all-ones (repeated, not
//    consumed by a take). A tensor's first beat spends its first cycle with the port valid taking the
//    tensor's first entry (residual or sentinel) in place of what the register held: the fill;
//  - while a beat is offered, a held residual before the beat's end (first weight index + Lanes) is
//    consumed in one cycle: merged into its lane if it falls in the beat, dropped if behind it (stale or
//    repeated). The register takes the next entry in that same cycle if the port is valid, else in the
//    first later cycle it is; an entry is usable from the cycle after its take. One residual per cycle,
//    whatever the pipeline holds;
//  - the beat issues in the first cycle in which the register holds an entry at or past its end (the next
//    residual, or the sentinel) and the first of the `stages` one-entry pipeline stages can take it: empty,
//    or its beat moving on in that same cycle. Beat b leaves stage s (1..stages-1) in
//    M_b(s) = max(M_b(s-1) + 1, M_{b-1}(s+1)), M_b(0) its issue (a cycle in each stage at least, and
//    stage s+1 free or freeing); it is valid at the output (stage `stages`) from M_b(stages-1) + 1 until the first
//    cycle with out_ready, its acceptance M_b(stages);
//  - a load writes one entry in each cycle it is offered (load_ready_o is always 1).
// The harness's own dependencies: a load starts after the last beat of every earlier stream of its slot
// has issued, a stream after every earlier load into its slot has written its last entry; loads run one
// after another, streams too, and a load runs beneath a stream of another slot.
// Pattern: TrafficPattern, or any class with its four per-cycle predicates (the model's own tests script them).
template <class Pattern>
ExpectedTiming expected_timing(const std::vector<TimingJob>& jobs, int lanes, const Pattern& p, int stages = 1) {
  ExpectedTiming e;
  e.fire.resize(jobs.size());
  e.take.resize(jobs.size());
  e.done.assign(jobs.size(), 0);
  const auto P = static_cast<std::size_t>(stages);
  uint64_t load_free = 0, beat_free = 0;  // first cycle the next load / the next stream may start
  std::vector<uint64_t> prev(P + 1, 0);   // the previous beat's M(0..stages): issue, stage moves, acceptance
  std::vector<uint64_t> m(P + 1, 0);
  uint64_t last_accept = 0;
  bool any_beat = false;
  // The first cycle >= c with the residual port valid.
  auto port_valid = [&p](uint64_t c) {
    while (p.res_stall(c)) ++c;
    return c;
  };
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const TimingJob& job = jobs[j];
    uint64_t c = job.is_load ? load_free : beat_free;
    for (std::size_t i = 0; i < j; ++i) {
      if (jobs[i].is_load != job.is_load && jobs[i].layer == job.layer) c = std::max(c, e.done[i]);
    }
    if (job.is_load) {
      for (std::size_t n = 0; n < job.entries; ++n, ++c) {
        while (p.load_idle(c)) ++c;
      }
      e.done[j] = load_free = c;
      continue;
    }
    const std::size_t n_res = job.residual_index.size();
    std::size_t r = 0;
    uint64_t usable = 0;  // the cycle from which the register holds the next entry
    const auto L = static_cast<uint64_t>(lanes);
    for (std::size_t k = 0; k < job.beats; ++k) {
      while (p.in_bubble(c)) ++c;  // offered from c on
      if (k == 0) {
        c = port_valid(c);  // the fill: the tensor's first entry
        if (n_res > 0) e.take[j].push_back(c);
        usable = ++c;
      }
      const uint64_t end = (k + 1) * L;
      for (; r < n_res && job.residual_index[r] < end; ++r) {
        c = std::max(c, usable);  // consumed
        const uint64_t t = port_valid(c);
        if (r + 1 < n_res) e.take[j].push_back(t);
        usable = t + 1;
        ++c;
      }
      c = std::max({c, usable, prev[1]});
      e.fire[j].push_back(c);
      m[0] = c;
      for (std::size_t s = 1; s < P; ++s) m[s] = std::max(m[s - 1] + 1, prev[s + 1]);
      uint64_t a = m[P - 1] + 1;
      while (p.out_stall(a)) ++a;
      m[P] = a;
      prev = m;
      last_accept = a;
      any_beat = true;
      ++c;
    }
    e.done[j] = beat_free = c;
  }
  e.cycles = any_beat ? last_accept + 1 : 0;
  return e;
}

}  // namespace sop::rtltb
