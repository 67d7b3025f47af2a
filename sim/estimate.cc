#include "sim/estimate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "sim/clock.h"
#include "model/tlm/workload.h"

#include "base/error.h"
#include "model/golden/formats.h"
#include "quantizer/pack/pack_file.h"

namespace sop::sim {
namespace {

// Bits the LUT SRAM moves to the active flop LUT per cycle when it fills a pair.
constexpr int kSramReadWidthBits = 64;

double ceil_div(double a, double b) { return std::ceil(a / b); }

// A layer's tables against a LUT slot of design.tables_per_layer = W (docs/simulate.md "Streamed
// tables"): selector tables beyond W are refused, as the system model refuses them; row-group tables
// beyond W stream through the slot. Counts them into c and returns the stall cycles after the first
// window's load, by the system model's rule with the memory keeping up: group g's table loads (E
// cycles) from L_g = max(L_{g-1} + E, S_{g-W} + D_{g-W}) (the port free, and the last beat of the
// table it replaces issued), and group g decodes from S_g = max(S_{g-1} + D_{g-1}, L_g + E) for D_g
// cycles (its beats, residuals and chunk refills). With W = 2 the stall before group g is
// max(0, E - D_{g-1}). Exact when rows fill whole beats and residuals are known per row.
double stream_tables(const WorkloadLayer& l, const Design& d, ActionCounts& c) {
  const int64_t W = d.tables_per_layer;
  if (l.tables <= W) return 0;
  if (l.rows_per_table <= 0) {
    throw Error(l.name, "select_bits",
                std::to_string(l.tables) + " selector tables per layer exceed a LUT slot's " + std::to_string(W) +
                    " (tables_per_layer; " + std::to_string(d.lut_sram_bytes) +
                    " LUT SRAM bytes): selector tables are read in any order, so they are not streamed");
  }
  const auto G = static_cast<int64_t>(l.tables);
  const int64_t R = l.rows_per_table;
  const double E = d.entries_per_table;
  const auto row_bits = static_cast<uint64_t>(l.cols * l.code_bits +
                                              (l.cols + l.block_size - 1) / l.block_size * l.scale_bits_per_block);
  const int64_t rows_per_chunk = sysc::rows_per_request(d.fetch_request_bytes, row_bits);
  const double residuals_per_row = static_cast<double>(l.sparse_entries) / static_cast<double>(l.rows);
  const auto chunk_starts_below = [&](int64_t row) { return (row + rows_per_chunk - 1) / rows_per_chunk; };
  std::vector<double> end(static_cast<std::size_t>(G));  // S_g + D_g
  double port = static_cast<double>(W) * E;              // the first window, loaded from cycle 0
  double stall = 0;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t r0 = g * R, r1 = std::min(l.rows, r0 + R);
    const double decode = static_cast<double>((r1 - r0) * l.cols) / d.lanes + residuals_per_row * static_cast<double>(r1 - r0) +
                          static_cast<double>(chunk_starts_below(r1) - chunk_starts_below(r0));
    const double ready = g < W ? static_cast<double>(W) * E : (port = std::max(port, end[static_cast<std::size_t>(g - W)]) + E);
    const double previous = g == 0 ? ready : end[static_cast<std::size_t>(g - 1)];
    const double start = std::max(previous, ready);
    stall += start - previous;
    end[static_cast<std::size_t>(g)] = start + decode;
  }
  const double bits = static_cast<double>(G - W) * E * l.pack_entry_bits;
  c.table_stream_stall_cycles += static_cast<double>(W) * E + stall;
  c.streamed_tables += static_cast<double>(G - W);
  c.streamed_table_bits += bits;
  c.dram_table_bits += bits;  // with the chunks' requests, no burst of their own
  return stall;
}

}  // namespace

int64_t Workload::weights() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.weights();
  return n;
}

Workload workload_from_pack(const std::string& pack_path, const std::string& name, int repeat) {
  if (repeat < 1) throw Error(pack_path, "repeat", "must be >= 1");
  const PackFile pack = PackFile::open(pack_path);
  Workload w;
  w.source = pack_path;
  w.name = name.empty() ? pack.info().source : name;
  std::vector<WorkloadLayer> one;
  for (const PackedLayerView& v : pack.layers()) {
    WorkloadLayer l;
    l.name = v.name;
    l.rows = v.rows;
    l.cols = v.cols;
    l.block_size = v.block_size;
    l.code_bits = v.decode.code_bits;
    l.scale_bits_per_block = v.scale_layout.bits_per_block();
    l.sparse_entries = static_cast<int64_t>(v.sparse.size());
    l.sparse_index_bits = v.sparse_index_bits;
    l.pack_entry_bits = v.decode.entry_bits();
    l.tables = static_cast<int>(v.codebooks.size());
    l.rows_per_table = v.rows_per_table;
    l.tables_from = v.tables_from;
    w.pack_entry_format = v.decode.entry_format == golden::EntryFormat::Hif ? "hif" : "fp16";
    one.push_back(l);
  }
  if (one.empty()) throw Error(pack_path, "", "the pack holds no quantized layers: nothing to decode");
  for (int r = 0; r < repeat; ++r) {
    for (WorkloadLayer l : one) {
      if (repeat > 1) l.name = "r" + std::to_string(r) + "." + l.name;
      if (l.tables_from >= 0) l.tables_from += static_cast<int64_t>(r * one.size());
      w.layers.push_back(l);
    }
  }
  return w;
}

const EntryFormatInfo& entry_format_info(LutEntryFormat f) {
  // HIF: 8-bit two's complement mantissa and 3-bit exponent (golden::kHif). FP16 and BF16 (rows of the
  // number-format table) multiply their significand with the hidden bit restored.
  auto ieee = [](const char* name, const NumberFormat& f) {
    return EntryFormatInfo{name, f.bits(), f.man_bits + 1, f.exp_bits};
  };
  static const EntryFormatInfo kHifInfo{"hif", golden::kHif.bits(), golden::kHif.man_bits, golden::kHif.exp_bits};
  static const EntryFormatInfo kFp16Info = ieee("fp16", formats::kFP16);
  static const EntryFormatInfo kBf16Info = ieee("bf16", formats::kBF16);
  switch (f) {
    case LutEntryFormat::Hif: return kHifInfo;
    case LutEntryFormat::Fp16: return kFp16Info;
    case LutEntryFormat::Bf16: return kBf16Info;
  }
  return kHifInfo;
}

LutEntryFormat parse_entry_format(const std::string& name) {
  std::string s;
  for (char c : name) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "hif") return LutEntryFormat::Hif;
  if (s == "fp16") return LutEntryFormat::Fp16;
  if (s == "bf16") return LutEntryFormat::Bf16;
  throw std::invalid_argument("unknown LUT entry format '" + name + "' (hif, fp16 or bf16)");
}

int64_t Design::pair_bits() const {
  return static_cast<int64_t>(tables_per_layer) * entries_per_table * entry_format_info(entry_format).bits;
}

int64_t Design::bytes_for_pairs(int pairs) const { return (pairs * pair_bits() + 7) / 8; }

int64_t Design::resident_pairs() const {
  const int64_t pairs = lut_sram_bytes * 8 / pair_bits();
  if (pairs < 1) {
    throw Error(name, "lut_sram_bytes",
                std::to_string(lut_sram_bytes) + " bytes cannot hold one layer's table pair (" +
                    std::to_string(pair_bits() / 8) + " bytes of " + entry_format_info(entry_format).name + " entries)");
  }
  return pairs;
}

Design design_from_hw(const hw::HwConfig& hw, int64_t lut_sram_bytes) {
  Design d;
  d.name = hw.name.empty() ? hw.source : hw.name;
  d.clock_mhz = hw.clock_mhz;
  const auto& u = hw.decode_unit;
  d.lanes = u.lanes;
  d.entries_per_table = u.lut.entries_per_table;
  d.entry_format = u.lut.entry_format == golden::EntryFormat::Hif ? LutEntryFormat::Hif : LutEntryFormat::Fp16;
  d.scale_significand_bits = u.scale.man_bits + 1;
  d.scale_exponent_bits = u.scale.exp_bits;
  d.index_bits = u.index_bits;
  d.pipeline_stages = hw.pipeline_stages();
  if (hw.dram.bandwidth_gb_s > 0) d.dram_gb_s = hw.dram.bandwidth_gb_s;
  if (hw.dram.latency_ns > 0) d.dram_latency_ns = hw.dram.latency_ns;
  d.dram_burst_bytes = hw.dram.burst_bytes;
  d.dram_pj_per_bit = hw.dram.energy_pj_per_bit;
  d.dram_energy_source = hw.dram.energy_source;
  d.prefetch_next_layer = hw.policy.prefetch_next_layer;
  d.tables_per_layer = u.lut.tables_per_layer;
  d.fetch_request_bytes = u.fetch.request_bytes;
  d.lut_sram_bytes = lut_sram_bytes > 0 ? lut_sram_bytes : d.bytes_for_pairs(u.lut.resident_layers);
  return d;
}

hw::HwConfig hw_for_design(const hw::HwConfig& base, const Design& d) {
  hw::HwConfig hw = base;
  hw.name = d.name;
  if (d.entry_format == LutEntryFormat::Bf16) {
    throw Error(d.name, "entry_format",
                "bf16 LUT entries are an estimator-only what-if: the SystemC model and the RTL have hif and fp16 "
                "entries (decode_unit.lut.entry_format); --counts analytic estimates bf16");
  }
  if (d.lanes < 1 || d.lanes > hw::kMaxLanes) {
    throw Error(d.name, "lanes",
                std::to_string(d.lanes) + " lanes: the SystemC model's unit has 1 to " + std::to_string(hw::kMaxLanes) +
                    " (decode_unit.lanes); --counts analytic estimates wider units");
  }
  if (d.lanes > base.consumer.buffer_weights) {
    throw Error(d.name, "lanes",
                std::to_string(d.lanes) + " lanes: one beat does not fit the consumer's buffer (consumer.buffer_weights = " +
                    std::to_string(base.consumer.buffer_weights) + " in " + base.source + ")");
  }
  if (d.entries_per_table != 16 && d.entries_per_table != 64) {
    throw Error(d.name, "entries_per_table", std::to_string(d.entries_per_table) + ": the unit has 16 or 64");
  }
  const auto& scale = base.decode_unit.scale;
  if (d.scale_significand_bits != scale.man_bits + 1 || d.scale_exponent_bits != scale.exp_bits ||
      d.index_bits != base.decode_unit.index_bits) {
    throw Error(d.name, "scale_significand_bits",
                "the scale and index widths are the base config's (" + base.source + "): they are not a design axis");
  }
  const int64_t pairs = d.resident_pairs();
  if (pairs > hw::kMaxResidentLayers) {
    throw Error(d.name, "lut_sram_bytes",
                std::to_string(d.lut_sram_bytes) + " bytes hold " + std::to_string(pairs) + " table pairs, more than the " +
                    std::to_string(hw::kMaxResidentLayers) + " LUT slots of the SystemC model (decode_unit.lut.resident_layers)");
  }
  hw.clock_mhz = d.clock_mhz;
  auto& u = hw.decode_unit;
  u.lanes = d.lanes;
  u.lut.entries_per_table = d.entries_per_table;
  u.lut.tables_per_layer = d.tables_per_layer;
  u.fetch.request_bytes = d.fetch_request_bytes;
  u.lut.entry_format = d.entry_format == LutEntryFormat::Hif ? golden::EntryFormat::Hif : golden::EntryFormat::Fp16;
  u.lut.resident_layers = static_cast<int>(pairs);
  hw.dram.bandwidth_gb_s = d.dram_gb_s;
  hw.dram.latency_ns = d.dram_latency_ns;
  hw.dram.burst_bytes = d.dram_burst_bytes;
  hw.policy.prefetch_next_layer = d.prefetch_next_layer;
  return hw;
}

ActionCounts count_actions(const Workload& workload, const Design& design) {
  if (design.lanes < 1) throw Error(design.name, "lanes", "must be >= 1");
  if (design.clock_mhz <= 0 || design.dram_gb_s <= 0) throw Error(design.name, "", "clock and DRAM bandwidth must be > 0");
  const EntryFormatInfo& fmt = entry_format_info(design.entry_format);
  const int design_code_bits = design.entries_per_table == 64 ? 6 : 4;
  const double pair_bits = static_cast<double>(design.pair_bits());
  const double f_hz = design.clock_mhz * 1e6;
  const double bytes_per_s = design.dram_gb_s * 1e9;

  ActionCounts c;
  double streamed_stalls = 0;
  // Table sets: a layer's own tables, or the set it shares with an earlier layer (stored once).
  const std::size_t layer_count = workload.layers.size();
  std::vector<std::size_t> set_of(layer_count);
  std::size_t set_count = 0;
  for (std::size_t i = 0; i < layer_count; ++i) {
    const int64_t from = workload.layers[i].tables_from;
    if (from >= static_cast<int64_t>(i) || (from >= 0 && workload.layers[static_cast<std::size_t>(from)].tables_from >= 0)) {
      throw Error(workload.source, workload.layers[i].name, "tables_from: " + std::to_string(from) + " is not an earlier layer with its own tables");
    }
    if (from < 0) {
      set_of[i] = set_count++;
    } else {
      set_of[i] = set_of[static_cast<std::size_t>(from)];
    }
  }
  c.table_pairs = static_cast<int>(set_count);
  c.resident_slots = static_cast<int>(std::min<int64_t>(design.resident_pairs(), std::numeric_limits<int>::max()));

  // Pass 1: each layer's streaming time (the lanes and the DRAM stream run concurrently).
  const std::size_t n = workload.layers.size();
  std::vector<double> layer_seconds(n);
  for (std::size_t i = 0; i < n; ++i) {
    const WorkloadLayer& l = workload.layers[i];
    if (l.code_bits > design_code_bits) {
      throw Error(workload.source, l.name,
                  std::to_string(l.code_bits) + "-bit codes need " + std::to_string(1 << l.code_bits) +
                      "-entry tables; the design has " + std::to_string(design.entries_per_table));
    }
    const double w = static_cast<double>(l.weights());
    const double bits = w * l.code_bits + static_cast<double>(l.blocks()) * l.scale_bits_per_block +
                        static_cast<double>(l.sparse_entries) * (l.sparse_index_bits + fmt.bits);
    const double decode_cycles = ceil_div(w, design.lanes);
    const double compute_s = decode_cycles / f_hz;
    const double memory_s = bits / 8 / bytes_per_s;
    layer_seconds[i] = std::max(compute_s, memory_s);
    c.decoded_weights += w;
    c.blocks += static_cast<double>(l.blocks());
    c.sparse_entries += static_cast<double>(l.sparse_entries);
    c.decode_cycles += decode_cycles;
    c.bandwidth_stall_cycles += std::max(0.0, memory_s - compute_s) * f_hz;
    c.dram_weight_bits += bits;
    streamed_stalls += stream_tables(l, design, c);
  }
  c.layers = static_cast<double>(n);

  // Pass 2: which pairs stay resident. With every pair resident nothing is reloaded per token (they
  // are loaded once with the model). Otherwise one slot is kept for streaming and the others pin the
  // layers whose reload would stall the most: a reload is prefetched while the previous layer streams,
  // so it stalls only when it takes longer than that layer.
  const double burst_bits = 8.0 * design.dram_burst_bytes;
  const double reload_bits = ceil_div(pair_bits, burst_bits) * burst_bits;
  const double reload_s = design.dram_latency_ns * 1e-9 + reload_bits / 8 / bytes_per_s;
  const double fill_s = ceil_div(pair_bits, kSramReadWidthBits) / f_hz;
  std::vector<double> reload_stall(n), fill_stall(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double previous = design.prefetch_next_layer ? layer_seconds[(i + n - 1) % n] : 0.0;
    reload_stall[i] = std::max(0.0, reload_s - previous);
    fill_stall[i] = std::max(0.0, fill_s - previous);
  }
  // A layer that reads the set the layer before it read finds it in the slot it just used: no load.
  // (The first layer follows the last one of the previous token.)
  std::vector<bool> follows_its_set(n, false);
  for (std::size_t i = 0; i < n; ++i) follows_its_set[i] = n > 1 && set_of[i] == set_of[(i + n - 1) % n];
  // Which sets stay resident: all when the slots hold them all; otherwise one slot is kept for
  // streaming and the others pin the sets whose reloads would stall the most (summed over their layers).
  std::vector<bool> resident(set_count, true);
  if (static_cast<std::size_t>(c.resident_slots) < set_count) {
    std::vector<double> set_stall(set_count, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      if (!follows_its_set[i]) set_stall[set_of[i]] += reload_stall[i];
    }
    std::vector<std::size_t> order(set_count);
    for (std::size_t k = 0; k < set_count; ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return set_stall[a] > set_stall[b]; });
    std::fill(resident.begin(), resident.end(), false);
    for (int k = 0; k < c.resident_slots - 1; ++k) resident[order[static_cast<std::size_t>(k)]] = true;
  }
  double stall_s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (follows_its_set[i]) {
      c.lut_sram_read_bits += pair_bits;
    } else if (resident[set_of[i]]) {
      c.lut_sram_read_bits += pair_bits;
      stall_s += fill_stall[i];
    } else {
      c.lut_reloads += 1;
      c.dram_table_bits += reload_bits;
      c.lut_sram_write_bits += pair_bits;
      stall_s += reload_stall[i];
    }
  }
  // Streamed tables' stalls after the first window (pass 2 priced the layer's first load).
  c.reload_stall_cycles = stall_s * f_hz + streamed_stalls;
  c.lut_fills = c.layers;
  c.lut_reads = c.decoded_weights;
  c.multiplies = c.decoded_weights;
  // Per weight: its code in, its product out (significand product + exponent); per block: the scale.
  const int product_bits = fmt.significand_bits + design.scale_significand_bits +
                           std::max(fmt.exponent_bits, design.scale_exponent_bits) + 1;
  double register_bits = 0;
  for (const WorkloadLayer& l : workload.layers) {
    register_bits += static_cast<double>(l.weights()) * (l.code_bits + product_bits) +
                     static_cast<double>(l.blocks()) * l.scale_bits_per_block;
  }
  c.register_bits = register_bits;
  c.cycles = c.decode_cycles + c.bandwidth_stall_cycles + c.reload_stall_cycles;
  c.seconds = c.cycles / f_hz;
  return c;
}

Estimate estimate(const ActionCounts& c, const Design& d, const TechTable& t) {
  const EntryFormatInfo& fmt = entry_format_info(d.entry_format);
  Estimate e;
  e.counts = c;
  const double storage_bits = static_cast<double>(d.lut_sram_bytes) * 8;
  e.lut_bits = static_cast<int64_t>(c.resident_slots) * d.pair_bits();
  const double crossover = t.storage_area_um2.points.size() >= 2 ? t.storage_area_um2.points[1].x : 0;
  e.storage_kind = storage_bits <= crossover ? "flops" : "sram";

  // Area first: leakage needs it.
  const LogicAreaRow logic = t.logic_area(d.lanes, d.entries_per_table, fmt.name);
  // The measured flop LUT holds two slots of a pair; it grows linearly in stored bits (docs/rtl.md "Area
  // vs LUT size"), so T tables per slot cost T / 2 of it.
  e.area_um2 = {{"lut_sram", t.storage_area_um2.at(storage_bits)},
                {"active_lut_and_read_muxes", logic.lut_um2 * d.tables_per_layer / 2.0},
                {"lanes", logic.lanes_um2},
                {"control_and_residual_merge", logic.control_um2}};
  double area_um2 = 0;
  for (const auto& [k, v] : e.area_um2) area_um2 += v;
  e.area_mm2 = area_um2 * 1e-6;
  e.relative_die_cost = t.relative_die_cost(e.area_mm2);

  const double active_lut_bits = 2.0 * static_cast<double>(d.pair_bits());  // active and prefetched pair
  const double sram_read_pj = t.storage_read_pj_per_bit.at(storage_bits);
  const double sram_write_pj = sram_read_pj * t.storage_write_per_read.value;
  const double flop_read_pj = t.storage_read_pj_per_bit.at(active_lut_bits);
  const double reg_pj = t.register_pj_per_bit.value;
  const double mult_pj = t.multiply_pj.at(static_cast<double>(fmt.significand_bits) * d.scale_significand_bits);
  const double exp_add_pj = t.add_pj.at(std::max(fmt.exponent_bits, d.scale_exponent_bits) + 1);
  const double index_compare_pj = t.add_pj.at(d.index_bits);
  const double leakage_pj = t.leakage_mw_per_mm2.value * e.area_mm2 * c.seconds * 1e9;  // mW x s = mJ

  const double dram_pj = d.dram_pj_per_bit > 0 ? d.dram_pj_per_bit : t.dram_pj_per_bit.value;
  e.dram_pj_per_bit = dram_pj;
  e.dram_energy_source = d.dram_pj_per_bit > 0 ? "hardware config dram: " + d.dram_energy_source
                                               : "technology table dram_per_bit: " + t.dram_pj_per_bit.source;
  e.energy_pj = {
      {"dram.weights", c.dram_weight_bits * dram_pj},
      {"dram.tables", c.dram_table_bits * dram_pj},
      {"lut_sram.read", c.lut_sram_read_bits * sram_read_pj},
      {"lut_sram.write", c.lut_sram_write_bits * sram_write_pj},
      {"active_lut.fill", c.lut_fills * static_cast<double>(d.pair_bits()) * reg_pj},
      {"active_lut.stream_fill", c.streamed_table_bits * reg_pj},
      {"active_lut.read", c.lut_reads * fmt.bits * flop_read_pj},
      {"lanes.multiply", c.multiplies * mult_pj},
      {"lanes.exponent_add", c.multiplies * exp_add_pj},
      {"registers", c.register_bits * reg_pj},
      {"residual_merge", c.sparse_entries * (index_compare_pj + (d.index_bits + fmt.bits) * reg_pj)},
      {"leakage", leakage_pj},
  };
  double dram = 0;
  for (const auto& [k, v] : e.energy_pj) {
    e.energy_per_token_pj += v;
    if (k.rfind("dram.", 0) == 0) dram += v;
  }
  const double w = std::max(1.0, c.decoded_weights);
  e.pj_per_weight = e.energy_per_token_pj / w;
  e.pj_per_weight_on_chip = (e.energy_per_token_pj - dram) / w;
  e.tokens_per_s = c.seconds > 0 ? 1.0 / c.seconds : 0;
  e.weights_per_s = c.decoded_weights * e.tokens_per_s;
  e.power_mw = e.energy_per_token_pj * 1e-9 * e.tokens_per_s;
  const ClockCheck clock = check_clock(d, t);
  e.clock_limit_mhz = clock.known ? clock.limit.fmax_mhz : 0;
  e.clock_over_limit = clock.over_limit;
  e.clock_basis = clock.known ? clock.limit.basis : clock.unknown_reason;
  return e;
}

nlohmann::json design_to_json(const Design& d) {
  return {{"name", d.name},
          {"clock_mhz", d.clock_mhz},
          {"lanes", d.lanes},
          {"entries_per_table", d.entries_per_table},
          {"entry_format", entry_format_info(d.entry_format).name},
          {"lut_sram_bytes", d.lut_sram_bytes},
          {"pair_bits", d.pair_bits()},
          {"tables_per_layer", d.tables_per_layer},
          {"fetch_request_bytes", d.fetch_request_bytes},
          {"scale_significand_bits", d.scale_significand_bits},
          {"scale_exponent_bits", d.scale_exponent_bits},
          {"index_bits", d.index_bits},
          {"pipeline_stages", d.pipeline_stages},
          {"dram_gb_s", d.dram_gb_s},
          {"dram_latency_ns", d.dram_latency_ns},
          {"dram_burst_bytes", d.dram_burst_bytes},
          {"dram_pj_per_bit", d.dram_pj_per_bit},
          {"dram_energy_source", d.dram_energy_source},
          {"prefetch_next_layer", d.prefetch_next_layer}};
}

nlohmann::json estimate_to_json(const Estimate& e) {
  const ActionCounts& c = e.counts;
  nlohmann::json counts = {{"decoded_weights", c.decoded_weights},
                           {"blocks", c.blocks},
                           {"sparse_entries", c.sparse_entries},
                           {"layers", c.layers},
                           {"decode_cycles", c.decode_cycles},
                           {"bandwidth_stall_cycles", c.bandwidth_stall_cycles},
                           {"reload_stall_cycles", c.reload_stall_cycles},
                           {"table_stream_stall_cycles", c.table_stream_stall_cycles},
                           {"streamed_tables", c.streamed_tables},
                           {"streamed_table_bits", c.streamed_table_bits},
                           {"cycles", c.cycles},
                           {"lut_reads", c.lut_reads},
                           {"lut_fills", c.lut_fills},
                           {"lut_sram_read_bits", c.lut_sram_read_bits},
                           {"lut_reloads", c.lut_reloads},
                           {"lut_sram_write_bits", c.lut_sram_write_bits},
                           {"dram_weight_bits", c.dram_weight_bits},
                           {"dram_table_bits", c.dram_table_bits},
                           {"multiplies", c.multiplies},
                           {"register_bits", c.register_bits},
                           {"seconds", c.seconds},
                           {"resident_slots", c.resident_slots},
                           {"table_pairs", c.table_pairs}};
  nlohmann::json energy = nlohmann::json::object();
  for (const auto& [k, v] : e.energy_pj) energy[k] = v;
  nlohmann::json area = nlohmann::json::object();
  for (const auto& [k, v] : e.area_um2) area[k] = v;
  return {{"energy_per_token_pj", e.energy_per_token_pj},
          {"pj_per_weight", e.pj_per_weight},
          {"pj_per_weight_on_chip", e.pj_per_weight_on_chip},
          {"area_mm2", e.area_mm2},
          {"tokens_per_s", e.tokens_per_s},
          {"weights_per_s", e.weights_per_s},
          {"power_mw", e.power_mw},
          {"relative_die_cost", e.relative_die_cost},
          {"lut_bits", e.lut_bits},
          {"lut_storage", e.storage_kind},
          {"dram_pj_per_bit", e.dram_pj_per_bit},
          {"dram_energy_source", e.dram_energy_source},
          {"clock_limit_mhz", e.clock_limit_mhz},
          {"clock_over_limit", e.clock_over_limit},
          {"clock_basis", e.clock_basis},
          {"energy_pj_per_token", energy},
          {"area_um2", area},
          {"counts_per_token", counts}};
}

namespace {

double number_or_nan(const nlohmann::json& v) {
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}

double number_at(const nlohmann::json& j, const char* key) { return number_or_nan(j.at(key)); }

Breakdown breakdown_from_json(const nlohmann::json& j) {
  Breakdown out;
  for (const auto& [k, v] : j.items()) out.emplace_back(k, number_or_nan(v));
  return out;
}

}  // namespace

Design design_from_json(const nlohmann::json& j) {
  Design d;
  d.name = j.at("name").get<std::string>();
  d.clock_mhz = number_at(j, "clock_mhz");
  d.lanes = j.at("lanes").get<int>();
  d.entries_per_table = j.at("entries_per_table").get<int>();
  d.entry_format = parse_entry_format(j.at("entry_format").get<std::string>());
  d.lut_sram_bytes = j.at("lut_sram_bytes").get<int64_t>();
  d.scale_significand_bits = j.at("scale_significand_bits").get<int>();
  d.scale_exponent_bits = j.at("scale_exponent_bits").get<int>();
  d.index_bits = j.at("index_bits").get<int>();
  d.pipeline_stages = j.value("pipeline_stages", 1);
  // Records written before tables per slot were a design field hold the pair.
  d.tables_per_layer = j.value("tables_per_layer", 2);
  d.fetch_request_bytes = j.value("fetch_request_bytes", 4096);
  d.dram_gb_s = number_at(j, "dram_gb_s");
  d.dram_latency_ns = number_at(j, "dram_latency_ns");
  d.dram_burst_bytes = j.at("dram_burst_bytes").get<int>();
  // Point files written before the memory presets carry no DRAM energy of their own (0: the tech table's).
  d.dram_pj_per_bit = j.contains("dram_pj_per_bit") ? number_at(j, "dram_pj_per_bit") : 0;
  d.dram_energy_source = j.value("dram_energy_source", std::string());
  d.prefetch_next_layer = j.at("prefetch_next_layer").get<bool>();
  return d;
}

Estimate estimate_from_json(const nlohmann::json& j) {
  Estimate e;
  const nlohmann::json& c = j.at("counts_per_token");
  ActionCounts& n = e.counts;
  for (const auto& [key, field] : std::initializer_list<std::pair<const char*, double ActionCounts::*>>{
           {"decoded_weights", &ActionCounts::decoded_weights},
           {"blocks", &ActionCounts::blocks},
           {"sparse_entries", &ActionCounts::sparse_entries},
           {"layers", &ActionCounts::layers},
           {"decode_cycles", &ActionCounts::decode_cycles},
           {"bandwidth_stall_cycles", &ActionCounts::bandwidth_stall_cycles},
           {"reload_stall_cycles", &ActionCounts::reload_stall_cycles},
           {"cycles", &ActionCounts::cycles},
           {"lut_reads", &ActionCounts::lut_reads},
           {"lut_fills", &ActionCounts::lut_fills},
           {"lut_sram_read_bits", &ActionCounts::lut_sram_read_bits},
           {"lut_reloads", &ActionCounts::lut_reloads},
           {"lut_sram_write_bits", &ActionCounts::lut_sram_write_bits},
           {"dram_weight_bits", &ActionCounts::dram_weight_bits},
           {"dram_table_bits", &ActionCounts::dram_table_bits},
           {"multiplies", &ActionCounts::multiplies},
           {"register_bits", &ActionCounts::register_bits},
           {"seconds", &ActionCounts::seconds}}) {
    n.*field = number_at(c, key);
  }
  // Absent in records written before streamed tables.
  for (const auto& [key, field] : std::initializer_list<std::pair<const char*, double ActionCounts::*>>{
           {"table_stream_stall_cycles", &ActionCounts::table_stream_stall_cycles},
           {"streamed_tables", &ActionCounts::streamed_tables},
           {"streamed_table_bits", &ActionCounts::streamed_table_bits}}) {
    n.*field = c.contains(key) ? number_at(c, key) : 0;
  }
  n.resident_slots = c.at("resident_slots").get<int>();
  n.table_pairs = c.at("table_pairs").get<int>();
  e.energy_pj = breakdown_from_json(j.at("energy_pj_per_token"));
  e.area_um2 = breakdown_from_json(j.at("area_um2"));
  for (const auto& [key, field] : std::initializer_list<std::pair<const char*, double Estimate::*>>{
           {"energy_per_token_pj", &Estimate::energy_per_token_pj},
           {"pj_per_weight", &Estimate::pj_per_weight},
           {"pj_per_weight_on_chip", &Estimate::pj_per_weight_on_chip},
           {"area_mm2", &Estimate::area_mm2},
           {"tokens_per_s", &Estimate::tokens_per_s},
           {"weights_per_s", &Estimate::weights_per_s},
           {"power_mw", &Estimate::power_mw},
           {"relative_die_cost", &Estimate::relative_die_cost}}) {
    e.*field = number_at(j, key);
  }
  e.lut_bits = j.at("lut_bits").get<int64_t>();
  e.storage_kind = j.at("lut_storage").get<std::string>();
  e.dram_pj_per_bit = j.contains("dram_pj_per_bit") ? number_at(j, "dram_pj_per_bit") : 0;
  e.dram_energy_source = j.value("dram_energy_source", std::string());
  // Records written before the clock check carry none (limit 0: not checked).
  e.clock_limit_mhz = j.contains("clock_limit_mhz") ? number_at(j, "clock_limit_mhz") : 0;
  e.clock_over_limit = j.value("clock_over_limit", false);
  e.clock_basis = j.value("clock_basis", std::string());
  return e;
}

}  // namespace sop::sim
