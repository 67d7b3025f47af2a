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
  std::string sta = "sta";  // OpenSTA (Debian package opensta)
  std::string work_dir;  // empty: a temporary directory, removed afterwards
};

// Static timing of the unit at the liberty's node (0.18 um for OSU): a flat, timing-driven mapping
// (abc -D at the target period, inputs driven by an INVX1, outputs loaded by `output_load_pf`) timed by
// OpenSTA with an SDC the tool writes (docs/rtl.md "Static timing"). Input and output delays are 0: the
// unit's ports are taken as registered on the other side. The asynchronous reset is a false path (its
// tree is buffered at placement, not here).
struct TimingOptions {
  double target_mhz = 0;        // the clock to map for and check against (0: the config's clock_mhz)
  double output_load_pf = 0.01;
};

struct TimingReport {
  double target_mhz = 0;
  double period_ns = 0;
  double worst_slack_ns = 0;    // at the target period; negative: the path does not fit
  double critical_path_ns = 0;  // data arrival + setup of the worst path
  double fmax_mhz = 0;          // 1000 / critical_path_ns
  std::string startpoint;
  std::string endpoint;
  int stages = 0;               // cells on the worst path
  double area_um2 = 0;          // the timing-driven mapping's cell area
  std::string sdc;              // the constraints that were applied
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
// Runs yosys (timing-driven) and OpenSTA; throws sop::Error naming a missing tool and what to install.
TimingReport analyze_timing(const hw::HwConfig& hw, const AreaOptions& options, const TimingOptions& timing);

}  // namespace sop::sim
