// The LUT decode unit at transaction level, and what it shares with the RTL engine.
//
// DecodeUnit (the interface both engines implement):
//   host_socket  (target)    UnitCommand at kLoadTablesAddress: load a layer's tables into a LUT slot;
//                             at kStreamAddress: stream a layer (reload its tables first on a miss).
//   dram_socket  (initiator) fetch requests: tables, and chunks of whole rows (decode_unit.fetch).
//   out_socket   (initiator) one OutputChunk per fetched chunk, to the consumer.
// The LUT keeps `resident_layers` slots, replaced least recently used; with policy.prefetch_next_layer
// the next layer's tables are fetched and loaded into another slot while the current layer streams.
// A layer with more row-group tables than a slot holds (PreparedLayer::streams_tables) streams them: its
// first W tables are loaded with the layer, table g >= W is loaded into slot table g mod W during the
// stream, one entry per cycle, from the first cycle in which (a) the load port is free, (b) its bytes
// have arrived (with the chunk of its group's first row) and (c) every beat reading table g - W issued
// in an earlier cycle; a beat is offered only once every table it reads is loaded (the cycles before
// count as `lut_reload`). Both engines keep that rule: the TLM in closed form, the RTL engine by
// watching the verilated unit's issues. The slot then holds the layer's last tables, so the layer is
// not resident afterwards; the next layer's tables are not prefetched while the port streams.
//
// The base class owns what is not in the RTL (command decoding, slot residency, the DMA that fetches
// chunks and tables) so both engines make the same DRAM requests in the same order; an engine decides
// only how the lanes spend cycles on a stream (run_stream) and replays table loads (schedule_load).
//
// DecodeUnitTlm's timing is the RTL's pipeline (rtl/sop_decode_unit.sv), beat by beat, in closed form
// (cycles; docs/simulate.md derives it). P = decode_unit.pipeline_stages, the one-entry stages from a
// beat's issue to the output (the last one the output stage):
//   a table load        takes tables x entries cycles from the table's arrival, on its own port;
//   a streamed table g  loads at L_g = max(port free, data_ready(g), I(last beat of table g - W) + 1), E
//                       cycles; a beat reading it is offered (or takes its residuals) from L_g + E on;
//   chunk i is offered  at o_i = max(fire of chunk i-1's last beat + 1, data_ready_i, tables_ready),
//                       the first chunk of a stream from the stream's start; its first cycle refills the
//                       residual holding register (the chunk is a tensor: in_first_i);
//   beat b of a chunk   takes its r_b residuals one per cycle from t_b (t_0 = o_i + 1, t_b = I_{b-1} + 1),
//                       then fires at I_b = max(t_b + r_b, M_{b-1}(1)): stage 1 frees in the cycle its
//                       beat moves on;
//   beat b moves        out of stage s = 1..P-1 at M_b(s) = max(M_b(s-1) + 1, M_{b-1}(s+1)), M_b(0) = I_b,
//                       and is accepted at A_b = M_b(P) = the consumer's first ready cycle >= M_b(P-1) + 1
//                       (ConsumerBuffer);
//   a stream ends       one cycle after its last acceptance.
// Without backpressure every beat moves a stage a cycle (A_b = I_b + P), and a chunk takes 1 + beats +
// residuals cycles: that case is summed per chunk; under backpressure the engine walks the beats (with
// values, each beat's own residual count; counts-only, the chunk's residuals spread evenly over its beats).
// Stall causes: the refill and each residual count as `residual`; after the last issue, a cycle in which
// the output holds a beat not accepted as `consumer`, the others as `pipeline` (the RTL engine counts the
// same cycle by cycle).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/tlm/consumer.h"
#include "model/tlm/transactions.h"
#include "model/tlm/workload.h"
#include "model/hw/hw_config.h"

namespace sop::sysc {

// Cycles in which the lanes issued no beat, by cause.
struct StallCycles {
  uint64_t dram = 0;        // the next chunk's data had not arrived
  uint64_t lut_reload = 0;  // the layer's tables were being fetched or loaded
  uint64_t consumer = 0;    // the output stage was full (backpressure)
  uint64_t residual = 0;    // a sparse residual was being taken
  uint64_t pipeline = 0;    // the pipeline's drain after a stream's last beat
  uint64_t total() const { return dram + lut_reload + consumer + residual + pipeline; }
};

struct UnitCounters {
  uint64_t cycles = 0;          // end of the last stream
  uint64_t beats = 0;
  uint64_t weights = 0;
  uint64_t residuals = 0;
  uint64_t chunks = 0;
  uint64_t table_loads = 0;     // every load of a layer's tables into a slot
  uint64_t streamed_tables = 0; // row-group tables loaded during their layer's stream
  uint64_t table_fetches = 0;   // table reads from DRAM (fewer than loads when units share them)
  uint64_t misses = 0;          // streams whose tables were not resident
  uint64_t prefetches = 0;      // loads started ahead by the prefetch policy
  uint64_t hits = 0;
  StallCycles stalls;
  double wall_seconds = 0;      // host time spent in this unit's commands (its DRAM, consumer, scoreboard)
};

// One layer's table loads shared by every unit (lut.sharing: shared): the first unit to need the k-th
// load of a layer fetches it from DRAM; the others take its arrival and write their slots from it.
class SharedTables {
 public:
  template <class Fetch>
  uint64_t arrival(int64_t layer, int64_t nth, Fetch fetch) {
    const auto key = std::make_pair(layer, nth);
    const auto it = arrivals_.find(key);
    if (it != arrivals_.end()) return it->second;
    const uint64_t at = fetch();
    arrivals_.emplace(key, at);
    return at;
  }

 private:
  std::map<std::pair<int64_t, int64_t>, uint64_t> arrivals_;
};

struct UnitSetup {
  const hw::HwConfig* hw = nullptr;
  int unit_index = 0;                    // this unit, of hw->units
  SharedTables* shared_tables = nullptr; // set when the units share table loads
  UnitFormats unit;
  const std::vector<PreparedLayer>* layers = nullptr;
  bool values = true;        // prepare and decode values (off: counts-only)
  bool inject_fault = false; // flip one product bit of the first chunk (the scoreboard's negative test)
};

class DecodeUnit : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<DecodeUnit> host_socket;
  tlm_utils::simple_initiator_socket<DecodeUnit> dram_socket;
  tlm_utils::simple_initiator_socket<DecodeUnit> out_socket;
  sc_core::sc_port<ConsumerTimingIf> out_ready_port;  // the consumer's ready rule (out_ready_i)

  const UnitCounters& counters() const { return counters_; }
  virtual const char* engine_name() const = 0;
  // After the last command: lets an engine finish pending work (RTL: trailing loads, trace file).
  virtual void finish() {}

 protected:
  DecodeUnit(sc_core::sc_module_name name, const UnitSetup& setup);

  struct LoadJob {
    uint32_t slot = 0;
    const golden::LayerTables* tables = nullptr;  // in the unit's formats
    uint64_t start = 0;                           // cycle of the first entry write
    int64_t first_table = 0;                      // of tables: the first one loaded
    int64_t count = 0;                            // tables loaded, one entry per cycle
    uint32_t slot_table = 0;                      // where the first goes in the slot (the rest follow)
  };

  struct StreamJob {
    int64_t layer_index = 0;
    const PreparedLayer* layer = nullptr;
    uint32_t slot = 0;
    uint64_t command_cycle = 0;
    uint64_t tables_ready = 0;   // first cycle a beat may read the slot
    uint64_t unit_free = 0;      // first cycle the lanes are free of the previous stream
    int64_t first_chunk = 0;     // this unit's share of the layer's chunks: [first_chunk, end_chunk)
    int64_t end_chunk = 0;
    int64_t next_layer = -1;     // fetched ahead into freed buffer entries (policy.fetch_across_layers)
    std::vector<uint64_t> chunk_ready;  // per chunk: data arrival cycle (kNotFetched before the fetch)
    std::map<int64_t, std::unique_ptr<ChunkValues>> values;
  };
  static constexpr uint64_t kNotFetched = ~uint64_t{0};
  // Cycles a unit may run ahead of the kernel's time before a DRAM request waits for the others.
  static constexpr uint64_t kContentionQuantum = 1000;

  virtual void schedule_load(const LoadJob& job) { (void)job; }
  // Runs a stream; returns the cycle after its last beat was accepted.
  virtual uint64_t run_stream(StreamJob& job) = 0;

  // The first beat of chunk `chunk` is issuing at `cycle`: its buffer entry frees the fetch of chunk +
  // outstanding. Both engines call this at the same point of the pipeline.
  void chunk_started(StreamJob& job, int64_t chunk, uint64_t cycle);
  // Sends a finished chunk to the consumer; returns the cycle its last beat was accepted.
  uint64_t deliver(OutputChunk& out);
  // Counts-only or decoded products for the chunk, in beat space (TLM engine, and the fault injection).
  void corrupt_if_asked(const StreamJob& job, int64_t chunk, std::vector<golden::Product>& products) const;

  // The load port: the first cycle it is free, and a streamed table's load occupying it until `until`.
  uint64_t load_port_free() const { return load_port_free_; }
  void streamed_table_loaded(uint64_t until) {
    load_port_free_ = std::max(load_port_free_, until);
    ++counters_.streamed_tables;
  }

  const UnitSetup& setup() const { return setup_; }
  const Clock& clock() const { return clock_; }
  UnitCounters& counters_mut() { return counters_; }

 private:
  struct Slot {
    int64_t layer = -1;  // the table set held: table_set() of the layers that read it
    uint64_t ready = 0;
    uint64_t last_use = 0;
  };

  void b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  uint64_t dram_read(uint64_t issue_cycle, uint64_t bytes);
  // Chunks of one layer in the fetch buffer: when their data arrive, and their values.
  struct Fetched {
    std::vector<uint64_t> ready;  // per chunk of the layer, kNotFetched until fetched
    std::map<int64_t, std::unique_ptr<ChunkValues>> values;
  };
  void fetch_chunk(int64_t layer_index, int64_t chunk, uint64_t cycle, std::vector<uint64_t>& ready,
                   std::map<int64_t, std::unique_ptr<ChunkValues>>& values);
  int64_t table_set(int64_t layer) const;  // the layer whose tables `layer` reads (itself, or the one it shares)
  int find_slot(int64_t layer) const;
  uint32_t load_tables(int64_t layer, uint64_t cycle, int exclude_slot);

  UnitSetup setup_;
  Clock clock_;
  UnitCounters counters_;
  std::vector<Slot> slots_;
  std::map<int64_t, int64_t> loads_of_layer_;  // loads so far, per layer (the key of a shared load)
  // The next layer's chunks fetched ahead during the current stream (layer -1: none).
  int64_t ahead_layer_ = -1;
  int64_t ahead_next_ = 0;
  int64_t ahead_end_ = 0;
  Fetched ahead_;
  uint64_t load_port_free_ = 0;
  uint64_t unit_free_ = 0;
  uint64_t use_counter_ = 0;
};

class DecodeUnitTlm final : public DecodeUnit {
 public:
  DecodeUnitTlm(sc_core::sc_module_name name, const UnitSetup& setup) : DecodeUnit(name, setup) {}
  const char* engine_name() const override { return "tlm"; }

 private:
  uint64_t run_stream(StreamJob& job) override;
  std::vector<golden::Product> products_;
};

}  // namespace sop::sysc
