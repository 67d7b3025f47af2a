// The host: drives one token pass through the unit's host socket. It preloads the first layer's
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

class Host : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<Host> socket;

  Host(sc_core::sc_module_name name, int64_t layers);

  bool done() const { return done_; }
  sc_core::sc_time finished_at() const { return finished_at_; }

 private:
  void run();
  void command(uint64_t address, int64_t layer, int64_t next);

  int64_t layers_;
  tlm_utils::tlm_quantumkeeper keeper_;
  bool done_ = false;
  sc_core::sc_time finished_at_;
};

}  // namespace sop::sysc
