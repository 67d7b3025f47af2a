// The elaboration behind model/tlm/system.h: one testbench per run, all in one SystemC kernel.
#include "model/tlm/system.h"

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

// One testbench: the same host, DRAM, consumer and scoreboard around either engine.
struct Bench {
  SimulateOptions options;
  std::unique_ptr<Host> host;
  std::unique_ptr<DecodeUnit> unit;
  std::unique_ptr<Dram> dram;
  std::unique_ptr<Consumer> consumer;
  std::unique_ptr<Scoreboard> scoreboard;
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
  for (const auto& l : workload.layers()) layers.emplace_back(*l, unit, hw.decode_unit.fetch.request_bytes);

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
    UnitSetup setup;
    setup.hw = &hw;
    setup.unit = unit;
    setup.layers = &layers;
    setup.values = o.check_values;
    setup.inject_fault = o.inject_fault;
    b.host = std::make_unique<Host>((tag + "_host").c_str(), static_cast<int64_t>(layers.size()));
    if (o.engine == Engine::Tlm) {
      b.unit = std::make_unique<DecodeUnitTlm>((tag + "_unit").c_str(), setup);
    } else {
      b.unit = std::make_unique<DecodeUnitRtl>((tag + "_unit").c_str(), setup, o.trace_path);
    }
    b.dram = std::make_unique<Dram>((tag + "_dram").c_str(), hw.dram);
    b.consumer = std::make_unique<Consumer>((tag + "_consumer").c_str(), hw.consumer, unit.lanes, clock);
    ScoreboardConfig sc;
    sc.check_values = o.check_values;
    sc.lanes = unit.lanes;
    sc.unit = unit.decode;
    b.scoreboard = std::make_unique<Scoreboard>(layers, sc);
    Scoreboard* board = b.scoreboard.get();
    b.consumer->set_observer([board](const OutputChunk& out) { board->observe(out); });
    b.host->socket.bind(b.unit->host_socket);
    b.unit->dram_socket.bind(b.dram->socket);
    b.unit->out_socket.bind(b.consumer->socket);
    b.unit->out_ready_port.bind(b.consumer->timing);
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
    b.unit->finish();
    b.scoreboard->finish();
    const UnitCounters& k = b.unit->counters();
    SimulateResult r;
    r.engine = b.unit->engine_name();
    r.workload = workload.description();
    r.layers = layers.size();
    r.cycles = k.cycles;
    r.weights = k.weights;
    r.beats = k.beats;
    r.residuals = k.residuals;
    r.chunks = k.chunks;
    r.stall_dram = k.stalls.dram;
    r.stall_lut_reload = k.stalls.lut_reload;
    r.stall_consumer = k.stalls.consumer;
    r.stall_residual = k.stalls.residual;
    r.stall_pipeline = k.stalls.pipeline;
    r.table_loads = k.table_loads;
    r.lut_misses = k.misses;
    r.lut_prefetches = k.prefetches;
    r.dram_bytes = b.dram->bytes();
    r.dram_requests = b.dram->requests();
    const sc_core::sc_time run_time = clock.at(k.cycles);
    r.dram_utilization = run_time > sc_core::SC_ZERO_TIME ? b.dram->busy() / run_time : 0;
    r.weights_per_cycle = k.cycles ? static_cast<double>(k.weights) / static_cast<double>(k.cycles) : 0;
    r.clock_mhz = hw.clock_mhz;
    r.tokens_per_s = k.cycles ? hw.clock_mhz * 1e6 / static_cast<double>(k.cycles) : 0;
    r.bytes_per_token = bytes_per_token;
    r.stored_bpw = weights > 0 ? 8 * bytes_per_token / weights : 0;
    r.dram_limit_tokens_per_s = hw.dram.bandwidth_gb_s > 0 ? hw.dram.bandwidth_gb_s * 1e9 / bytes_per_token : 0;
    r.lane_limit_tokens_per_s = weights > 0 ? hw.clock_mhz * 1e6 * hw.decode_unit.lanes / weights : 0;
    r.values_checked = b.options.check_values;
    r.checked = b.scoreboard->checked();
    r.mismatches = b.scoreboard->mismatches();
    r.order_errors = b.scoreboard->order_errors();
    r.complete = b.scoreboard->complete();
    r.wall_seconds = k.wall_seconds;
    if (const auto* rtl = dynamic_cast<const DecodeUnitRtl*>(b.unit.get())) r.rtl_clocked_cycles = rtl->clocked_cycles();
    results.push_back(r);
  }
  return results;
}

}  // namespace sop::sysc
