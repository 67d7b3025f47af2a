// Area of the decode unit: yosys synthesis of rtl/ with the parameters of a hardware configuration,
// mapped to a standard-cell liberty (OSU 0.18 um from Debian's qflow-tech-osu018, extracted by
// scripts/install-deps.sh), and the cell area per block. docs/rtl.md describes the flow.
#pragma once

#include <string>

#include "model/hw/hw_config.h"

namespace sop::sim {

struct AreaOptions {
  std::string rtl_dir;   // empty: the source tree's rtl/
  std::string liberty;   // empty: $SOP_TECH_DIR or build/tech, .../osu018/osu018_stdcells.lib
  std::string yosys = "yosys";
  std::string work_dir;  // empty: a temporary directory, removed afterwards
};

struct AreaReport {
  std::string liberty;
  double total_um2 = 0;
  double lut_um2 = 0;          // sop_lut: storage flops and the lanes' read muxes
  double lane_um2 = 0;         // one sop_lane_mul (entry decode, multiply, exponent add)
  double lanes_um2 = 0;        // all lanes
  double control_um2 = 0;      // sop_decode_unit itself: residual merge, output registers, control
  long cells = 0;
  long flops = 0;
  std::string script;          // the yosys script that was run
};

std::string default_liberty();
std::string default_rtl_dir();
// The yosys script for a configuration (read, set parameters, synthesize, map, check for latches, stat).
std::string area_script(const hw::HwConfig& hw, const std::string& rtl_dir, const std::string& liberty,
                        const std::string& stat_file);
// Runs yosys; throws sop::Error with the log's last lines when synthesis or a check fails.
AreaReport synthesize_area(const hw::HwConfig& hw, const AreaOptions& options);

}  // namespace sop::sim
