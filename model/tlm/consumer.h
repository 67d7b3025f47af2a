// The consumer standing in for the MAC array: an input buffer of `buffer_weights` drained at
// `weights_per_cycle` (hardware config `consumer`). When it drains slower than the unit decodes, the
// buffer fills and the unit stalls: backpressure.
//
// ConsumerBuffer is the one rule, exact to the cycle, that both engines see:
//   at cycle t the buffer is ready (out_ready_i high) while fill(t) + lanes <= buffer_weights;
//   a beat accepted at t adds lanes weights, and every clock edge drains weights_per_cycle (never below 0):
//   fill(t + 1) = max(0, fill(t) + lanes x [accepted at t] - weights_per_cycle).
// Fill is kept in integer units of 2^-20 weight (the rate is rounded to that grid), so a stretch of n
// idle cycles drains exactly what n single cycles would: the engines may skip idle cycles.
//
// The Consumer module offers the rule on an sc_export (ConsumerTimingIf): the RTL engine asks it
// cycle by cycle (ready, push), the transaction-level engine per beat (accept). Its TLM target receives
// each finished chunk, with the cycle its last beat was accepted, and shows it to the scoreboard.
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
  static constexpr int kFractionBits = 20;

  ConsumerBuffer(const hw::ConsumerConfig& config, int lanes);
  // False when the buffer can never refuse a beat (no rate limit, or a rate of a beat per cycle or more).
  bool throttles() const { return throttles_; }
  // out_ready_i at `cycle` (not before the last push).
  bool ready(uint64_t cycle) const { return !throttles_ || fill_at(cycle) + beat_ <= capacity_; }
  // A beat accepted at `cycle`; ready(cycle) held.
  void push(uint64_t cycle);
  // The first cycle >= earliest at which a beat is accepted; the beat enters then (push).
  uint64_t accept(uint64_t earliest);

 private:
  int64_t fill_at(uint64_t cycle) const;

  bool throttles_;
  int64_t rate_;      // drained per cycle, 2^-20 weights
  int64_t capacity_;  // buffer_weights
  int64_t beat_;      // lanes weights
  int64_t fill_ = 0;  // after the last push
  uint64_t at_ = 0;   // cycle of the last push
};

// What the unit's output stage asks of the consumer, cycle by cycle or beat by beat.
class ConsumerTimingIf : public virtual sc_core::sc_interface {
 public:
  virtual bool throttles() const = 0;
  virtual bool ready(uint64_t cycle) const = 0;
  virtual void push(uint64_t cycle) = 0;
  virtual uint64_t accept(uint64_t earliest) = 0;
};

class Consumer : public sc_core::sc_module, public ConsumerTimingIf {
 public:
  tlm_utils::simple_target_socket<Consumer> socket;  // finished chunks (values, for the scoreboard)
  sc_core::sc_export<ConsumerTimingIf> timing;        // the buffer's handshake rule

  Consumer(sc_core::sc_module_name name, const hw::ConsumerConfig& config, int lanes, const Clock& clock);

  // Every received chunk is shown to the observer (the scoreboard), after timing.
  void set_observer(std::function<void(const OutputChunk&)> observer) { observer_ = std::move(observer); }

  uint64_t beats() const { return beats_; }
  uint64_t weights() const { return weights_; }

  bool throttles() const override { return buffer_.throttles(); }
  bool ready(uint64_t cycle) const override { return buffer_.ready(cycle); }
  void push(uint64_t cycle) override { buffer_.push(cycle); }
  uint64_t accept(uint64_t earliest) override { return buffer_.accept(earliest); }

 private:
  void b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);

  ConsumerBuffer buffer_;
  Clock clock_;
  uint64_t beats_ = 0;
  uint64_t weights_ = 0;
  std::function<void(const OutputChunk&)> observer_;
};

}  // namespace sop::sysc
