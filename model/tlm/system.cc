// The elaboration behind model/tlm/system.h: one testbench per run, all in one SystemC kernel.
#include "model/tlm/system.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include <systemc>

#include "model/tlm/consumer.h"
#include "model/tlm/decode_unit.h"
#include "model/tlm/decode_unit_rtl.h"
#include "model/tlm/dram.h"
#include "model/tlm/host.h"
#include "model/tlm/scoreboard.h"
#include "base/error.h"

namespace sop::sysc {
namespace {

// One testbench: per decode unit a host, the unit (either engine), a consumer and a scoreboard; one DRAM
// they all share.
struct Bench {
  SimulateOptions options;
  std::unique_ptr<LayerBarrier> barrier;
  std::unique_ptr<SharedTables> shared_tables;
  std::vector<std::unique_ptr<Host>> hosts;
  std::vector<std::unique_ptr<DecodeUnit>> units;
  std::unique_ptr<Dram> dram;
  std::vector<std::unique_ptr<Consumer>> consumers;
  std::vector<std::unique_ptr<Scoreboard>> scoreboards;
};

}  // namespace

const char* engine_name(Engine e) { return e == Engine::Tlm ? "tlm" : "rtl"; }

std::vector<SimulateResult> simulate(const hw::HwConfig& hw, const Workload& workload,
                                     const std::vector<SimulateOptions>& runs) {
  // SystemC prints a banner when its kernel is first touched; the CLI's output stays clean.
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  if (sc_core::sc_get_status() != sc_core::SC_ELABORATION) {
    throw std::logic_error("simulate(): SystemC elaborates once per process; pass every run in one call");
  }
  const UnitFormats unit = hw::unit_formats(hw);
  std::vector<PreparedLayer> layers;
  layers.reserve(workload.layers().size());
  for (const auto& l : workload.layers()) {
    layers.emplace_back(*l, unit, hw.decode_unit.fetch.request_bytes);
    // Units split a layer's rows: each would need its own first window of streamed tables.
    if (layers.back().streams_tables() && hw.units > 1) {
      throw Error(l->name(), "rows_per_table",
                  std::to_string(layers.back().table_count()) + " row-group tables are streamed through one unit's LUT; " +
                      hw.source + " has units: " + std::to_string(hw.units) + " (streamed tables need units: 1)");
    }
  }

  if (!(hw.clock_mhz > 0)) {
    throw Error(hw.source, "clock_mhz",
                hw.clock_auto ? "auto: the clock comes from a technology table's scaled timing (--tech), none was applied"
                              : "must be > 0");
  }
  const Clock clock(hw.clock_mhz);
  std::vector<Bench> benches;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const SimulateOptions& o = runs[i];
    if (o.check_values && !workload.has_values()) {
      throw Error(workload.description(), "", "this workload has no values: run counts-only");
    }
    if (!o.check_values && o.engine == Engine::Rtl) {
      throw Error(workload.description(), "", "the RTL engine always decodes values: counts-only is TLM only");
    }
    if (!o.trace_path.empty() && o.engine != Engine::Rtl) throw Error(o.trace_path, "", "a waveform needs the RTL engine");
    const std::string tag = std::string(engine_name(o.engine)) + std::to_string(i);
    Bench b;
    b.options = o;
    b.dram = std::make_unique<Dram>((tag + "_dram").c_str(), hw.dram);
    if (hw.units > 1) b.barrier = std::make_unique<LayerBarrier>(hw.units);
    if (hw.units > 1 && hw.decode_unit.lut.shared) b.shared_tables = std::make_unique<SharedTables>();
    for (int u = 0; u < hw.units; ++u) {
      const std::string name = tag + (hw.units > 1 ? "_u" + std::to_string(u) : std::string());
      UnitSetup setup;
      setup.hw = &hw;
      setup.unit_index = u;
      setup.shared_tables = b.shared_tables.get();
      setup.unit = unit;
      setup.layers = &layers;
      setup.values = o.check_values;
      setup.inject_fault = o.inject_fault && u == 0;
      auto host = std::make_unique<Host>((name + "_host").c_str(), static_cast<int64_t>(layers.size()), b.barrier.get());
      std::unique_ptr<DecodeUnit> du;
      if (o.engine == Engine::Tlm) {
        du = std::make_unique<DecodeUnitTlm>((name + "_unit").c_str(), setup);
      } else {
        const std::string trace = o.trace_path.empty() || u == 0 ? o.trace_path : o.trace_path + ".unit" + std::to_string(u);
        du = std::make_unique<DecodeUnitRtl>((name + "_unit").c_str(), setup, trace);
      }
      auto consumer = std::make_unique<Consumer>((name + "_consumer").c_str(), hw.consumer, unit.lanes, clock);
      ScoreboardConfig sc;
      sc.check_values = o.check_values;
      sc.lanes = unit.lanes;
      sc.unit = unit.decode;
      sc.unit_index = u;
      sc.units = hw.units;
      auto board = std::make_unique<Scoreboard>(layers, sc);
      Scoreboard* observer = board.get();
      consumer->set_observer([observer](const OutputChunk& out) { observer->observe(out); });
      host->socket.bind(du->host_socket);
      du->dram_socket.bind(b.dram->socket);
      du->out_socket.bind(consumer->socket);
      du->out_ready_port.bind(consumer->timing);
      b.hosts.push_back(std::move(host));
      b.units.push_back(std::move(du));
      b.consumers.push_back(std::move(consumer));
      b.scoreboards.push_back(std::move(board));
    }
    benches.push_back(std::move(b));
  }

  // The host threads sync at most once per layer: a large quantum costs no accuracy here, since every
  // engine computes its own cycle counts.
  tlm_utils::tlm_quantumkeeper::set_global_quantum(sc_core::sc_time(10, sc_core::SC_US));
  sc_core::sc_start();

  double bytes_per_token = 0;
  for (const auto& l : layers) bytes_per_token += static_cast<double>(l.stream_bytes() + l.table_bytes());
  const double weights = static_cast<double>(workload.weights());

  std::vector<SimulateResult> results;
  for (Bench& b : benches) {
    SimulateResult r;
    r.complete = true;
    for (std::size_t u = 0; u < b.units.size(); ++u) {
      DecodeUnit& du = *b.units[u];
      du.finish();
      b.scoreboards[u]->finish();
      const UnitCounters& k = du.counters();
      r.engine = du.engine_name();
      r.cycles = std::max(r.cycles, k.cycles);
      r.weights += k.weights;
      r.beats += k.beats;
      r.residuals += k.residuals;
      r.chunks += k.chunks;
      r.stall_dram += k.stalls.dram;
      r.stall_lut_reload += k.stalls.lut_reload;
      r.stall_consumer += k.stalls.consumer;
      r.stall_residual += k.stalls.residual;
      r.stall_pipeline += k.stalls.pipeline;
      r.table_loads += k.table_loads;
      r.table_fetches += k.table_fetches;
      r.streamed_tables += k.streamed_tables;
      r.lut_misses += k.misses;
      r.lut_prefetches += k.prefetches;
      r.wall_seconds = std::max(r.wall_seconds, k.wall_seconds);  // units wait for each other: the longest
      r.unit_cycles.push_back(k.cycles);
      if (const auto* rtl = dynamic_cast<const DecodeUnitRtl*>(&du)) r.rtl_clocked_cycles += rtl->clocked_cycles();
      r.checked += b.scoreboards[u]->checked();
      r.mismatches += b.scoreboards[u]->mismatches();
      r.order_errors += b.scoreboards[u]->order_errors();
      r.complete = r.complete && b.scoreboards[u]->complete();
    }
    r.workload = workload.description();
    r.layers = layers.size();
    r.units = hw.units;
    r.dram_bytes = b.dram->bytes();
    r.dram_requests = b.dram->requests();
    const sc_core::sc_time run_time = clock.at(r.cycles);
    r.dram_utilization = run_time > sc_core::SC_ZERO_TIME ? b.dram->busy() / run_time : 0;
    r.weights_per_cycle = r.cycles ? static_cast<double>(r.weights) / static_cast<double>(r.cycles) : 0;
    r.clock_mhz = hw.clock_mhz;
    r.tokens_per_s = r.cycles ? hw.clock_mhz * 1e6 / static_cast<double>(r.cycles) : 0;
    r.bytes_per_token = bytes_per_token;
    r.stored_bpw = weights > 0 ? 8 * bytes_per_token / weights : 0;
    r.dram_limit_tokens_per_s = hw.dram.bandwidth_gb_s > 0 ? hw.dram.bandwidth_gb_s * 1e9 / bytes_per_token : 0;
    r.lane_limit_tokens_per_s =
        weights > 0 ? hw.clock_mhz * 1e6 * hw.decode_unit.lanes * static_cast<double>(hw.units) / weights : 0;
    r.values_checked = b.options.check_values;
    results.push_back(r);
  }
  return results;
}

}  // namespace sop::sysc
