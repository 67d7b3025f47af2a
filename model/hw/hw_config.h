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
inline constexpr int kMaxLanes = 64;
inline constexpr int kMaxResidentLayers = 1 << 16;

struct LutConfig {
  int entries_per_table = 16;  // 16 (4-bit codes) or 64 (6-bit atoms): CodeBits 4 or 6
  int tables_per_layer = 2;    // the codebook pair; the unit is built for 2
  int resident_layers = 2;     // ResidentLayers: layer slots held at once
  golden::EntryFormat entry_format = golden::EntryFormat::Hif;  // Fp16Entries
  int banks = 1;               // 1: a flop LUT with one read mux per lane (no banking)
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
  FetchConfig fetch;           // the unit's DMA (system model only)
};

// The weight memory as the system model (sop simulate) sees it. Transfers are whole bursts; a request
// waits for the channel, then takes latency_ns plus bytes / bandwidth_gb_s.
struct DramConfig {
  double bandwidth_gb_s = 0;   // 0: not modelled (transfers take no time)
  double latency_ns = 0;
  int burst_bytes = 64;        // access granule: every request is rounded up to whole bursts
};

// The unit that receives the decoded weights (it stands in for the MAC array).
struct ConsumerConfig {
  double weights_per_cycle = 0;  // drain rate; 0: keeps up with any unit (never stalls it)
  int buffer_weights = 64;       // input buffer; must hold at least one beat (lanes weights)
};

// Choices of the system model, kept apart from the physical sizes above.
struct PolicyConfig {
  bool prefetch_next_layer = true;  // load the next layer's tables into a free slot while streaming
};

struct HwConfig {
  std::string source;          // the file it came from
  std::string name;
  double clock_mhz = 1000;
  DecodeUnitConfig decode_unit;
  DramConfig dram;
  ConsumerConfig consumer;
  PolicyConfig policy;

  int code_bits() const { return decode_unit.lut.entries_per_table == 64 ? 6 : 4; }
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
};
UnitFormats unit_formats(const HwConfig& hw);

// Throws sop::Error(path, key, message).
HwConfig load_hw_config(const std::string& path);
HwConfig parse_hw_config(const std::string& yaml_text, const std::string& source);

}  // namespace sop::hw
