#include "model/tlm/consumer.h"

#include <algorithm>
#include <cmath>

namespace sop::sysc {

ConsumerBuffer::ConsumerBuffer(const hw::ConsumerConfig& config, int lanes)
    : rate_(config.weights_per_cycle > 0
                ? std::max<int64_t>(1, std::llround(std::ldexp(config.weights_per_cycle, kFractionBits)))
                : 0),
      capacity_(static_cast<int64_t>(config.buffer_weights) << kFractionBits),
      beat_(static_cast<int64_t>(lanes) << kFractionBits) {
  // A rate of a beat per cycle empties the beat before the next edge: the buffer never refuses one.
  throttles_ = rate_ > 0 && rate_ < beat_;
}

int64_t ConsumerBuffer::fill_at(uint64_t cycle) const {
  if (cycle <= at_) return fill_;
  const uint64_t elapsed = cycle - at_;
  // Only a throttling buffer gets here, so rate_ < one beat (at most 2^12 lanes x 2^20): elapsed x rate
  // cannot overflow for gaps below 2^12 cycles; longer ones are checked by division first.
  if (elapsed >= (uint64_t{1} << 12) && elapsed >= static_cast<uint64_t>(fill_ / rate_) + 1) return 0;
  return std::max<int64_t>(0, fill_ - static_cast<int64_t>(elapsed) * rate_);
}

void ConsumerBuffer::push(uint64_t cycle) {
  if (!throttles_) return;
  fill_ = fill_at(cycle) + beat_;
  at_ = cycle;
}

uint64_t ConsumerBuffer::accept(uint64_t earliest) {
  if (!throttles_) return earliest;
  uint64_t cycle = std::max(earliest, at_);
  if (!ready(cycle)) {
    // fill_ - k x rate <= capacity - beat: k = ceil((fill_ - (capacity - beat)) / rate) cycles after at_.
    const int64_t excess = fill_ - (capacity_ - beat_);
    cycle = at_ + static_cast<uint64_t>((excess + rate_ - 1) / rate_);
  }
  push(cycle);
  return cycle;
}

Consumer::Consumer(sc_core::sc_module_name name, const hw::ConsumerConfig& config, int lanes, const Clock& clock)
    : sc_core::sc_module(name), socket("socket"), timing("timing"), buffer_(config, lanes), clock_(clock) {
  socket.register_b_transport(this, &Consumer::b_transport);
  timing.bind(*this);
}

void Consumer::b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  OutputChunk* out = nullptr;
  trans.get_extension(out);
  if (out == nullptr) {
    trans.set_response_status(::tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  beats_ += out->beats;
  weights_ += out->weights;
  delay = clock_.at(out->accepted) - sc_core::sc_time_stamp();
  if (observer_) observer_(*out);
  trans.set_response_status(::tlm::TLM_OK_RESPONSE);
}

}  // namespace sop::sysc
