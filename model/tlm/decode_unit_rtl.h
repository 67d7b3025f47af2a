// The RTL engine: the same DecodeUnit sockets, with the lanes replaced by the verilated
// sop_decode_unit clocked cycle by cycle in C++ (the --cc model; far faster than an sc_clock-driven --sc
// model, FACTS.md). Bridges between the transaction and pin levels:
//   table loads   LoadJobs become load_valid_i writes, one entry per cycle from their start cycle;
//   beats         a chunk's beats are offered (in_valid_i) once its DRAM data has arrived and the
//                 slot's tables are loaded; residuals are presented on the res_* port, indexed from the
//                 chunk's first beat (in_first_i), with the all-ones sentinel when none are left;
//   output        out_ready_i follows the consumer's buffer rule (out_ready_port) cycle by cycle, and
//                 each chunk's products go to the consumer as one OutputChunk with its handshake cycle.
// Idle stretches (waiting for DRAM or tables, nothing in flight) are skipped without clocking: the
// RTL holds its state when no input is valid.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "model/tlm/consumer.h"
#include "model/tlm/decode_unit.h"
#include "model/tlm/rtl_core.h"

namespace sop::sysc {

// The verilated variant built for this hardware config; throws sop::Error listing the built ones.
const RtlVariant& find_rtl_variant(const hw::HwConfig& hw, bool traced);

class DecodeUnitRtl final : public DecodeUnit {
 public:
  // trace_path: empty for no waveform; else a VCD file of every cycle.
  DecodeUnitRtl(sc_core::sc_module_name name, const UnitSetup& setup, const std::string& trace_path);
  const char* engine_name() const override { return "rtl"; }
  void finish() override;
  uint64_t clocked_cycles() const { return clocked_; }  // cycles actually evaluated (idle ones skipped)

 private:
  void schedule_load(const LoadJob& job) override { loads_.push_back(job); }
  uint64_t run_stream(StreamJob& job) override;

  // Drives the load port for `cycle` (pops finished loads); true when a load entry was written.
  bool drive_load(uint64_t cycle);
  uint64_t next_load_start() const;
  // Settles the clock-low phase and checks the load handshake of this cycle.
  void settle(bool loading);
  void clock_cycle();
  void skip(uint64_t cycles);

  std::unique_ptr<RtlCore> core_;
  std::deque<LoadJob> loads_;
  uint64_t cycle_ = 0;     // the next cycle to simulate
  uint64_t clocked_ = 0;
  // Beats issued and not yet accepted: with PipeStages > 1 a beat may sit in a stage before the output
  // while out_valid_o is low, and such cycles must be clocked, not skipped.
  uint64_t in_flight_ = 0;
  uint32_t sentinel_ = 0;  // residual index "none left"
  std::vector<golden::Product> beat_products_;
  std::vector<uint8_t> beat_tables_;  // the offered beat's lanes' tables within the slot
};

}  // namespace sop::sysc
