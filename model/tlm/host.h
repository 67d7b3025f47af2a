// The host: drives one token pass through a unit's host socket (one host per unit). It preloads the first layer's
// tables, then streams every layer in order, naming the next one so the unit can prefetch its tables.
// Loosely timed: each command's returned delay becomes the host's local time, synchronized with the
// SystemC kernel by a quantum keeper only when the quantum is used up.
#pragma once

#include <cstdint>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

namespace sop::sysc {

// Batch-1 decode runs the layers in order: with several units, none starts layer l + 1 before every unit
// has finished layer l. Each unit's host arrives with its time synchronized; the last to arrive (the
// latest in time) releases them all.
class LayerBarrier {
 public:
  explicit LayerBarrier(int parties) : parties_(parties) {}
  void arrive_and_wait();

 private:
  int parties_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  sc_core::sc_event released_;
};

class Host : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<Host> socket;

  // barrier: shared by the hosts of every unit (null: one unit).
  Host(sc_core::sc_module_name name, int64_t layers, LayerBarrier* barrier = nullptr);

  bool done() const { return done_; }
  sc_core::sc_time finished_at() const { return finished_at_; }

 private:
  void run();
  void command(uint64_t address, int64_t layer, int64_t next);

  int64_t layers_;
  LayerBarrier* barrier_;
  tlm_utils::tlm_quantumkeeper keeper_;
  bool done_ = false;
  sc_core::sc_time finished_at_;
};

}  // namespace sop::sysc
