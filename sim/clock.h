// The clock a configuration runs at, checked against the clock its unit meets at the technology's node
// (TechTable::clock_limit: the measured critical path scaled by the Stillmaker-Baas delay factor).
// `clock_mhz: auto` takes that limit; an explicit clock above it is flagged, never silently used:
// simulate and estimate print a warning, sweeps record it per point and the report lists the points.
#pragma once

#include <string>

#include "model/hw/hw_config.h"
#include "sim/estimate.h"
#include "sim/tech.h"

namespace sop::sim {

struct ClockCheck {
  double clock_mhz = 0;       // the clock used
  bool from_auto = false;     // clock_mhz: auto took the limit
  bool known = false;         // the tech table has timing for this unit
  bool over_limit = false;    // an explicit clock above the limit
  ClockLimit limit;
  std::string unknown_reason; // when !known: why (no timing row for this unit)
  // One line for a report: what runs, the limit, and the basis; starts with "warning: " when over.
  std::string describe(const std::string& tech_name) const;
};

ClockCheck check_clock(double clock_mhz, int lanes, int entries_per_table, const std::string& entry_format,
                       int pipeline_stages, const TechTable& tech);
// The same for a design: its clock, lanes, table size, entry format and stages.
ClockCheck check_clock(const Design& design, const TechTable& tech);
// For a hardware config: resolves clock_mhz: auto to the limit, rounded down to a whole MHz (throws
// sop::Error naming the config and clock_mhz when the tech table has no timing for its unit).
ClockCheck apply_clock(hw::HwConfig& hw, const TechTable& tech);

}  // namespace sop::sim
