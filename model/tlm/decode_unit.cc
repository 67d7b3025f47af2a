#include "model/tlm/decode_unit.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace sop::sysc {

DecodeUnit::DecodeUnit(sc_core::sc_module_name name, const UnitSetup& setup)
    : sc_core::sc_module(name),
      host_socket("host_socket"),
      dram_socket("dram_socket"),
      out_socket("out_socket"),
      setup_(setup),
      clock_(setup.hw->clock_mhz),
      slots_(static_cast<std::size_t>(setup.hw->decode_unit.lut.resident_layers)) {
  host_socket.register_b_transport(this, &DecodeUnit::b_transport);
}

uint64_t DecodeUnit::dram_read(uint64_t issue_cycle, uint64_t bytes) {
  ::tlm::tlm_generic_payload trans;
  trans.set_command(::tlm::TLM_READ_COMMAND);
  trans.set_address(0);
  trans.set_data_ptr(nullptr);  // timing only (dram.h)
  trans.set_data_length(static_cast<unsigned int>(bytes));
  trans.set_streaming_width(static_cast<unsigned int>(bytes));
  trans.set_response_status(::tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = clock_.at(issue_cycle) - sc_core::sc_time_stamp();
  dram_socket->b_transport(trans, delay);
  if (trans.is_response_error()) SC_REPORT_ERROR(kReportProtocol, "DRAM read failed");
  return clock_.cycle_of(sc_core::sc_time_stamp() + delay);
}

int DecodeUnit::find_slot(int64_t layer) const {
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].layer == layer) return static_cast<int>(s);
  }
  return -1;
}

uint32_t DecodeUnit::load_tables(int64_t layer, uint64_t cycle, int exclude_slot) {
  // Least recently used slot (empty slots first), never the one the current stream reads.
  std::size_t victim = slots_.size();
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (static_cast<int>(s) == exclude_slot) continue;
    if (victim == slots_.size() || slots_[s].last_use < slots_[victim].last_use) victim = s;
  }
  const PreparedLayer& pl = (*setup_.layers)[static_cast<std::size_t>(layer)];
  const uint64_t arrival = dram_read(cycle, pl.table_bytes());
  const uint64_t start = std::max(arrival, load_port_free_);
  const uint64_t ready = start + pl.unit_tables().entries.size();  // one entry per cycle
  load_port_free_ = ready;
  slots_[victim] = Slot{layer, ready, ++use_counter_};
  ++counters_.table_loads;
  schedule_load(LoadJob{static_cast<uint32_t>(victim), &pl.unit_tables(), start});
  return static_cast<uint32_t>(victim);
}

void DecodeUnit::fetch_chunk(StreamJob& job, int64_t chunk, uint64_t cycle) {
  const Chunk c = job.layer->chunk(chunk);
  job.chunk_ready[static_cast<std::size_t>(chunk)] = dram_read(cycle, c.bytes);
  if (setup_.values) {
    job.values[chunk] = std::make_unique<ChunkValues>(prepare_chunk(*job.layer, job.layer_index, chunk, setup_.unit.lanes));
  }
}

void DecodeUnit::chunk_started(StreamJob& job, int64_t chunk, uint64_t cycle) {
  const int64_t next = chunk + setup_.hw->decode_unit.fetch.outstanding;
  if (next < job.layer->chunk_count()) fetch_chunk(job, next, cycle);
}

uint64_t DecodeUnit::deliver(OutputChunk& out) {
  ::tlm::tlm_generic_payload trans;
  trans.set_command(::tlm::TLM_WRITE_COMMAND);
  trans.set_address(0);
  trans.set_data_ptr(nullptr);
  trans.set_data_length(0);
  trans.set_extension(&out);
  sc_core::sc_time delay = clock_.at(out.timing_resolved ? out.accepted : out.last_out) - sc_core::sc_time_stamp();
  out_socket->b_transport(trans, delay);
  trans.clear_extension(&out);
  if (trans.is_response_error()) SC_REPORT_ERROR(kReportProtocol, "the consumer refused an output chunk");
  ++counters_.chunks;
  counters_.beats += out.beats;
  counters_.weights += out.weights;
  return out.accepted;
}

void DecodeUnit::corrupt_if_asked(const StreamJob& job, int64_t chunk, std::vector<golden::Product>& products) const {
  if (setup_.inject_fault && job.layer_index == 0 && chunk == 0 && !products.empty()) products[0].mant ^= 1;
}

void DecodeUnit::b_transport(::tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  UnitCommand* cmd = nullptr;
  trans.get_extension(cmd);
  const auto n_layers = static_cast<int64_t>(setup_.layers->size());
  if (cmd == nullptr || cmd->layer < 0 || cmd->layer >= n_layers) {
    SC_REPORT_ERROR(kReportProtocol, "host command without a valid UnitCommand");
    trans.set_response_status(::tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  const uint64_t now = clock_.cycle_of(sc_core::sc_time_stamp() + delay);
  if (trans.get_address() == kLoadTablesAddress) {
    if (find_slot(cmd->layer) < 0) load_tables(cmd->layer, now, -1);
    trans.set_response_status(::tlm::TLM_OK_RESPONSE);
    return;  // the load runs on its own port: the host need not wait
  }
  if (trans.get_address() != kStreamAddress) {
    trans.set_response_status(::tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const PreparedLayer& layer = (*setup_.layers)[static_cast<std::size_t>(cmd->layer)];
  int slot = find_slot(cmd->layer);
  if (slot < 0) {
    ++counters_.misses;
    slot = static_cast<int>(load_tables(cmd->layer, now, -1));
  } else {
    ++counters_.hits;
  }
  slots_[static_cast<std::size_t>(slot)].last_use = ++use_counter_;

  StreamJob job;
  job.layer_index = cmd->layer;
  job.layer = &layer;
  job.slot = static_cast<uint32_t>(slot);
  job.command_cycle = now;
  job.tables_ready = slots_[static_cast<std::size_t>(slot)].ready;
  job.unit_free = std::max(unit_free_, now);
  job.chunk_ready.assign(static_cast<std::size_t>(layer.chunk_count()), kNotFetched);
  const int64_t first_fetches = std::min<int64_t>(layer.chunk_count(), setup_.hw->decode_unit.fetch.outstanding);
  for (int64_t c = 0; c < first_fetches; ++c) fetch_chunk(job, c, now);
  const int64_t next = cmd->next_layer;
  if (setup_.hw->policy.prefetch_next_layer && next >= 0 && next < n_layers && slots_.size() > 1 && find_slot(next) < 0) {
    load_tables(next, now, slot);
    ++counters_.prefetches;
  }

  const auto wall0 = std::chrono::steady_clock::now();
  const uint64_t end = run_stream(job);
  counters_.wall_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  unit_free_ = end;
  counters_.cycles = std::max(counters_.cycles, end);
  delay = clock_.at(end) - sc_core::sc_time_stamp();
  trans.set_response_status(::tlm::TLM_OK_RESPONSE);
}

// ---- the transaction-level engine ------------------------------------------------------------------

uint64_t DecodeUnitTlm::run_stream(StreamJob& job) {
  UnitCounters& k = counters_mut();
  const golden::DecodeConfig& cfg = setup().unit.decode;
  uint64_t free = job.unit_free;
  // Waiting for the tables first, then for the first chunk's data.
  const uint64_t tables_ok = std::max(free, job.tables_ready);
  k.stalls.lut_reload += tables_ok - free;
  free = tables_ok;
  for (int64_t i = 0; i < job.layer->chunk_count(); ++i) {
    const Chunk c = job.layer->chunk(i);
    const uint64_t start = std::max(free, job.chunk_ready[static_cast<std::size_t>(i)]);
    k.stalls.dram += start - free;
    chunk_started(job, i, start);
    const uint64_t issue_end = start + c.beats + c.residuals;  // the last beat's handshake, unstalled
    k.stalls.residual += c.residuals;
    k.residuals += c.residuals;

    OutputChunk out;
    out.layer = job.layer_index;
    out.chunk = i;
    out.beats = c.beats;
    out.weights = c.weights;
    out.first_out = start + 1;
    out.last_out = issue_end;
    const auto it = job.values.find(i);
    if (it != job.values.end()) {
      const ChunkValues& v = *it->second;
      products_ = golden::decode_stream(cfg, job.layer->unit_tables(), v.unit_blocks, v.beat_residuals);
      corrupt_if_asked(job, i, products_);
      out.values = &v;
      out.products = &products_;
    }
    const uint64_t accepted = deliver(out);
    k.stalls.consumer += accepted - issue_end;
    free = accepted;  // the next beat may issue in the cycle the output stage empties
    if (it != job.values.end()) job.values.erase(it);
  }
  k.stalls.pipeline += 1;  // the last beat's cycle in the output register
  return free + 1;
}

}  // namespace sop::sysc
