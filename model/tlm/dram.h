// The weight memory: one channel with a bandwidth, a latency and a burst size (hardware config `dram`).
// A read of N bytes moves ceil(N / burst) bursts. Requests share the channel in arrival order:
//   start = max(issue, channel free);  channel free = start + bytes / bandwidth;
//   data ready = start + latency + bytes / bandwidth.
// Latency overlaps between requests in flight; bandwidth does not. Timing only: the payload's bytes
// are not copied (the engines read a chunk's values from the pack mapping, the same bytes).
#pragma once

#include <cstdint>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

#include "model/hw/hw_config.h"

namespace sop::sysc {

class Dram : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Dram> socket;

  Dram(sc_core::sc_module_name name, const hw::DramConfig& config);

  uint64_t bytes() const { return bytes_; }
  uint64_t requests() const { return requests_; }
  sc_core::sc_time busy() const { return busy_; }  // time the channel spent transferring

 private:
  void b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);

  hw::DramConfig config_;
  sc_core::sc_time channel_free_ = sc_core::SC_ZERO_TIME;
  sc_core::sc_time busy_ = sc_core::SC_ZERO_TIME;
  uint64_t bytes_ = 0;
  uint64_t requests_ = 0;
};

}  // namespace sop::sysc
