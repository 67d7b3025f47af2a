#include "model/tlm/decode_unit_rtl.h"

#include <algorithm>

#include "base/error.h"

namespace sop::sysc {

const RtlVariant& find_rtl_variant(const hw::HwConfig& hw, bool traced) {
  // The prebuilt variants first (no start-up cost), by the verilator -G arguments each was built with;
  // any other parameter set from the RTL cache, verilated on first use (model/tlm/rtl_cache.h).
  const std::vector<std::string> args = rtl_verilator_parameters(hw);
  for (const RtlVariant& v : rtl_variants()) {
    if (v.traced == traced && same_rtl_parameters(v.parameters, args)) return v;
  }
  return cached_rtl_variant(hw, traced);
}

DecodeUnitRtl::DecodeUnitRtl(sc_core::sc_module_name name, const UnitSetup& setup, const std::string& trace_path)
    : DecodeUnit(name, setup) {
  const RtlVariant& v = find_rtl_variant(*setup.hw, !trace_path.empty());
  core_ = v.make(golden::exp_offset(setup.unit.decode));
  if (!trace_path.empty() && !core_->open_trace(trace_path)) {
    throw Error(trace_path, "", "cannot open the waveform file");
  }
  core_->reset();
  const int bits = setup.unit.index_bits;
  sentinel_ = bits >= 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
  core_->set_residual(true, sentinel_, 0);
  core_->set_out_ready(true);
}

uint64_t DecodeUnitRtl::next_load_start() const { return loads_.empty() ? kNotFetched : loads_.front().start; }

bool DecodeUnitRtl::drive_load(uint64_t cycle) {
  if (loads_.empty() || loads_.front().start > cycle) {
    core_->set_load(false, 0, 0, 0, 0);
    return false;
  }
  const LoadJob& j = loads_.front();
  const auto E = static_cast<uint64_t>(setup().unit.decode.entries_per_table());
  const uint64_t at = cycle - j.start;
  const uint64_t t = at / E, index = at % E;
  core_->set_load(true, j.slot, j.slot_table + static_cast<uint32_t>(t), static_cast<uint32_t>(index),
                  j.tables->entries[static_cast<std::size_t>((static_cast<uint64_t>(j.first_table) + t) * E + index)]);
  if (at + 1 == static_cast<uint64_t>(j.count) * E) loads_.pop_front();
  return true;
}

void DecodeUnitRtl::settle(bool loading) {
  core_->eval_low();
  // The unit documents its load port as always ready: a write it refused would be lost silently.
  if (loading && !core_->load_ready()) SC_REPORT_ERROR(kReportProtocol, "the RTL refused a table load (load_ready_o low)");
}

void DecodeUnitRtl::clock_cycle() {
  core_->rise();
  ++cycle_;
  ++clocked_;
}

void DecodeUnitRtl::skip(uint64_t cycles) {
  cycle_ += cycles;
  core_->idle(cycles);
}

uint64_t DecodeUnitRtl::run_stream(StreamJob& job) {
  UnitCounters& k = counters_mut();
  const int lanes = setup().unit.lanes;
  const auto L = static_cast<std::size_t>(lanes);
  const PreparedLayer& layer = *job.layer;
  const int64_t chunks = job.end_chunk;
  // The RTL may be behind the command (never ahead): catch up, writing any scheduled loads.
  while (cycle_ < job.unit_free) {
    const bool loading = drive_load(cycle_);
    if (!loading && in_flight_ == 0) {
      skip(std::min(job.unit_free, next_load_start()) - cycle_);
      continue;
    }
    core_->set_beat(false, nullptr, nullptr, nullptr, 0, false);
    settle(loading);
    clock_cycle();
  }

  int64_t in_chunk = job.first_chunk, out_chunk = job.first_chunk;
  uint64_t in_beat = 0, out_beat = 0;
  std::size_t res = 0;
  bool started = false;
  Chunk in_c = layer.chunk(in_chunk), out_c = in_c;
  std::vector<golden::Product> out_products(out_c.beats * L);
  beat_products_.resize(L);
  beat_tables_.resize(L);
  // Streamed tables (decode_unit.h): per window position g mod W, the cycle table g is usable from.
  const bool streaming = layer.streams_tables();
  const int64_t W = layer.tables_per_slot();
  const uint64_t E = layer.entries_per_table();
  std::vector<uint64_t> table_ready(static_cast<std::size_t>(W), job.tables_ready);
  int64_t next_table = layer.first_load_tables();

  while (out_chunk < chunks) {
    const bool have_chunk = in_chunk < chunks;
    if (streaming && next_table < layer.table_count() && loads_.empty()) {
      // The next table loads once the port is free, its bytes are in and every beat of table g - W has
      // issued (before this cycle): the lowest table of the next beat to issue is above it.
      const int64_t pending = have_chunk ? layer.beat_tables(in_c, in_beat).first : layer.table_count();
      const uint64_t data = job.chunk_ready[static_cast<std::size_t>(layer.chunk_of_table(next_table))];
      if (next_table - W < pending && data <= cycle_) {
        loads_.push_back(LoadJob{job.slot, &layer.unit_tables(), cycle_, next_table, 1, static_cast<uint32_t>(next_table % W)});
        table_ready[static_cast<std::size_t>(next_table % W)] = cycle_ + E;
        streamed_table_loaded(cycle_ + E);
        ++next_table;
      }
    }
    bool tables_in = job.tables_ready <= cycle_;
    if (streaming && have_chunk) {
      const int64_t need = layer.beat_tables(in_c, in_beat).second;
      tables_in = tables_in && need < next_table && table_ready[static_cast<std::size_t>(need % W)] <= cycle_;
    }
    const uint64_t ready = have_chunk ? job.chunk_ready[static_cast<std::size_t>(in_chunk)] : kNotFetched;
    const bool offerable = have_chunk && ready <= cycle_ && tables_in;
    const bool loading = drive_load(cycle_);
    // Streaming, the next load depends on the unit's issues: clock every cycle.
    if (!streaming && !offerable && !loading && in_flight_ == 0) {
      // Nothing moves until data, tables or a load arrive: skip the idle cycles at once.
      const uint64_t until = std::min({std::max(ready, job.tables_ready), next_load_start()});
      if (until > cycle_ && until != kNotFetched) {
        const uint64_t n = until - cycle_;
        (job.tables_ready > cycle_ ? k.stalls.lut_reload : k.stalls.dram) += n;
        skip(n);
        continue;
      }
    }
    if (offerable && in_beat == 0 && !started) {
      chunk_started(job, in_chunk, cycle_);
      started = true;
    }
    const ChunkValues* in_v = nullptr;
    if (offerable) {
      in_v = job.values.at(in_chunk).get();
      const std::size_t b = static_cast<std::size_t>(in_beat);
      // The layer's table g sits in slot table g mod W (g itself unless streamed: g < T <= W).
      for (std::size_t l = 0; l < L; ++l) beat_tables_[l] = static_cast<uint8_t>(in_v->lane_table[b * L + l] % static_cast<uint32_t>(W));
      core_->set_beat(true, in_v->beat_codes.data() + b * L, beat_tables_.data(), in_v->lane_scale.data() + b * L, job.slot,
                      in_beat == 0);
    } else {
      core_->set_beat(false, nullptr, nullptr, nullptr, 0, false);
    }
    if (in_v != nullptr && res < in_v->beat_residuals.size()) {
      core_->set_residual(true, in_v->beat_residuals[res].index, in_v->beat_residuals[res].entry);
    } else {
      core_->set_residual(true, sentinel_, 0);
    }
    const bool ready_out = out_ready_port->ready(cycle_);
    core_->set_out_ready(ready_out);
    settle(loading);

    const bool fire = core_->in_ready();
    const bool took_residual = core_->res_ready();
    if (core_->out_valid() && ready_out) {
      --in_flight_;
      core_->read_out(beat_products_.data());
      std::copy(beat_products_.begin(), beat_products_.end(),
                out_products.begin() + static_cast<std::ptrdiff_t>(out_beat * L));
      out_ready_port->push(cycle_);
      if (++out_beat == out_c.beats) {
        OutputChunk out;
        out.layer = job.layer_index;
        out.chunk = out_chunk;
        out.beats = out_c.beats;
        out.weights = out_c.weights;
        out.accepted = cycle_;
        const auto it = job.values.find(out_chunk);
        corrupt_if_asked(job, out_chunk, out_products);
        out.values = it->second.get();
        out.products = &out_products;
        deliver(out);
        job.values.erase(it);
        if (++out_chunk < chunks) {
          out_c = layer.chunk(out_chunk);
          out_products.assign(out_c.beats * L, golden::Product{});
        }
        out_beat = 0;
      }
    }
    // The sentinel is taken into the unit's holding register too, but stays on the port.
    if (took_residual && in_v != nullptr && res < in_v->beat_residuals.size()) {
      ++res;
      ++k.residuals;
    }
    if (fire) {
      ++in_flight_;
      if (++in_beat == in_c.beats) {
        if (res != in_v->beat_residuals.size()) SC_REPORT_ERROR(kReportProtocol, "residuals left behind by a chunk");
        in_beat = 0;
        res = 0;
        started = false;
        if (++in_chunk < chunks) in_c = layer.chunk(in_chunk);
      }
    } else if (offerable) {
      (took_residual ? k.stalls.residual : k.stalls.consumer) += 1;
    } else if (have_chunk) {
      (!tables_in ? k.stalls.lut_reload : k.stalls.dram) += 1;
    } else {
      // Everything issued: the remaining cycles drain the pipeline; one with the output valid and not
      // accepted is backpressure.
      (core_->out_valid() && !ready_out ? k.stalls.consumer : k.stalls.pipeline) += 1;
    }
    clock_cycle();
  }
  return cycle_;
}

void DecodeUnitRtl::finish() {
  // Loads scheduled past the last stream (a prefetch with nothing after it) still reach the LUT.
  while (!loads_.empty()) {
    if (!drive_load(cycle_)) {
      skip(next_load_start() - cycle_);
      continue;
    }
    core_->set_beat(false, nullptr, nullptr, nullptr, 0, false);
    settle(true);
    clock_cycle();
  }
  core_->final();
}

}  // namespace sop::sysc
