// The consumer standing in for the MAC array: an input buffer of `buffer_weights` drained at
// `weights_per_cycle` (hardware config `consumer`). When it drains slower than the unit decodes, the
// buffer fills and the unit stalls: backpressure.
//
// Two views of the same buffer:
//   ConsumerBuffer  the pin-level rule, cycle by cycle: ready while a whole beat fits; the RTL engine's
//                   bridge drives out_ready_i from it.
//   Consumer        the transaction-level target: an OutputChunk says when its beats could leave the
//                   unit; the answer is when the last one was accepted (a fluid model of the buffer).
#pragma once

#include <cstdint>
#include <functional>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

#include "model/tlm/transactions.h"
#include "model/hw/hw_config.h"

namespace sop::sysc {

class ConsumerBuffer {
 public:
  ConsumerBuffer(const hw::ConsumerConfig& config, int lanes)
      : rate_(config.weights_per_cycle), capacity_(config.buffer_weights), lanes_(lanes) {}
  bool ready() const { return rate_ <= 0 || fill_ + lanes_ <= capacity_; }
  void push() {
    if (rate_ > 0) fill_ += lanes_;
  }
  void advance(uint64_t cycles) {
    if (rate_ > 0) fill_ = std::max(0.0, fill_ - rate_ * static_cast<double>(cycles));
  }

 private:
  double rate_;
  double capacity_;
  double lanes_;
  double fill_ = 0;
};

class Consumer : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Consumer> socket;

  Consumer(sc_core::sc_module_name name, const hw::ConsumerConfig& config, int lanes, const Clock& clock);

  // Every received chunk is shown to the observer (the scoreboard), after timing.
  void set_observer(std::function<void(const OutputChunk&)> observer) { observer_ = std::move(observer); }

  uint64_t beats() const { return beats_; }
  uint64_t weights() const { return weights_; }

 private:
  void b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);

  hw::ConsumerConfig config_;
  int lanes_;
  Clock clock_;
  double drain_done_ = 0;  // cycle at which everything accepted so far has been drained
  uint64_t beats_ = 0;
  uint64_t weights_ = 0;
  std::function<void(const OutputChunk&)> observer_;
};

}  // namespace sop::sysc
