// Regression of the verilated LUT decode unit against the golden decode, bit for bit, and against the
// unit's documented timing, cycle for cycle (decode_unit_timing.h): every run checks each cycle's
// handshakes (Bench::run), each beat's and residual's cycle and the run's cycle count.
//
// One binary per verilated configuration; the configuration's RTL parameters arrive as SOP_TB_*
// definitions (tests/rtl/CMakeLists.txt). Modes:
//   --mode random   --vectors N --seed S   random tables, scales, codes, residuals (some stale), stalls,
//                                          reloads; --out-stall P, --in-bubble P, --res-stall P and
//                                          --load-idle P set the idle inputs' probabilities per cycle
//   --mode directed                        the named corner cases, each checked on its own
//   --mode real                            layers of the real models, quantized and written to a pack
//                                          file, streamed from the pack file (hif configuration only)
//   --mode bench    --cycles N             cycles per second: the model alone, and with the scoreboard
//   --mode illegal-load                    a load past the resident slots: the RTL assertion must fire
// --expect-mismatch inverts the verdict (the deliberately broken multiplier must be caught).
// --coverage FILE writes Verilator coverage after a passing run (coverage builds only).
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/golden/decode.h"
#include "model/golden/reference_tables.h"
#include "model/tlm/verilated_core.h"
#include "tests/rtl/decode_unit_timing.h"
#if VM_COVERAGE
#include "verilated_cov.h"
#endif
#include SOP_TB_HEADER

#ifdef SOP_TB_REAL_MODELS
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/sop/sop_search.h"
#endif

namespace sop::rtltb {
namespace {

using golden::Block;
using golden::DecodeConfig;
using golden::LayerTables;
using golden::Product;
using golden::Residual;

// ---- the configuration under test ------------------------------------------------------------------

struct Hw {
  int lanes = SOP_TB_LANES;
  int layers = SOP_TB_LAYERS;
  int stages = SOP_TB_STAGES;  // PipeStages
  int table_bits = SOP_TB_TABLE_BITS;  // TableBits: 2^table_bits tables per slot
  int tables() const { return 1 << table_bits; }
  DecodeConfig cfg;
};

Hw make_hw() {
  Hw hw;
  hw.cfg.code_bits = SOP_TB_CODE_BITS;
  hw.cfg.entry_format = SOP_TB_FP16 ? golden::EntryFormat::Fp16 : golden::EntryFormat::Hif;
  hw.cfg.scale = golden::ScaleFormat{SOP_TB_SCALE_SIGN != 0, SOP_TB_SCALE_EXP, SOP_TB_SCALE_MAN, SOP_TB_SCALE_BIAS,
                                     SOP_TB_SCALE_SUB != 0};
  return hw;
}

// ---- stimulus --------------------------------------------------------------------------------------

struct Beat {
  bool first = false;
  uint32_t table = 0;  // the block's table within the slot
  uint32_t scale = 0;
  std::vector<uint8_t> codes;  // lanes codes
};

// A job is either a table load into a layer slot or a tensor streamed from one.
struct Job {
  bool is_load = false;
  uint32_t layer = 0;
  LayerTables tables;              // load
  std::vector<Beat> beats;         // stream
  std::vector<Residual> residuals; // stream, index over the tensor
  std::vector<Product> expected;   // stream, lanes per beat
};


// Builds a stream job from blocks (each a multiple of lanes long) and residuals, with the golden's
// expected products computed on the tables the slot will hold.
Job make_stream(const Hw& hw, uint32_t layer, const LayerTables& tables, const std::vector<Block>& blocks,
                std::vector<Residual> residuals) {
  Job j;
  j.layer = layer;
  j.residuals = std::move(residuals);
  j.expected = golden::decode_stream(hw.cfg, tables, blocks, j.residuals);
  bool first = true;
  for (const Block& b : blocks) {
    if (b.codes.size() % static_cast<std::size_t>(hw.lanes) != 0) throw std::logic_error("block not a multiple of lanes");
    for (std::size_t at = 0; at < b.codes.size(); at += static_cast<std::size_t>(hw.lanes)) {
      Beat beat;
      beat.first = first;
      first = false;
      beat.table = b.table;
      beat.scale = b.scale_code;
      beat.codes.assign(b.codes.begin() + static_cast<std::ptrdiff_t>(at),
                        b.codes.begin() + static_cast<std::ptrdiff_t>(at) + hw.lanes);
      j.beats.push_back(std::move(beat));
    }
  }
  return j;
}

class Gen {
 public:
  Gen(const Hw& hw, uint64_t seed) : hw_(hw), rng_(seed) {}

  uint32_t bits(int n) { return n >= 32 ? static_cast<uint32_t>(rng_()) : static_cast<uint32_t>(rng_()) & ((1u << n) - 1); }
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int range(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // Half the time a reference codebook (the values the unit is built for), else random entry codes.
  std::vector<uint32_t> table() {
    const std::size_t n = static_cast<std::size_t>(hw_.cfg.entries_per_table());
    std::vector<uint32_t> t(n);
    if (uniform() < 0.5) {
      std::vector<golden::Codebook> fits;
      for (auto& cb : golden::reference_codebooks()) {
        if (cb.values.size() == n) fits.push_back(cb);
      }
      const auto& cb = fits[static_cast<std::size_t>(range(0, static_cast<int>(fits.size()) - 1))];
      for (std::size_t i = 0; i < n; ++i) t[i] = golden::encode_entry(hw_.cfg, cb.values[i]);
    } else {
      for (auto& e : t) e = bits(hw_.cfg.entry_bits());
    }
    return t;
  }
  // Appends n residuals behind the beat of the last one in `res` (index < that beat's first weight):
  // the port shows each while that beat waits, and the unit takes and drops it (the golden decode skips
  // it too). Half repeat the index of an earlier residual, half are any earlier index. None in beat 0.
  void stale_after(std::vector<Residual>& res, int n) {
    const auto L = static_cast<uint32_t>(hw_.lanes);
    const uint32_t beat_start = res.back().index / L * L;
    if (beat_start == 0) return;
    std::vector<uint32_t> earlier;
    for (const Residual& r : res) {
      if (r.index < beat_start) earlier.push_back(r.index);
    }
    for (int i = 0; i < n; ++i) {
      const uint32_t at = !earlier.empty() && bits(1) ? earlier[static_cast<std::size_t>(range(0, static_cast<int>(earlier.size()) - 1))]
                                                     : static_cast<uint32_t>(range(0, static_cast<int>(beat_start) - 1));
      res.push_back({at, bits(hw_.cfg.entry_bits())});
    }
  }

  // A slot's 2^TableBits tables.
  LayerTables tables() {
    LayerTables lt;
    for (int t = 0; t < hw_.tables(); ++t) {
      const auto a = table();
      lt.entries.insert(lt.entries.end(), a.begin(), a.end());
    }
    return lt;
  }

  // Scale codes: mostly uniform over the code space, with extra weight on the corners.
  uint32_t scale() {
    const auto& f = hw_.cfg.scale;
    const int nb = f.bits();
    const double u = uniform();
    if (u < 0.05) return 0;                                                  // +0
    if (u < 0.08 && f.has_sign) return 1u << (nb - 1);                       // -0
    if (u < 0.14 && f.man_bits > 0) return (f.has_sign && bits(1) ? 1u << (nb - 1) : 0) | bits(f.man_bits);  // subnormal
    if (u < 0.17) return (1u << nb) - 1;                                     // largest code
    return bits(nb);
  }

  // A random tensor: blocks of lanes * k weights, residuals at a given density (sorted, no duplicates),
  // and with probability `stale` after each residual some residuals behind its beat (stale_after).
  void tensor(int blocks, double res_density, double stale, std::vector<std::vector<uint8_t>>& store,
              std::vector<Block>& out, std::vector<Residual>& res) {
    const int k = range(1, 4);
    uint32_t index = 0;
    for (int b = 0; b < blocks; ++b) {
      store.emplace_back(static_cast<std::size_t>(hw_.lanes * k));
      for (auto& c : store.back()) c = static_cast<uint8_t>(bits(hw_.cfg.code_bits));
      for (std::size_t i = 0; i < store.back().size(); ++i, ++index) {
        if (uniform() < res_density) {
          res.push_back({index, bits(hw_.cfg.entry_bits())});
          if (uniform() < stale) stale_after(res, range(1, 3));
        }
      }
    }
    out.clear();
    for (std::size_t b = store.size() - static_cast<std::size_t>(blocks); b < store.size(); ++b) {
      out.push_back({scale(), bits(hw_.table_bits), Span<const uint8_t>(store[b].data(), store[b].size())});
    }
  }

 private:
  const Hw& hw_;
  std::mt19937_64 rng_;
};

// ---- the driver and scoreboard ---------------------------------------------------------------------

struct Counts {
  uint64_t vectors = 0;      // products compared
  uint64_t mismatches = 0;
  uint64_t beats = 0;
  uint64_t residuals = 0;    // taken: merged into a lane or dropped as stale
  uint64_t loads = 0;
  uint64_t cycles = 0;
  uint64_t expected_cycles = 0;  // from the documented timing (decode_unit_timing.h)
  uint64_t out_stalls = 0;   // cycles with out_valid and !out_ready
  uint64_t protocol_errors = 0;  // handshake rules broken (Bench::run lists them)
  uint64_t timing_errors = 0;    // beats or residuals not in the cycle the documented timing gives
};

// The ports are driven through the system model's own driver (model/tlm/verilated_core.h), so the
// regression also proves the pin-level code the RTL engine of `sop simulate` runs on.
class Bench {
 public:
  explicit Bench(const Hw& hw, uint64_t seed)
      : hw_(hw),
        rng_(seed ^ 0x5eed),
        core_(sysc::rtl_port_widths(hw.lanes, hw.cfg.code_bits, hw.table_bits, SOP_TB_FP16 != 0, SOP_TB_SCALE_SIGN != 0, SOP_TB_SCALE_EXP, SOP_TB_SCALE_MAN,
                                    golden::exp_offset(hw.cfg))),
        lane_products_(static_cast<std::size_t>(hw.lanes)),
        held_products_(static_cast<std::size_t>(hw.lanes)) {
    reset();
  }

  void reset() { core_.reset(); }

  // Runs jobs to completion; loads and streams overlap as the dependencies allow: a load into a slot
  // waits for every earlier stream of that slot to have issued its beats, a stream waits for every
  // earlier load into its slot. Besides the products, every cycle's handshakes are checked against the
  // unit's documented rules, and every beat's and residual's cycle against expected_timing().
  Counts run(std::vector<Job>& jobs, const Traffic& t) {
    Counts c;
    const TrafficPattern pat(t, rng_());
    const ExpectedTiming want = expected_timing(timing_jobs(jobs), hw_.lanes, pat, hw_.stages);
    std::vector<std::vector<uint64_t>> fired(jobs.size()), taken(jobs.size());
    std::size_t load_job = next_of(jobs, 0, true), stream_job = next_of(jobs, 0, false);
    std::size_t load_pos = 0, beat_pos = 0, res_pos = 0;
    std::size_t out_job = next_of(jobs, 0, false), out_beat = 0;
    bool beat_offered = false;
    // Last cycle's output stage: valid, accepted.
    bool was_valid = false, was_accepted = false;
    // The issue cycles of the beats not yet accepted, oldest first: the output shows the oldest, no
    // earlier than `stages` cycles after its issue.
    std::deque<uint64_t> in_flight;
    // The residual holding register as the unit documents it (rtl/sop_decode_unit.sv): what it holds
    // (an index, or the sentinel) and whether the offered first beat has refilled it.
    bool held_valid = false, filled = false;
    uint32_t held_index = 0;
    uint64_t idle = 0;
    auto protocol = [&](const char* what) {
      if (++c.protocol_errors <= 5) {
        std::printf("  PROTOCOL cycle %llu (job %zu, beat %zu, residual %zu): %s\n", static_cast<unsigned long long>(c.cycles),
                    stream_job, beat_pos, res_pos, what);
      }
    };

    while (out_job < jobs.size()) {
      const uint64_t cyc = c.cycles;
      // -- drive --
      bool load_ok = load_job < jobs.size() && streams_done_before(jobs, load_job, stream_job);
      bool load_valid = false;
      if (load_ok && !pat.load_idle(cyc)) {
        const Job& j = jobs[load_job];
        const std::size_t n = static_cast<std::size_t>(hw_.cfg.entries_per_table());
        core_.set_load(true, j.layer, static_cast<uint32_t>(load_pos / n), static_cast<uint32_t>(load_pos % n),
                       j.tables.entries[load_pos]);
        load_valid = true;
      } else {
        core_.set_load(false, 0, 0, 0, 0);
      }
      const bool stream_ok = stream_job < jobs.size() && loads_done_before(jobs, stream_job, load_job);
      if (!beat_offered && stream_ok && !pat.in_bubble(cyc)) beat_offered = true;
      if (beat_offered) {
        const Job& j = jobs[stream_job];
        const Beat& b = j.beats[beat_pos];
        core_.set_beat(true, b.codes.data(), b.table, b.scale, j.layer, b.first);
      } else {
        core_.set_beat(false, nullptr, 0u, 0, 0, false);
      }
      const bool res_valid = !pat.res_stall(cyc);
      uint32_t res_index = kSentinel;  // nothing left in this tensor
      if (stream_job < jobs.size() && res_pos < jobs[stream_job].residuals.size()) {
        res_index = jobs[stream_job].residuals[res_pos].index;
        core_.set_residual(res_valid, res_index, jobs[stream_job].residuals[res_pos].entry);
      } else {
        core_.set_residual(res_valid, kSentinel, 0);
      }
      const bool out_ready = !pat.out_stall(cyc);
      core_.set_out_ready(out_ready);
      core_.eval_low();

      // -- the handshake rules, from the pins before the edge --
      const bool out_valid = core_.out_valid();
      const bool fire = beat_offered && core_.in_ready();
      const bool took = res_valid && core_.res_ready();
      if (load_valid && !core_.load_ready()) protocol("load_ready_o low while a load is driven (the load port is always ready)");
      if (was_valid && !was_accepted && !out_valid) protocol("out_valid_o dropped without a handshake");
      if (out_valid && (in_flight.empty() || in_flight.front() + static_cast<uint64_t>(hw_.stages) > cyc)) {
        protocol("out_valid_o without a beat issued at least PipeStages cycles before");
      }
      if (was_valid && !was_accepted && out_valid) {
        core_.read_out(lane_products_.data());
        if (!same_products(lane_products_, held_products_)) protocol("output beat changed while waiting for out_ready_i");
      }
      if (beat_offered) {
        // The beat's end: its first weight index + Lanes (the first beat of a tensor starts at 0).
        const uint64_t end = (static_cast<uint64_t>(beat_pos) + 1) * static_cast<uint64_t>(hw_.lanes);
        const bool fill = jobs[stream_job].beats[beat_pos].first && !filled;
        const bool usable = !fill && held_valid;
        const bool consume = usable && held_index < end;  // in the beat, or behind it (stale: dropped)
        const bool past = usable && held_index >= end;    // the next residual or the sentinel: beat complete
        const bool may_take = fill || !held_valid || consume;
        if (fire && !past) protocol("beat issued before the holding register showed an index past it");
        if (hw_.stages == 1) {
          const bool stage_free = !out_valid || out_ready;
          if (fire && !stage_free) protocol("beat issued while the output stage holds an unaccepted beat");
          if (!fire && past && stage_free) protocol("beat not issued in the first cycle it may");
        }
        if (core_.res_ready() != may_take) {
          protocol(may_take ? (consume && held_index + static_cast<uint64_t>(hw_.lanes) < end ? "stale residual not dropped"
                                                                                              : "residual port not taken while the register frees")
                            : "residual port taken while the register holds an entry past the beat");
        }
        // The register after this cycle.
        if (took) {
          held_valid = true;
          held_index = res_index;
          if (fill) filled = true;
        } else if (fill || consume) {
          held_valid = false;
        }
        if (fire) filled = false;
      } else if (core_.res_ready()) {
        protocol("residual port ready while no beat is offered");
      }
      if (out_valid && !out_ready) {
        core_.read_out(held_products_.data());
      }

      // -- the transfers --
      bool progress = false;
      if (out_valid && out_ready) {
        check_beat(jobs[out_job], out_beat, c);
        if (!in_flight.empty()) in_flight.pop_front();
        progress = true;
        if (++out_beat == jobs[out_job].beats.size()) {
          out_beat = 0;
          out_job = next_of(jobs, out_job + 1, false);
        }
      } else if (out_valid) {
        ++c.out_stalls;
      }
      if (took && stream_job < jobs.size() && res_pos < jobs[stream_job].residuals.size()) {  // the sentinel stays on the port
        taken[stream_job].push_back(cyc);
        ++res_pos;
        ++c.residuals;
        progress = true;
      }
      if (fire) {
        fired[stream_job].push_back(cyc);
        in_flight.push_back(cyc);
        beat_offered = false;
        ++c.beats;
        progress = true;
        if (++beat_pos == jobs[stream_job].beats.size()) {
          if (res_pos != jobs[stream_job].residuals.size()) throw std::runtime_error("residuals left behind by a tensor");
          beat_pos = 0;
          res_pos = 0;
          stream_job = next_of(jobs, stream_job + 1, false);
        }
      }
      if (load_valid && core_.load_ready()) {
        ++c.loads;
        progress = true;
        if (++load_pos == jobs[load_job].tables.entries.size()) {
          load_pos = 0;
          load_job = next_of(jobs, load_job + 1, true);
        }
      }
      was_valid = out_valid;
      was_accepted = out_valid && out_ready;
      core_.rise();
      ++c.cycles;
      idle = progress ? 0 : idle + 1;
      if (idle > 10000) throw std::runtime_error("no progress for 10000 cycles (deadlock)");
    }
    c.expected_cycles = want.cycles;
    compare_timing(want, fired, taken, c);
    return c;
  }

  // The model alone: new codes every cycle, output always ready, no checking.
  uint64_t free_run(uint64_t cycles) {
    uint64_t fired = 0;
    core_.set_load(false, 0, 0, 0, 0);
    core_.set_residual(true, 0xFFFFFFFFu, 0);
    core_.set_out_ready(true);
    const int code_bits = hw_.cfg.code_bits;
    std::vector<uint8_t> codes(static_cast<std::size_t>(hw_.lanes), 0);
    uint32_t x = 12345;
    for (uint64_t i = 0; i < cycles; ++i) {
      x = x * 1664525u + 1013904223u;
      // The 32 bits of x spread over the lanes from lane 0; lanes past bit 31 keep code 0.
      for (int l = 0; l < hw_.lanes && l * code_bits < 32; ++l) {
        codes[static_cast<std::size_t>(l)] = static_cast<uint8_t>((x >> (l * code_bits)) & ((1u << code_bits) - 1));
      }
      core_.set_beat(true, codes.data(), (x >> 20) & static_cast<uint32_t>(hw_.tables() - 1), (x >> 8) & ((1u << hw_.cfg.scale.bits()) - 1), 0, false);
      core_.eval_low();
      fired += core_.in_ready();
      core_.rise();
    }
    return fired;
  }

  // A table load to slot `slot` for one cycle: with slot >= ResidentLayers the RTL's LoadLayerLegal
  // assertion must stop the simulation (the model is verilated with --assert).
  void load_once(uint32_t slot) {
    core_.set_out_ready(true);
    core_.set_load(true, slot, 0, 0, 0);
    core_.eval_low();
    core_.rise();
    core_.set_load(false, 0, 0, 0, 0);
    core_.eval_low();
    core_.rise();
  }

  void finish() { core_.final(); }
  VerilatedContext* context() { return core_.context(); }

 private:
  static std::size_t next_of(const std::vector<Job>& jobs, std::size_t from, bool load) {
    while (from < jobs.size() && jobs[from].is_load != load) ++from;
    return from;
  }
  // Every stream before job `load_job` that reads its slot has issued all of its beats.
  static bool streams_done_before(const std::vector<Job>& jobs, std::size_t load_job, std::size_t stream_job) {
    for (std::size_t i = stream_job; i < load_job; ++i) {
      if (!jobs[i].is_load && jobs[i].layer == jobs[load_job].layer) return false;
    }
    return true;
  }
  static bool loads_done_before(const std::vector<Job>& jobs, std::size_t stream_job, std::size_t load_job) {
    for (std::size_t i = load_job; i < stream_job; ++i) {
      if (jobs[i].is_load && jobs[i].layer == jobs[stream_job].layer) return false;
    }
    return true;
  }

  // The residual port's "none left" index (IndexBits = 32 in every configuration here).
  static constexpr uint32_t kSentinel = 0xFFFFFFFFu;

  static std::vector<TimingJob> timing_jobs(const std::vector<Job>& jobs) {
    std::vector<TimingJob> out;
    for (const Job& j : jobs) {
      TimingJob t;
      t.is_load = j.is_load;
      t.layer = j.layer;
      t.entries = j.tables.entries.size();
      t.beats = j.beats.size();
      for (const Residual& r : j.residuals) t.residual_index.push_back(r.index);
      out.push_back(std::move(t));
    }
    return out;
  }

  static bool same_products(const std::vector<Product>& a, const std::vector<Product>& b) {
    for (std::size_t l = 0; l < a.size(); ++l) {
      if (a[l].mant != b[l].mant || a[l].exp_field != b[l].exp_field) return false;
    }
    return true;
  }

  // Each beat's and each residual's handshake cycle against the documented timing; the first few
  // differences are listed.
  static void compare_timing(const ExpectedTiming& want, const std::vector<std::vector<uint64_t>>& fired,
                             const std::vector<std::vector<uint64_t>>& taken, Counts& c) {
    auto diff = [&](const char* what, const std::vector<uint64_t>& w, const std::vector<uint64_t>& g, std::size_t job) {
      for (std::size_t i = 0; i < std::max(w.size(), g.size()); ++i) {
        const bool have_w = i < w.size(), have_g = i < g.size();
        if (have_w && have_g && w[i] == g[i]) continue;
        if (++c.timing_errors <= 5) {
          std::printf("  TIMING job %zu %s %zu: at cycle %s, expected %s\n", job, what, i,
                      have_g ? std::to_string(g[i]).c_str() : "(never)", have_w ? std::to_string(w[i]).c_str() : "(none)");
        }
      }
    };
    for (std::size_t j = 0; j < fired.size(); ++j) {
      diff("beat", want.fire[j], fired[j], j);
      diff("residual", want.take[j], taken[j], j);
    }
  }

  // Every lane's mantissa and exponent field as the pins carry them, against the golden product.
  void check_beat(const Job& j, std::size_t beat, Counts& c) {
    core_.read_out(lane_products_.data());
    for (int l = 0; l < hw_.lanes; ++l) {
      const Product& want = j.expected[beat * static_cast<std::size_t>(hw_.lanes) + static_cast<std::size_t>(l)];
      const Product& got = lane_products_[static_cast<std::size_t>(l)];
      ++c.vectors;
      if (got.mant != want.mant || got.exp_field != want.exp_field) {
        if (++c.mismatches <= 5) {
          std::printf("  MISMATCH beat %zu lane %d: rtl mant %lld exp %u, golden mant %lld exp %u\n", beat, l,
                      static_cast<long long>(got.mant), got.exp_field, static_cast<long long>(want.mant),
                      want.exp_field);
        }
      }
    }
  }

  const Hw& hw_;
  std::mt19937_64 rng_;
  sysc::VerilatedCore<SOP_TB_MODEL, /*Traced=*/false> core_;
  std::vector<Product> lane_products_;  // the output beat read from the pins
  std::vector<Product> held_products_;  // the output beat of the last cycle, while it waited for out_ready
};

// ---- scenarios -------------------------------------------------------------------------------------

// Random: alternating loads and tensors over the resident slots, reloads overlapping other slots'
// streams, until `vectors` products have been checked.
std::vector<Job> random_jobs(const Hw& hw, Gen& g, uint64_t vectors, std::vector<std::vector<uint8_t>>& store) {
  std::vector<Job> jobs;
  std::vector<LayerTables> slot(static_cast<std::size_t>(hw.layers));
  for (int s = 0; s < hw.layers; ++s) {
    slot[static_cast<std::size_t>(s)] = g.tables();
    Job l;
    l.is_load = true;
    l.layer = static_cast<uint32_t>(s);
    l.tables = slot[static_cast<std::size_t>(s)];
    jobs.push_back(std::move(l));
  }
  uint64_t produced = 0;
  while (produced < vectors) {
    const auto s = static_cast<uint32_t>(g.range(0, hw.layers - 1));
    if (g.uniform() < 0.15) {
      slot[s] = g.tables();
      Job l;
      l.is_load = true;
      l.layer = s;
      l.tables = slot[s];
      jobs.push_back(std::move(l));
    }
    std::vector<Block> blocks;
    std::vector<Residual> res;
    const double density = g.uniform() < 0.3 ? 0.0 : 0.02;
    g.tensor(g.range(1, 64), density, g.uniform() < 0.5 ? 0.0 : 0.2, store, blocks, res);
    jobs.push_back(make_stream(hw, s, slot[s], blocks, res));
    produced += jobs.back().expected.size();
  }
  return jobs;
}

struct Scenario {
  std::string name;
  std::vector<Job> jobs;
  Traffic traffic;
};

std::vector<Scenario> directed(const Hw& hw, Gen& g, std::vector<std::vector<uint8_t>>& store) {
  std::vector<Scenario> out;
  const auto& sf = hw.cfg.scale;
  const uint32_t sign = sf.has_sign ? 1u << (sf.bits() - 1) : 0;
  const uint32_t man_mask = (1u << sf.man_bits) - 1;
  const int lanes = hw.lanes;

  auto load = [](uint32_t layer, const LayerTables& t) {
    Job j;
    j.is_load = true;
    j.layer = layer;
    j.tables = t;
    return j;
  };
  // A tensor whose blocks take scale codes from `scale_of(b)` and codes from `code_of(b, i)`.
  auto tensor = [&](uint32_t layer, const LayerTables& t, int blocks, int block_len, auto scale_of, auto sel_of,
                    auto code_of, double res_density) {
    std::vector<Block> bl;
    std::vector<Residual> res;
    uint32_t index = 0;
    for (int b = 0; b < blocks; ++b) {
      store.emplace_back(static_cast<std::size_t>(block_len));
      for (int i = 0; i < block_len; ++i, ++index) {
        store.back()[static_cast<std::size_t>(i)] = static_cast<uint8_t>(code_of(b, i));
        if (g.uniform() < res_density) res.push_back({index, g.bits(hw.cfg.entry_bits())});
      }
      bl.push_back({scale_of(b), static_cast<uint32_t>(sel_of(b)), Span<const uint8_t>(store.back().data(), store.back().size())});
    }
    return make_stream(hw, layer, t, bl, res);
  };
  auto rnd_code = [&](int, int) { return g.bits(hw.cfg.code_bits); };
  auto rnd_sel = [&](int) { return g.bits(hw.table_bits); };  // any of the slot's tables
  const LayerTables t0 = g.tables(), t1 = g.tables();

  {
    Scenario s{"zero scales (+0 and -0)", {load(0, t0)}, {}};
    s.jobs.push_back(tensor(0, t0, 64, lanes, [&](int b) { return (b & 1) ? sign : 0u; }, rnd_sel, rnd_code, 0.02));
    out.push_back(std::move(s));
  }
  if (sf.has_sign) {
    Scenario s{"negative scales", {load(0, t0)}, {}};
    s.jobs.push_back(tensor(0, t0, 256, lanes, [&](int) { return sign | g.bits(sf.bits() - 1); }, rnd_sel, rnd_code, 0.02));
    out.push_back(std::move(s));
  }
  if (sf.subnormals && sf.man_bits > 0) {
    Scenario s{"subnormal scales", {load(0, t0)}, {}};
    s.jobs.push_back(tensor(0, t0, 256, lanes, [&](int) { return (g.bits(1) ? sign : 0u) | (g.bits(sf.man_bits) & man_mask); },
                            rnd_sel, rnd_code, 0.0));
    out.push_back(std::move(s));
  }
  {
    // Extreme entries: the largest code of each table holds the format's extremes.
    LayerTables t = g.tables();
    const std::size_t n = static_cast<std::size_t>(hw.cfg.entries_per_table());
    const uint32_t emax = (1u << hw.cfg.entry_bits()) - 1;
    t.entries[n - 1] = hw.cfg.entry_format == golden::EntryFormat::Hif ? (emax & ~(1u << (golden::kHif.man_bits - 1))) | 0u
                                                                        : 0x7BFFu;  // +max
    t.entries[static_cast<std::size_t>(hw.tables()) * n - 1] = hw.cfg.entry_format == golden::EntryFormat::Hif ? (emax ^ ((1u << (golden::kHif.man_bits - 1)) - 1))
                                                                            : 0xFFFFu;  // most negative / e=31
    Scenario s{"largest code and extreme entries, largest scales", {load(1 % static_cast<uint32_t>(hw.layers), t)}, {}};
    const uint32_t maxs = (1u << sf.bits()) - 1;
    s.jobs.push_back(tensor(1 % static_cast<uint32_t>(hw.layers), t, 128, 2 * lanes,
                            [&](int b) { return (b & 2) ? maxs : (maxs & ~sign); }, rnd_sel,
                            [&](int, int) { return static_cast<uint32_t>(n - 1); }, 0.0));
    out.push_back(std::move(s));
  }
  {
    // With more than two tables, the table steps through all of them, block by block.
    Scenario s{"select bit flipping every block", {load(0, t0)}, {}};
    s.jobs.push_back(tensor(0, t0, 512, lanes, [&](int) { return g.scale(); }, [&](int b) { return b % hw.tables(); }, rnd_code, 0.01));
    out.push_back(std::move(s));
  }
  {
    // Stream one slot while the other is reloaded beneath it, then switch to the reloaded slot at once.
    Scenario s{"table reload mid-stream, back-to-back layers", {load(0, t0)}, {}};
    const uint32_t other = hw.layers > 1 ? 1u : 0u;
    std::vector<LayerTables> mirror = {t0, t1};
    if (other != 0) s.jobs.push_back(load(other, t1));
    for (int r = 0; r < 8; ++r) {
      const uint32_t a = (r & 1) ? other : 0u, b = (r & 1) ? 0u : other;
      s.jobs.push_back(tensor(a, mirror[a], 96, 2 * lanes, [&](int) { return g.scale(); }, rnd_sel, rnd_code, 0.02));
      mirror[b] = g.tables();
      s.jobs.push_back(load(b, mirror[b]));  // listed after the stream of a, so it runs beneath it
    }
    s.jobs.push_back(tensor(0, mirror[0], 16, lanes, [&](int) { return g.scale(); }, rnd_sel, rnd_code, 0.02));
    out.push_back(std::move(s));
  }
  {
    Scenario s{"backpressure on the output (90% stalled)", {load(0, t0)}, {}};
    s.traffic.out_stall = 0.9;
    s.jobs.push_back(tensor(0, t0, 128, lanes, [&](int) { return g.scale(); }, rnd_sel, rnd_code, 0.02));
    out.push_back(std::move(s));
  }
  {
    Scenario s{"back-to-back layers every block, no bubbles", {load(0, t0)}, {}};
    if (hw.layers > 1) s.jobs.push_back(load(1, t1));
    s.traffic = Traffic{0.0, 0.0, 0.0, 0.0};
    for (int b = 0; b < 64; ++b) {
      const uint32_t layer = hw.layers > 1 ? static_cast<uint32_t>(b & 1) : 0u;
      s.jobs.push_back(tensor(layer, layer ? t1 : t0, 1, lanes, [&](int) { return g.scale(); }, rnd_sel, rnd_code, 0.05));
    }
    out.push_back(std::move(s));
  }
  {
    // Residuals behind the current beat: after each beat's residual the port shows the previous beat's
    // index again (a repeat), sometimes any earlier index (index 0 included) and then a later residual of
    // the same beat; the unit must take each in one cycle and drop it. At full rate the run takes exactly
    // the load's entries + beats + residuals + 1 cycles. A second tensor then starts its indices at 0 again
    // (in_first_i), where the first tensor's position would make them stale.
    const auto L = static_cast<uint32_t>(lanes);
    auto stale_tensor = [&](int beats) {
      std::vector<Residual> res;
      uint32_t prev = 0;
      for (int k = 0; k < beats; ++k) {
        const uint32_t start = static_cast<uint32_t>(k) * L;
        const uint32_t hit = start + g.bits(8) % (L > 1 ? L - 1 : 1);
        res.push_back({hit, g.bits(hw.cfg.entry_bits())});
        if (k > 0) {
          res.push_back({prev, g.bits(hw.cfg.entry_bits())});  // repeated: the previous beat's index
          if (g.bits(1)) res.push_back({k % 4 == 1 ? 0u : g.bits(16) % start, g.bits(hw.cfg.entry_bits())});
          if (hit + 1 < start + L && g.bits(1)) res.push_back({hit + 1, g.bits(hw.cfg.entry_bits())});
        }
        prev = res.back().index >= start ? res.back().index : hit;
      }
      res.push_back({prev > L ? prev - L : 0u, g.bits(hw.cfg.entry_bits())});  // stale, just before the sentinel
      store.emplace_back(static_cast<std::size_t>(beats) * L);
      for (auto& code : store.back()) code = static_cast<uint8_t>(g.bits(hw.cfg.code_bits));
      std::vector<Block> bl;
      for (int k = 0; k < beats; ++k) {
        bl.push_back({g.scale(), g.bits(1) != 0, Span<const uint8_t>(store.back().data() + static_cast<std::size_t>(k) * L, L)});
      }
      return make_stream(hw, 0, t0, bl, res);
    };
    Scenario full{"stale and repeated residual indices, full rate", {load(0, t0)}, Traffic{0.0, 0.0, 0.0, 0.0}};
    full.jobs.push_back(stale_tensor(48));
    full.jobs.push_back(stale_tensor(16));
    Scenario stalled{"stale and repeated residual indices, stalls on every port", {load(0, t0)}, {}};
    stalled.jobs.push_back(stale_tensor(48));
    stalled.jobs.push_back(stale_tensor(16));
    out.push_back(std::move(full));
    out.push_back(std::move(stalled));
  }
  {
    Scenario s{"dense residuals (every weight of some blocks, first and last index)", {load(0, t0)}, {}};
    s.jobs.push_back(tensor(0, t0, 32, 2 * lanes, [&](int) { return g.scale(); }, rnd_sel, rnd_code, 1.0));
    s.jobs.push_back(tensor(0, t0, 32, 2 * lanes, [&](int) { return g.scale(); }, rnd_sel, rnd_code, 0.3));
    out.push_back(std::move(s));
  }
  return out;
}

// ---- real models -------------------------------------------------------------------------------------

#ifdef SOP_TB_REAL_MODELS
// Quantizes a few matrices of each real model with the SOP search, writes them to a pack file, reopens
// it and streams every layer from the pack into the unit; the golden products, scaled as the pack file
// defines, must also equal the pack file's own dequantization.
std::vector<Scenario> real_model_scenarios(const Hw& hw, const std::string& models_dir, const std::string& tmp_dir,
                                           std::vector<std::vector<uint8_t>>& store, uint64_t& dequant_checked,
                                           uint64_t& dequant_mismatches, std::vector<std::string>& skipped) {
  std::vector<Scenario> out;
  const char* files[] = {"stories260K.safetensors", "bert_tiny_sst2.safetensors", "gpt2_attn_l0-4-8-11.safetensors",
                         "ppocrv4_rec_matmul.safetensors", "aidreams260K.safetensors"};
  const SopLayout layout = parse_sop_layout("g16 sE4M3+sel");
  SopSearchOptions opts;
  opts.threads = 1;
  for (const char* file : files) {
    const std::string path = models_dir + "/" + file;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      std::fclose(f);
    } else {
      skipped.push_back(path);
      continue;
    }
    auto reader = open_model(path);
    PackModelInfo info;
    info.created_by = "sop rtl regression";
    info.source = path;
    std::vector<SopLayerResult> results;
    int taken = 0;
    for (const auto& ti : reader->tensors()) {
      if (!ti.is_matrix() || ti.element_count() > 600000 || ti.shape[1] % 16 != 0 || taken >= 2) continue;
      const Tensor w = reader->read(ti.name);
      SopLayerRecipe recipe = search_layer_pair(w, {}, layout, 0.0, opts);
      recipe.sparse_count = ti.element_count() / 200;
      results.push_back(quantize_with_recipe(w, {}, recipe, opts));
      info.tensors.push_back({ti.name, ti.shape, PackedAs::Quantized, ""});
      ++taken;
    }
    const std::string pack_path = tmp_dir + "/rtl_real_" + std::string(file) + ".pack";
    {
      PackWriter writer(pack_path, info);
      for (const auto& r : results) writer.add_layer(r);
      writer.finish();
    }
    const PackFile pack = PackFile::open(pack_path);
    Scenario s{std::string("real model ") + file, {}, {}};
    uint32_t slot = 0;
    for (const PackedLayerView& v : pack.layers()) {
      const auto& d = v.decode;
      if (d.code_bits != hw.cfg.code_bits || d.entry_format != hw.cfg.entry_format || d.scale.bits() != hw.cfg.scale.bits() ||
          d.scale.exp_bits != hw.cfg.scale.exp_bits || d.scale.bias != hw.cfg.scale.bias) {
        throw std::runtime_error("pack layer " + v.name + " does not match the unit's formats");
      }
      if (v.block_size % hw.lanes != 0 || v.cols % v.block_size != 0) {
        skipped.push_back(v.name + " (block size not a multiple of lanes)");
        continue;
      }
      const LayerTables t = sop::pair_tables(v, "RTL regression");
      std::vector<Block> blocks;
      for (int64_t b = 0; b < v.block_count(); ++b) {
        store.emplace_back(static_cast<std::size_t>(v.block_size));
        golden::unpack_codes(v.codes, d.code_bits, static_cast<std::size_t>(b * v.block_size), store.back());
        blocks.push_back({v.scale_code(b), v.table_of(b), Span<const uint8_t>(store.back().data(), store.back().size())});
      }
      std::vector<Residual> res;
      for (const auto& e : v.sparse) res.push_back({static_cast<uint32_t>(e.index), e.entry});
      Job load;
      load.is_load = true;
      load.layer = slot;
      load.tables = t;
      s.jobs.push_back(std::move(load));
      s.jobs.push_back(make_stream(hw, slot, t, blocks, res));
      // The pack file's dequantization from the same products.
      const std::vector<float> deq = dequantize_layer(v);
      const auto& prods = s.jobs.back().expected;
      for (std::size_t i = 0; i < deq.size(); ++i) {
        float x = v.tensor_scale * golden::to_float(prods[i]);
        if (!v.channel_factors.empty()) x = v.channel_factors[i % static_cast<std::size_t>(v.cols)] * x;
        ++dequant_checked;
        if (x != deq[i]) ++dequant_mismatches;
      }
      slot = (slot + 1) % static_cast<uint32_t>(hw.layers);
    }
    std::remove(pack_path.c_str());
    out.push_back(std::move(s));
  }
  return out;
}
#endif

// ---- main ------------------------------------------------------------------------------------------

struct Args {
  std::string mode = "random";
  uint64_t vectors = 1000000;
  uint64_t cycles = 2000000;
  uint64_t seed = 1;
  bool expect_mismatch = false;
  std::string coverage;
  Traffic traffic;  // random mode: the idle inputs' probabilities (--out-stall etc.)
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      return argv[++i];
    };
    if (k == "--mode") a.mode = val();
    else if (k == "--vectors") a.vectors = std::stoull(val());
    else if (k == "--cycles") a.cycles = std::stoull(val());
    else if (k == "--seed") a.seed = std::stoull(val());
    else if (k == "--expect-mismatch") a.expect_mismatch = true;
    else if (k == "--coverage") a.coverage = val();
    else if (k == "--out-stall") a.traffic.out_stall = std::stod(val());
    else if (k == "--in-bubble") a.traffic.in_bubble = std::stod(val());
    else if (k == "--res-stall") a.traffic.res_stall = std::stod(val());
    else if (k == "--load-idle") a.traffic.load_idle = std::stod(val());
    else throw std::invalid_argument("unknown argument " + k);
  }
  return a;
}

int run(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const Hw hw = make_hw();
  std::printf("decode unit %s: lanes %d, %d-bit codes, %d resident layers, %s entries, scale %sE%dM%d bias %d%s\n",
              SOP_TB_NAME, hw.lanes, hw.cfg.code_bits, hw.layers, SOP_TB_FP16 ? "FP16" : "HIF",
              hw.cfg.scale.has_sign ? "s" : "u", hw.cfg.scale.exp_bits, hw.cfg.scale.man_bits, hw.cfg.scale.bias,
              hw.cfg.scale.subnormals ? "" : " (no subnormals)");
  Gen g(hw, a.seed);
  Bench bench(hw, a.seed);
  std::vector<std::vector<uint8_t>> store;
  std::vector<Scenario> scenarios;

  if (a.mode == "random") {
    scenarios.push_back({"random", random_jobs(hw, g, a.vectors, store), a.traffic});
  } else if (a.mode == "directed") {
    scenarios = directed(hw, g, store);
  } else if (a.mode == "real") {
#ifdef SOP_TB_REAL_MODELS
    const char* env = std::getenv("SOP_MODELS_DIR");
    const std::string dir = env ? env : SOP_MODELS_DIR_DEFAULT;
    uint64_t checked = 0, bad = 0;
    std::vector<std::string> skipped;
    scenarios = real_model_scenarios(hw, dir, SOP_TB_TMP_DIR, store, checked, bad, skipped);
    for (const auto& s : skipped) std::printf("  SKIPPED: %s not found or not streamable\n", s.c_str());
    std::printf("  pack-file dequantization vs golden products: %llu weights, %llu mismatches\n",
                static_cast<unsigned long long>(checked), static_cast<unsigned long long>(bad));
    if (bad != 0) return 1;
    if (scenarios.empty()) {
      std::printf("SKIPPED: no real model found in %s (set SOP_MODELS_DIR)\n", dir.c_str());
      return 0;
    }
#else
    std::printf("real-model streams are run by the hif configuration only\n");
    return 2;
#endif
  } else if (a.mode == "bench") {
    // Wall time and this process's CPU time: on a shared machine the CPU-time rate is the model's own
    // speed, the wall-time rate what this run got.
    struct Timer {
      std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
      std::clock_t cpu = std::clock();
      double wall_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(); }
      double cpu_s() const { return static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC; }
    };
    const Timer t0;
    const uint64_t fired = bench.free_run(a.cycles);
    const double w0 = t0.wall_s(), c0 = t0.cpu_s();
    std::printf("model alone: %llu cycles, %.2f M cycles/s of CPU time (%.2f M/s wall), %.1f M weights/s of CPU time\n",
                static_cast<unsigned long long>(a.cycles), a.cycles / c0 / 1e6, a.cycles / w0 / 1e6,
                static_cast<double>(fired) * hw.lanes / c0 / 1e6);
    bench.reset();  // drop the free-running beats still in the output stage
    auto jobs = random_jobs(hw, g, a.cycles * static_cast<uint64_t>(hw.lanes) / 2, store);
    const Timer t1;
    const Counts c = bench.run(jobs, Traffic{0.0, 0.0, 0.0, 0.0});
    const double w1 = t1.wall_s(), c1 = t1.cpu_s();
    std::printf("with stimulus and scoreboard: %llu cycles, %.2f M cycles/s of CPU time (%.2f M/s wall), "
                "%llu vectors, %llu mismatches\n",
                static_cast<unsigned long long>(c.cycles), c.cycles / c1 / 1e6, c.cycles / w1 / 1e6,
                static_cast<unsigned long long>(c.vectors), static_cast<unsigned long long>(c.mismatches));
    bench.finish();
    return c.mismatches == 0 && c.protocol_errors == 0 && c.timing_errors == 0 && c.cycles == c.expected_cycles ? 0 : 1;
  } else if (a.mode == "illegal-load") {
    // The RTL's own assertions run in simulation: a load to the first slot past ResidentLayers must
    // trip LoadLayerLegal. Errors are recorded rather than fatal here, so the run can say which load did.
    bench.context()->fatalOnError(false);
    bench.load_once(static_cast<uint32_t>(hw.layers) - 1);
    if (bench.context()->gotError()) {
      std::printf("FAIL: a legal load to slot %d tripped an assertion\n", hw.layers - 1);
      return 1;
    }
    std::printf("legal load to slot %d passed\n", hw.layers - 1);
    bench.load_once(static_cast<uint32_t>(hw.layers));
    if (!bench.context()->gotError()) {
      std::printf("FAIL: a load to slot %d (of %d resident) did not trip LoadLayerLegal\n", hw.layers, hw.layers);
      return 1;
    }
    std::printf("PASS: the load to slot %d (of %d resident) tripped LoadLayerLegal\n", hw.layers, hw.layers);
    return 0;
  } else {
    throw std::invalid_argument("unknown mode " + a.mode);
  }

  Counts total;
  bool clean = true;
  for (auto& s : scenarios) {
    const Counts c = bench.run(s.jobs, s.traffic);
    std::printf("  %-62s vectors %9llu  mismatches %llu  beats %llu  residuals %llu  loads %llu  cycles %llu (expected %llu)"
                "  out stalls %llu  protocol errors %llu  timing errors %llu\n",
                s.name.c_str(), static_cast<unsigned long long>(c.vectors), static_cast<unsigned long long>(c.mismatches),
                static_cast<unsigned long long>(c.beats), static_cast<unsigned long long>(c.residuals),
                static_cast<unsigned long long>(c.loads), static_cast<unsigned long long>(c.cycles),
                static_cast<unsigned long long>(c.expected_cycles), static_cast<unsigned long long>(c.out_stalls),
                static_cast<unsigned long long>(c.protocol_errors), static_cast<unsigned long long>(c.timing_errors));
    if (c.cycles != c.expected_cycles) {
      std::printf("  CYCLES %s: %llu, the documented timing gives %llu\n", s.name.c_str(),
                  static_cast<unsigned long long>(c.cycles), static_cast<unsigned long long>(c.expected_cycles));
    }
    total.vectors += c.vectors;
    total.mismatches += c.mismatches;
    total.protocol_errors += c.protocol_errors;
    total.timing_errors += c.timing_errors;
    total.cycles += c.cycles;
    total.expected_cycles += c.expected_cycles;
    // Timing and handshakes must hold in every run, the broken multiplier's included.
    clean = clean && c.protocol_errors == 0 && c.timing_errors == 0 && c.cycles == c.expected_cycles;
  }
  bench.finish();
  std::printf("TOTAL %s %s: vectors %llu, mismatches %llu, cycles %llu (expected %llu), protocol errors %llu, "
              "timing errors %llu\n",
              SOP_TB_NAME, a.mode.c_str(), static_cast<unsigned long long>(total.vectors),
              static_cast<unsigned long long>(total.mismatches), static_cast<unsigned long long>(total.cycles),
              static_cast<unsigned long long>(total.expected_cycles), static_cast<unsigned long long>(total.protocol_errors),
              static_cast<unsigned long long>(total.timing_errors));
  const bool values = a.expect_mismatch ? total.mismatches > 0 : total.mismatches == 0;
  if (a.expect_mismatch) {
    std::printf("%s: the broken multiplier %s caught\n", values ? "PASS" : "FAIL", values ? "was" : "was NOT");
  }
  const bool pass = values && clean;
#if VM_COVERAGE
  if (pass && !a.coverage.empty()) bench.context()->coveragep()->write(a.coverage.c_str());
#endif
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace sop::rtltb

int main(int argc, char** argv) {
  try {
    return sop::rtltb::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode_unit_tb: error: %s\n", e.what());
    return 1;
  }
}
