// The hardware configuration (configs/hw/*.yaml; docs/hw-config.md documents every key). The YAML nests
// like the block diagram, and its keys are the RTL parameter names in snake_case (Lanes -> lanes,
// ResidentLayers -> resident_layers). Loading rejects unknown keys, wrong types and impossible sizes
// with an error naming the file and the key path.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/golden/decode.h"

namespace sop::sim {

struct LutConfig {
  int entries_per_table = 16;  // 16 (4-bit codes) or 64 (6-bit atoms): CodeBits 4 or 6
  int tables_per_layer = 2;    // the codebook pair; the unit is built for 2
  int resident_layers = 2;     // ResidentLayers: layer slots held at once
  golden::EntryFormat entry_format = golden::EntryFormat::Hif;  // Fp16Entries
  int banks = 1;               // 1: a flop LUT with one read mux per lane (no banking)
};

struct ScaleConfig {
  bool is_signed = true;       // ScaleHasSign
  int exp_bits = 4;            // ScaleExpBits
  int man_bits = 3;            // ScaleManBits
  int bias = 7;                // golden only: the bias is part of the product's exponent offset
  bool subnormals = true;      // ScaleSubnormals
};

struct DecodeUnitConfig {
  int lanes = 8;               // Lanes
  LutConfig lut;
  ScaleConfig scale;
  int index_bits = 32;         // IndexBits: residual index width
};

// Reserved for the system model; validated so that a typo does not pass silently.
struct DramConfig {
  double bandwidth_gb_s = 0;   // 0: not modelled
  double latency_ns = 0;
};

struct HwConfig {
  std::string source;          // the file it came from
  std::string name;
  double clock_mhz = 1000;
  DecodeUnitConfig decode_unit;
  DramConfig dram;

  int code_bits() const { return decode_unit.lut.entries_per_table == 64 ? 6 : 4; }
  golden::DecodeConfig decode_config() const;
  // LUT storage in bits: resident_layers x tables x entries x entry bits.
  long lut_bits() const;
  // (parameter, value) pairs for sop_decode_unit, as verilator -G / yosys -chparam take them.
  std::vector<std::pair<std::string, std::string>> rtl_parameters() const;
};

// Throws sop::Error(path, key, message).
HwConfig load_hw_config(const std::string& path);
HwConfig parse_hw_config(const std::string& yaml_text, const std::string& source);

}  // namespace sop::sim
