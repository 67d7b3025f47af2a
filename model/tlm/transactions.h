// What travels on the system model's sockets, as TLM-2.0 generic payloads with these extensions:
//   host -> unit      UnitCommand   (LUT table load, or stream a layer)       host_socket
//   unit -> DRAM      plain read of N bytes (timing only, see dram.h)          dram_socket
//   unit -> consumer  OutputChunk   (the decoded beats of one fetch request)   out_socket
//   unit -> consumer  ConsumerTimingIf (the buffer's ready rule, per beat)     out_ready_port (consumer.h)
// Times are in unit clock cycles from the start of the run; the b_transport delay carries the same time
// in SystemC units, as the loosely-timed style wants.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>

#include "model/golden/decode.h"
#include "model/tlm/workload.h"

namespace sop::sysc {

// Report IDs: fixed strings, so tests can require them.
inline constexpr const char* kReportMismatch = "sop/scoreboard/mismatch";
inline constexpr const char* kReportOrder = "sop/scoreboard/order";
inline constexpr const char* kReportIncomplete = "sop/scoreboard/incomplete";
inline constexpr const char* kReportProtocol = "sop/unit/protocol";

// Addresses on the unit's host socket.
inline constexpr uint64_t kLoadTablesAddress = 0x0;
inline constexpr uint64_t kStreamAddress = 0x100;

struct UnitCommand : ::tlm::tlm_extension<UnitCommand> {
  int64_t layer = 0;
  int64_t next_layer = -1;  // the layer the host will stream next (prefetch hint), -1: none

  ::tlm::tlm_extension_base* clone() const override { return new UnitCommand(*this); }
  void copy_from(const ::tlm::tlm_extension_base& other) override {
    *this = static_cast<const UnitCommand&>(other);
  }
};

struct OutputChunk : ::tlm::tlm_extension<OutputChunk> {
  int64_t layer = 0;
  int64_t chunk = 0;
  uint64_t beats = 0;
  uint64_t weights = 0;       // real weights (padded lanes excluded)
  // The cycle the consumer accepted the chunk's last beat: both engines resolve every beat's handshake
  // with the consumer's buffer rule (ConsumerTimingIf) before they send the chunk.
  uint64_t accepted = 0;
  const ChunkValues* values = nullptr;                   // null in counts-only runs
  const std::vector<golden::Product>* products = nullptr;  // beat space, beats x lanes

  ::tlm::tlm_extension_base* clone() const override { return new OutputChunk(*this); }
  void copy_from(const ::tlm::tlm_extension_base& other) override {
    *this = static_cast<const OutputChunk&>(other);
  }
};

// The unit clock: cycles <-> SystemC time.
class Clock {
 public:
  explicit Clock(double mhz) : period_(1e6 / mhz, sc_core::SC_PS), mhz_(mhz) {}
  sc_core::sc_time at(uint64_t cycle) const { return period_ * static_cast<double>(cycle); }
  // The first cycle boundary at or after t.
  uint64_t cycle_of(const sc_core::sc_time& t) const {
    const double c = t / period_;
    const auto whole = static_cast<uint64_t>(c);
    return (c - static_cast<double>(whole)) > 1e-9 ? whole + 1 : whole;
  }
  double mhz() const { return mhz_; }

 private:
  sc_core::sc_time period_;
  double mhz_;
};

}  // namespace sop::sysc
