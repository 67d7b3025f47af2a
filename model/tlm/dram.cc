#include "model/tlm/dram.h"

#include <algorithm>

namespace sop::sysc {

Dram::Dram(sc_core::sc_module_name name, const hw::DramConfig& config)
    : sc_core::sc_module(name), socket("socket"), config_(config) {
  socket.register_b_transport(this, &Dram::b_transport);
}

void Dram::b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  if (trans.get_command() != ::tlm::TLM_READ_COMMAND) {
    trans.set_response_status(::tlm::TLM_COMMAND_ERROR_RESPONSE);
    return;
  }
  const auto burst = static_cast<uint64_t>(config_.burst_bytes);
  const uint64_t moved = (trans.get_data_length() + burst - 1) / burst * burst;
  bytes_ += moved;
  ++requests_;
  const sc_core::sc_time issue = sc_core::sc_time_stamp() + delay;
  // bandwidth in 10^9 bytes/s: one byte takes 1/bandwidth ns.
  const sc_core::sc_time transfer =
      config_.bandwidth_gb_s > 0 ? sc_core::sc_time(static_cast<double>(moved) / config_.bandwidth_gb_s, sc_core::SC_NS)
                                 : sc_core::SC_ZERO_TIME;
  const sc_core::sc_time start = std::max(issue, channel_free_);
  channel_free_ = start + transfer;
  busy_ += transfer;
  const sc_core::sc_time ready = start + sc_core::sc_time(config_.latency_ns, sc_core::SC_NS) + transfer;
  delay = ready - sc_core::sc_time_stamp();
  trans.set_response_status(::tlm::TLM_OK_RESPONSE);
}

}  // namespace sop::sysc
