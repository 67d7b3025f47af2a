#include "model/tlm/decode_unit.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <tuple>

namespace sop::sysc {

DecodeUnit::DecodeUnit(sc_core::sc_module_name name, const UnitSetup& setup)
    : sc_core::sc_module(name),
      host_socket("host_socket"),
      dram_socket("dram_socket"),
      out_socket("out_socket"),
      out_ready_port("out_ready_port"),
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
  // Units contend for the memory system in arrival order: keep within a quantum of the others, so that
  // arrival order follows time (with one unit, order is already time order and nothing waits).
  if (setup_.hw->units > 1 && clock_.at(issue_cycle) > sc_core::sc_time_stamp() + clock_.at(kContentionQuantum)) {
    sc_core::wait(clock_.at(issue_cycle) - sc_core::sc_time_stamp());
  }
  sc_core::sc_time delay = clock_.at(issue_cycle) - sc_core::sc_time_stamp();
  dram_socket->b_transport(trans, delay);
  if (trans.is_response_error()) SC_REPORT_ERROR(kReportProtocol, "DRAM read failed");
  return clock_.cycle_of(sc_core::sc_time_stamp() + delay);
}

int64_t DecodeUnit::table_set(int64_t layer) const {
  const int64_t from = (*setup_.layers)[static_cast<std::size_t>(layer)].source().tables_from();
  return from >= 0 ? from : layer;
}

int DecodeUnit::find_slot(int64_t layer) const {
  // A slot holds a table set: a layer's own tables, or the set it shares with earlier layers.
  const int64_t set = table_set(layer);
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].layer == set) return static_cast<int>(s);
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
  const int64_t nth = loads_of_layer_[layer]++;
  const auto fetch = [&] {
    ++counters_.table_fetches;
    return dram_read(cycle, pl.table_bytes());
  };
  const uint64_t arrival = setup_.shared_tables != nullptr ? setup_.shared_tables->arrival(layer, nth, fetch) : fetch();
  const uint64_t start = std::max(arrival, load_port_free_);
  // One entry per cycle; a streamed layer loads its first window, the rest during its stream.
  const int64_t count = pl.first_load_tables();
  const uint64_t ready = start + static_cast<uint64_t>(count) * pl.entries_per_table();
  load_port_free_ = ready;
  slots_[victim] = Slot{table_set(layer), ready, ++use_counter_};
  ++counters_.table_loads;
  schedule_load(LoadJob{static_cast<uint32_t>(victim), &pl.unit_tables(), start, 0, count, 0});
  return static_cast<uint32_t>(victim);
}

void DecodeUnit::fetch_chunk(int64_t layer_index, int64_t chunk, uint64_t cycle, std::vector<uint64_t>& ready,
                             std::map<int64_t, std::unique_ptr<ChunkValues>>& values) {
  const PreparedLayer& layer = (*setup_.layers)[static_cast<std::size_t>(layer_index)];
  const Chunk c = layer.chunk(chunk);
  ready[static_cast<std::size_t>(chunk)] = dram_read(cycle, c.bytes);
  if (setup_.values) {
    values[chunk] = std::make_unique<ChunkValues>(prepare_chunk(layer, layer_index, chunk, setup_.unit.lanes));
  }
}

void DecodeUnit::chunk_started(StreamJob& job, int64_t chunk, uint64_t cycle) {
  const int64_t next = chunk + setup_.hw->decode_unit.fetch.outstanding;
  if (next < job.end_chunk) {
    fetch_chunk(job.layer_index, next, cycle, job.chunk_ready, job.values);
    return;
  }
  // The freed entry takes the next layer's next chunk, in order, when fetching across layers.
  if (job.next_layer < 0) return;
  if (ahead_layer_ != job.next_layer) {
    const PreparedLayer& nl = (*setup_.layers)[static_cast<std::size_t>(job.next_layer)];
    ahead_layer_ = job.next_layer;
    ahead_.ready.assign(static_cast<std::size_t>(nl.chunk_count()), kNotFetched);
    ahead_.values.clear();
    std::tie(ahead_next_, ahead_end_) = unit_chunk_range(nl.chunk_count(), setup_.unit_index, setup_.hw->units);
  }
  if (ahead_next_ < ahead_end_) fetch_chunk(ahead_layer_, ahead_next_++, cycle, ahead_.ready, ahead_.values);
}

uint64_t DecodeUnit::deliver(OutputChunk& out) {
  ::tlm::tlm_generic_payload trans;
  trans.set_command(::tlm::TLM_WRITE_COMMAND);
  trans.set_address(0);
  trans.set_data_ptr(nullptr);
  trans.set_data_length(0);
  trans.set_extension(&out);
  sc_core::sc_time delay = clock_.at(out.accepted) - sc_core::sc_time_stamp();
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
  std::tie(job.first_chunk, job.end_chunk) = unit_chunk_range(layer.chunk_count(), setup_.unit_index, setup_.hw->units);
  if (ahead_layer_ == cmd->layer) {
    // Chunks fetched ahead during the previous stream are in the buffer already.
    job.chunk_ready = std::move(ahead_.ready);
    job.values = std::move(ahead_.values);
    ahead_ = Fetched{};
    ahead_layer_ = -1;
  } else {
    job.chunk_ready.assign(static_cast<std::size_t>(layer.chunk_count()), kNotFetched);
  }
  const int64_t first_fetches = std::min<int64_t>(job.end_chunk, job.first_chunk + setup_.hw->decode_unit.fetch.outstanding);
  for (int64_t c = job.first_chunk; c < first_fetches; ++c) {
    if (job.chunk_ready[static_cast<std::size_t>(c)] == kNotFetched) fetch_chunk(job.layer_index, c, now, job.chunk_ready, job.values);
  }
  const int64_t next = cmd->next_layer;
  if (setup_.hw->policy.fetch_across_layers && next >= 0 && next < n_layers) job.next_layer = next;
  // A layer streaming its tables keeps the load port busy: the next one loads on its own command.
  if (setup_.hw->policy.prefetch_next_layer && !layer.streams_tables() && next >= 0 && next < n_layers &&
      slots_.size() > 1 && find_slot(next) < 0) {
    load_tables(next, now, slot);
    ++counters_.prefetches;
  }

  const auto wall0 = std::chrono::steady_clock::now();
  // A unit with no share of this layer (fewer chunks than units) is free at once.
  const uint64_t end = job.first_chunk < job.end_chunk ? run_stream(job) : job.unit_free;
  counters_.wall_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  unit_free_ = end;
  // The slot holds the streamed layer's last tables now, not its first window.
  if (layer.streams_tables()) slots_[static_cast<std::size_t>(slot)] = Slot{};
  counters_.cycles = std::max(counters_.cycles, end);
  delay = clock_.at(end) - sc_core::sc_time_stamp();
  trans.set_response_status(::tlm::TLM_OK_RESPONSE);
}

// ---- the transaction-level engine ------------------------------------------------------------------

namespace {

// Residuals per beat of a chunk: from the values when there are any, else spread evenly (counts-only).
class BeatResiduals {
 public:
  BeatResiduals(const Chunk& c, const ChunkValues* v, int lanes) : c_(c), v_(v), lanes_(static_cast<uint64_t>(lanes)) {}
  uint64_t of(uint64_t beat) {
    if (v_ == nullptr) {
      // floor((beat + 1) R / B) - floor(beat R / B), kept incrementally (beats come in order).
      acc_ += c_.residuals;
      uint64_t n = 0;
      while (acc_ >= c_.beats) {
        acc_ -= c_.beats;
        ++n;
      }
      return n;
    }
    const auto& r = v_->beat_residuals;
    uint64_t n = 0;
    while (next_ < r.size() && r[next_].index / lanes_ <= beat) {
      ++next_;
      ++n;
    }
    return n;
  }

 private:
  Chunk c_;
  const ChunkValues* v_;
  uint64_t lanes_;
  std::size_t next_ = 0;
  uint64_t acc_ = 0;
};

}  // namespace

uint64_t DecodeUnitTlm::run_stream(StreamJob& job) {
  UnitCounters& k = counters_mut();
  const golden::DecodeConfig& cfg = setup().unit.decode;
  ConsumerTimingIf& consumer = *out_ready_port.operator->();
  const bool throttled = consumer.throttles();
  const auto P = static_cast<std::size_t>(setup().hw->decode_unit.pipeline_stages);
  // Waiting for the tables first, then for the first chunk's data.
  const uint64_t tables_ok = std::max(job.unit_free, job.tables_ready);
  k.stalls.lut_reload += tables_ok - job.unit_free;
  uint64_t offer_floor = tables_ok;  // the earliest cycle the next chunk can be offered
  // The last beat's M(0..P): its issue, the cycles it left stages 1..P-1, its acceptance (the stream
  // starts on an empty pipeline: the previous stream ended after its last acceptance).
  std::vector<uint64_t> prev(P + 1, 0), m(P + 1, 0);
  // The last P beats' (arrival at the output stage, acceptance): the beats still in flight when the
  // last one issues, for the drain's stall causes.
  std::vector<std::pair<uint64_t, uint64_t>> at_output;
  uint64_t last_fire = 0;
  // Streamed tables (decode_unit.h): per window position g mod W, the cycle table g is loaded by and the
  // last issue of a beat reading it; the first window came with the layer.
  const PreparedLayer& layer = *job.layer;
  const bool streaming = layer.streams_tables();
  const auto W = static_cast<std::size_t>(layer.tables_per_slot());
  std::vector<uint64_t> table_ready(W, job.tables_ready), table_last_issue(W, 0);
  int64_t next_table = layer.first_load_tables();
  uint64_t port_free = load_port_free();
  const auto loaded_by = [&](int64_t g) {
    for (; next_table <= g; ++next_table) {
      const auto at = static_cast<std::size_t>(next_table) % W;
      const uint64_t start = std::max({port_free, job.chunk_ready[static_cast<std::size_t>(layer.chunk_of_table(next_table))],
                                       table_last_issue[at] + 1});
      port_free = start + layer.entries_per_table();
      table_ready[at] = port_free;
      streamed_table_loaded(port_free);
    }
    return table_ready[static_cast<std::size_t>(g) % W];
  };
  for (int64_t i = job.first_chunk; i < job.end_chunk; ++i) {
    const Chunk c = job.layer->chunk(i);
    // The first beat's tables, then its data: the cycles before the tables are loaded are reloads.
    const uint64_t tables_at = streaming ? loaded_by(layer.beat_tables(c, 0).second) : 0;
    const uint64_t offer = std::max({offer_floor, job.chunk_ready[static_cast<std::size_t>(i)], tables_at});
    const uint64_t reload = tables_at > offer_floor ? tables_at - offer_floor : 0;
    k.stalls.lut_reload += reload;
    k.stalls.dram += offer - offer_floor - reload;
    chunk_started(job, i, offer);
    // One cycle per residual, and the chunk's first cycle refills the residual holding register.
    k.stalls.residual += c.residuals + 1;
    k.residuals += c.residuals;
    const auto it = job.values.find(i);
    const ChunkValues* v = it != job.values.end() ? it->second.get() : nullptr;

    uint64_t accepted = 0;
    if (!throttled && !streaming) {
      // Every beat moves a stage a cycle: 1 + beats + residuals cycles from the offer, back to back.
      last_fire = offer + c.beats + c.residuals;
      accepted = last_fire + P;
      prev[P] = accepted;
    } else {
      BeatResiduals residuals(c, v, setup().unit.lanes);
      uint64_t t = offer + 1;  // after the fill
      for (uint64_t b = 0; b < c.beats; ++b) {
        const auto [t_lo, t_hi] = layer.beat_tables(c, b);
        if (streaming && b > 0) {
          // Not offered (no residual taken) before its tables are loaded.
          const uint64_t at = loaded_by(t_hi);
          if (at > t) {
            k.stalls.lut_reload += at - t;
            t = at;
          }
        }
        const uint64_t merged = t + residuals.of(b);
        const uint64_t fire = std::max(merged, prev[1]);  // stage 1 frees as its beat moves on
        k.stalls.consumer += fire - merged;
        m[0] = fire;
        for (std::size_t s = 1; s < P; ++s) m[s] = std::max(m[s - 1] + 1, prev[s + 1]);
        m[P] = consumer.accept(m[P - 1] + 1);
        if (at_output.size() == P) at_output.erase(at_output.begin());
        at_output.emplace_back(m[P - 1] + 1, m[P]);
        prev.swap(m);
        t = fire + 1;
        last_fire = fire;
        for (int64_t g = t_lo; streaming && g <= t_hi; ++g) table_last_issue[static_cast<std::size_t>(g) % W] = fire;
      }
      accepted = prev[P];
    }
    offer_floor = last_fire + 1;

    OutputChunk out;
    out.layer = job.layer_index;
    out.chunk = i;
    out.beats = c.beats;
    out.weights = c.weights;
    out.accepted = accepted;
    if (v != nullptr) {
      products_ = golden::decode_stream(cfg, job.layer->unit_tables(), v->unit_blocks, v->beat_residuals);
      corrupt_if_asked(job, i, products_);
      out.values = v;
      out.products = &products_;
    }
    deliver(out);
    if (v != nullptr) job.values.erase(it);
  }
  // After the last beat issues, its cycles through the stages and the output: a cycle in which the output
  // holds a beat not accepted counts as backpressure, the others as the pipeline's drain.
  const uint64_t drain = prev[P] - last_fire;
  uint64_t held = 0;
  for (const auto& [arrive, accept] : at_output) {
    const uint64_t from = std::max(arrive, last_fire + 1);
    if (accept > from) held += accept - from;
  }
  k.stalls.consumer += held;
  k.stalls.pipeline += drain - held;
  return prev[P] + 1;
}

}  // namespace sop::sysc
