#include "model/tlm/consumer.h"

#include <algorithm>
#include <cmath>

namespace sop::sysc {

Consumer::Consumer(sc_core::sc_module_name name, const hw::ConsumerConfig& config, int lanes, const Clock& clock)
    : sc_core::sc_module(name), socket("socket"), config_(config), lanes_(lanes), clock_(clock) {
  socket.register_b_transport(this, &Consumer::b_transport);
}

void Consumer::b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  OutputChunk* out = nullptr;
  trans.get_extension(out);
  if (out == nullptr) {
    trans.set_response_status(::tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  if (!out->timing_resolved) {
    out->accepted = out->last_out;
    const double rate = config_.weights_per_cycle;
    if (rate > 0) {
      // Beats drain one after another, each taking lanes / rate cycles, starting when they arrive.
      const double per_beat = static_cast<double>(lanes_) / rate;
      const double start = std::max(drain_done_, static_cast<double>(out->first_out));
      drain_done_ = std::max(start + static_cast<double>(out->beats) * per_beat,
                             static_cast<double>(out->last_out) + per_beat);
      // The last beat enters once the buffer has room, buffer / rate cycles before the drain ends.
      const double enter = std::ceil(drain_done_ - static_cast<double>(config_.buffer_weights) / rate - 1e-9);
      out->accepted = std::max<uint64_t>(out->last_out, enter > 0 ? static_cast<uint64_t>(enter) : 0);
    }
  }
  beats_ += out->beats;
  weights_ += out->weights;
  delay = clock_.at(out->accepted) - sc_core::sc_time_stamp();
  if (observer_) observer_(*out);
  trans.set_response_status(::tlm::TLM_OK_RESPONSE);
}

}  // namespace sop::sysc
