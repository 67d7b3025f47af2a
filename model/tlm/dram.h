// The weight memory (hardware config `dram`): `channels` independent channels sharing the bandwidth
// evenly, each with a latency and a queue of `queue_depth` requests in flight. A read of N bytes moves
// ceil(N / burst) bursts, striped over the channels burst by burst from where the previous request
// ended (a sequential stream interleaved by address). On each channel it touches, in arrival order:
//   start = max(issue, channel free, ready time of the request queue_depth entries earlier);
//   channel free = start + its bursts / channel bandwidth;  its part ready = start + latency + that time;
// the request's data are ready when its last part is. Latency overlaps between requests in flight;
// bandwidth does not. Several decode units bind to the one target socket and contend here; their
// initiators keep within a quantum of each other (decode_unit.h), so arrival order follows time.
// Timing only: the payload's bytes are not copied (the engines read a chunk's values from the pack
// mapping, the same bytes).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "model/hw/hw_config.h"

namespace sop::sysc {

class Dram : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<Dram> socket;

  Dram(sc_core::sc_module_name name, const hw::DramConfig& config);

  uint64_t bytes() const { return bytes_; }
  uint64_t requests() const { return requests_; }
  // Time the channels spent transferring, summed over channels and divided by their number: the
  // memory system's busy time.
  sc_core::sc_time busy() const { return busy_ / static_cast<double>(channels_.size()); }

 private:
  struct Channel {
    sc_core::sc_time free = sc_core::SC_ZERO_TIME;
    std::deque<sc_core::sc_time> in_flight;  // ready times of the last queue_depth requests
  };

  void b_transport(int initiator, ::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);

  hw::DramConfig config_;
  std::vector<Channel> channels_;
  double channel_gb_s_ = 0;
  uint64_t next_channel_ = 0;    // where the stream's next burst lands
  sc_core::sc_time busy_ = sc_core::SC_ZERO_TIME;
  uint64_t bytes_ = 0;
  uint64_t requests_ = 0;
};

}  // namespace sop::sysc
