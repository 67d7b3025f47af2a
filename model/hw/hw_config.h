// The one description of the decode unit and the system around it (configs/hw/*.yaml; docs/hw-config.md
// documents every key). Everything else is derived from it: the golden decode configuration, the
// SystemC model's unit formats (unit_formats), the RTL parameters (rtl_parameters), the LUT size
// (lut_bits) and the estimator's design (sim/estimate.h, design_from_hw).
//
// The YAML nests like the block diagram, and its keys are the RTL parameter names in snake_case
// (Lanes -> lanes, ResidentLayers -> resident_layers). Loading rejects unknown keys, wrong types,
// non-finite numbers and impossible sizes with an error naming the file, the key path and the line.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/golden/decode.h"

namespace sop::hw {

// The unit's ranges, as the reader enforces them and the estimator's mapping of a design onto a
// config (sim/estimate.h, hw_for_design) checks them. Lanes: the widest unit the system model and the
// RTL are built for. Resident layers: LUT slots are a list in the system model, not a parameter
// space, so the bound only keeps a typo from allocating gigabytes.
inline constexpr int kMaxLanes = 256;
inline constexpr int kMaxResidentLayers = 1 << 16;

struct LutConfig {
  int entries_per_table = 16;  // 16 (4-bit codes) or 64 (6-bit atoms): CodeBits 4 or 6
  // Tables per layer slot: 2 (the codebook pair) .. 16, a power of two (TableBits = log2). A layer with
  // more tables than this (one per row group) streams them through the slot (docs/simulate.md).
  int tables_per_layer = 2;
  int resident_layers = 2;     // ResidentLayers: layer slots held at once
  golden::EntryFormat entry_format = golden::EntryFormat::Hif;  // Fp16Entries
  int banks = 1;               // 1: a flop LUT with one read mux per lane (no banking)
  // With several units: false, every unit fetches and loads its own copy of a layer's tables; true, one
  // DRAM fetch per layer is written into every unit's slots at once (a broadcast load).
  bool shared = false;
};

// How the decode unit fetches packed blocks: one request (one TLM transaction) moves request_bytes of a
// layer's codes, scales and residuals; up to `outstanding` requests are in flight or buffered.
struct FetchConfig {
  int request_bytes = 4096;
  int outstanding = 4;
};

struct DecodeUnitConfig {
  int lanes = 8;               // Lanes
  LutConfig lut;
  // The block scale, as the golden decode defines it: has_sign (ScaleHasSign), exp_bits (ScaleExpBits),
  // man_bits (ScaleManBits), subnormals (ScaleSubnormals); the bias is the golden decode's only (it is
  // part of the product's exponent offset, which the RTL does not apply).
  golden::ScaleFormat scale = golden::kScaleE4M3;
  int index_bits = 32;         // IndexBits: residual index width
  int pipeline_stages = 1;     // PipeStages: register stages from a beat's issue to its products (1..3)
  FetchConfig fetch;           // the unit's DMA (system model only)
};

// The weight memory as the system model (sop simulate) sees it: `channels` independent channels sharing
// bandwidth_gb_s evenly. A request is rounded up to whole bursts and striped over the channels burst by
// burst (a sequential stream interleaved by address); on each channel it waits for the channel and for a
// free queue entry (queue_depth requests in flight), then takes latency_ns plus its bursts / channel
// bandwidth. Named presets (configs/tech/memory.yaml, built in) fill every key; keys beside the preset
// override it.
struct DramConfig {
  std::string preset;          // the preset it started from; empty: none
  int channels = 1;
  double bandwidth_gb_s = 0;   // every channel together; 0: not modelled (transfers take no time)
  double latency_ns = 0;
  int burst_bytes = 64;        // access granule: every request is rounded up to whole bursts
  int queue_depth = 64;        // requests in flight per channel
  double energy_pj_per_bit = 0;  // 0: the technology table's dram_per_bit
  std::string energy_source;     // where energy_pj_per_bit comes from (a citation, or "assumption: ...")
  double channel_gb_s() const { return bandwidth_gb_s / channels; }
};

// The built-in presets: name -> the DRAM keys they set (configs/tech/memory.yaml).
std::vector<std::pair<std::string, DramConfig>> memory_presets();
// The text the presets were built from, for the test that keeps it equal to configs/tech/memory.yaml.
const char* memory_presets_text();

// The unit that receives the decoded weights (it stands in for the MAC array).
struct ConsumerConfig {
  double weights_per_cycle = 0;  // drain rate; 0: keeps up with any unit (never stalls it)
  int buffer_weights = 64;       // input buffer; must hold at least one beat (lanes weights)
};

// Choices of the system model, kept apart from the physical sizes above.
struct PolicyConfig {
  bool prefetch_next_layer = true;  // load the next layer's tables into a free slot while streaming
  // Fetch buffer entries freed at the end of a layer take the next layer's first chunks (weights do not
  // depend on activations); off, a layer's first fetches wait for its stream command.
  bool fetch_across_layers = false;
};

struct HwConfig {
  std::string source;          // the file it came from
  std::string name;
  double clock_mhz = 1000;
  // clock_mhz: auto in the file: the clock comes from the tech table's scaled timing (sim/clock.h).
  bool clock_auto = false;
  // Decode units, each as decode_unit describes, sharing the memory system. They split every layer's
  // fetch requests (chunks of whole rows) into contiguous ranges and stream the same layer at once.
  int units = 1;
  DecodeUnitConfig decode_unit;
  DramConfig dram;
  ConsumerConfig consumer;
  PolicyConfig policy;

  int code_bits() const { return decode_unit.lut.entries_per_table == 64 ? 6 : 4; }
  // The RTL's TableBits: log2 of tables_per_layer.
  int table_bits() const {
    int b = 0;
    while ((2 << b) <= decode_unit.lut.tables_per_layer) ++b;
    return b;
  }
  // Register stages between the LUT read and the products (rtl PipeStages).
  int pipeline_stages() const { return decode_unit.pipeline_stages; }
  golden::DecodeConfig decode_config() const;
  // LUT storage in bits: resident_layers x tables x entries x entry bits.
  long lut_bits() const;
  // (parameter, value) pairs for sop_decode_unit, as verilator -G / yosys -chparam take them.
  std::vector<std::pair<std::string, std::string>> rtl_parameters() const;
};

// The unit's side of a workload match (model/tlm/workload.h): lanes, formats and index width.
struct UnitFormats {
  int lanes = 8;
  golden::DecodeConfig decode;
  int index_bits = 32;
  int tables_per_slot = 2;  // decode_unit.lut.tables_per_layer: the tables one LUT slot holds
  long lut_bits = 0;        // the whole LUT (HwConfig::lut_bits), for messages
};
UnitFormats unit_formats(const HwConfig& hw);

// Throws sop::Error(path, key, message).
HwConfig load_hw_config(const std::string& path);
HwConfig parse_hw_config(const std::string& yaml_text, const std::string& source);

}  // namespace sop::hw
