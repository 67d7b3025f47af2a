#include "model/tlm/host.h"

#include "model/tlm/transactions.h"

namespace sop::sysc {

void LayerBarrier::arrive_and_wait() {
  if (++arrived_ == parties_) {
    arrived_ = 0;
    ++generation_;
    released_.notify(sc_core::SC_ZERO_TIME);
    return;
  }
  const uint64_t mine = generation_;
  while (generation_ == mine) sc_core::wait(released_);
}

Host::Host(sc_core::sc_module_name name, int64_t layers, LayerBarrier* barrier)
    : sc_core::sc_module(name), socket("socket"), layers_(layers), barrier_(barrier) {
  SC_HAS_PROCESS(Host);
  SC_THREAD(run);
  keeper_.reset();
}

void Host::command(uint64_t address, int64_t layer, int64_t next) {
  UnitCommand cmd;
  cmd.layer = layer;
  cmd.next_layer = next;
  ::tlm::tlm_generic_payload trans;
  trans.set_command(::tlm::TLM_WRITE_COMMAND);
  trans.set_address(address);
  trans.set_data_ptr(nullptr);
  trans.set_data_length(0);
  trans.set_extension(&cmd);
  sc_core::sc_time delay = keeper_.get_local_time();
  socket->b_transport(trans, delay);
  trans.clear_extension(&cmd);
  if (trans.is_response_error()) SC_REPORT_ERROR(kReportProtocol, "the unit refused a host command");
  keeper_.set(delay);
  if (keeper_.need_sync()) keeper_.sync();
}

void Host::run() {
  command(kLoadTablesAddress, 0, -1);
  for (int64_t l = 0; l < layers_; ++l) {
    command(kStreamAddress, l, l + 1 < layers_ ? l + 1 : -1);
    if (barrier_ != nullptr) {
      keeper_.sync();
      barrier_->arrive_and_wait();
    }
  }
  finished_at_ = sc_core::sc_time_stamp() + keeper_.get_local_time();
  keeper_.sync();
  done_ = true;
}

}  // namespace sop::sysc
