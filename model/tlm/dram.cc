#include "model/tlm/dram.h"

#include <algorithm>

namespace sop::sysc {

Dram::Dram(sc_core::sc_module_name name, const hw::DramConfig& config)
    : sc_core::sc_module(name),
      socket("socket"),
      config_(config),
      channels_(static_cast<std::size_t>(std::max(1, config.channels))) {
  socket.register_b_transport(this, &Dram::b_transport);
  // bandwidth in 10^9 bytes/s: one byte takes 1/bandwidth ns.
  channel_gb_s_ = config_.bandwidth_gb_s / static_cast<double>(channels_.size());
}

void Dram::b_transport(int initiator, ::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  (void)initiator;  // every unit is served by the same channels, in arrival order
  if (trans.get_command() != ::tlm::TLM_READ_COMMAND) {
    trans.set_response_status(::tlm::TLM_COMMAND_ERROR_RESPONSE);
    return;
  }
  const auto burst = static_cast<uint64_t>(config_.burst_bytes);
  const uint64_t bursts = (trans.get_data_length() + burst - 1) / burst;
  bytes_ += bursts * burst;
  ++requests_;
  const sc_core::sc_time issue = sc_core::sc_time_stamp() + delay;
  const sc_core::sc_time latency(config_.latency_ns, sc_core::SC_NS);
  const uint64_t n = channels_.size();
  const auto depth = static_cast<std::size_t>(config_.queue_depth);
  sc_core::sc_time ready = issue;
  // Bursts k = 0..bursts-1 land on channel (next_channel_ + k) mod n: channel c gets every n-th one.
  for (uint64_t i = 0; i < std::min(n, bursts); ++i) {
    Channel& ch = channels_[(next_channel_ + i) % n];
    const uint64_t mine = bursts / n + (i < bursts % n ? 1 : 0);
    sc_core::sc_time start = std::max(issue, ch.free);
    if (ch.in_flight.size() >= depth) start = std::max(start, ch.in_flight.front());
    const sc_core::sc_time transfer =
        config_.bandwidth_gb_s > 0 ? sc_core::sc_time(static_cast<double>(mine * burst) / channel_gb_s_, sc_core::SC_NS)
                                   : sc_core::SC_ZERO_TIME;
    ch.free = start + transfer;
    busy_ += transfer;
    const sc_core::sc_time part_ready = start + latency + transfer;
    ch.in_flight.push_back(part_ready);
    while (ch.in_flight.size() > depth) ch.in_flight.pop_front();
    ready = std::max(ready, part_ready);
  }
  next_channel_ = (next_channel_ + bursts) % n;
  delay = ready - sc_core::sc_time_stamp();
  trans.set_response_status(::tlm::TLM_OK_RESPONSE);
}

}  // namespace sop::sysc
