#include "sim/clock.h"

#include <cmath>
#include <cstdio>

#include "base/error.h"

namespace sop::sim {

std::string ClockCheck::describe(const std::string& tech_name) const {
  char buf[768];
  if (!known) {
    std::snprintf(buf, sizeof buf, "clock %.0f MHz: not checked at %s (%s)", clock_mhz, tech_name.c_str(),
                  unknown_reason.c_str());
  } else if (from_auto) {
    std::snprintf(buf, sizeof buf, "clock %.0f MHz: auto, the unit's limit at %s (%.0f MHz: %s)", clock_mhz,
                  tech_name.c_str(), limit.fmax_mhz, limit.basis.c_str());
  } else if (over_limit) {
    std::snprintf(buf, sizeof buf,
                  "warning: clock %.0f MHz exceeds the %.0f MHz the unit meets at %s (%s); the throughput and "
                  "power at this clock are not reachable",
                  clock_mhz, limit.fmax_mhz, tech_name.c_str(), limit.basis.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "clock %.0f MHz: meets the unit's %.0f MHz limit at %s (%s)", clock_mhz,
                  limit.fmax_mhz, tech_name.c_str(), limit.basis.c_str());
  }
  return buf;
}

ClockCheck check_clock(double clock_mhz, int lanes, int entries_per_table, const std::string& entry_format,
                       int pipeline_stages, const TechTable& tech) {
  ClockCheck c;
  c.clock_mhz = clock_mhz;
  if (tech.timing_rows.empty()) {
    c.unknown_reason = "the technology table has no timing table";
    return c;
  }
  try {
    c.limit = tech.clock_limit(lanes, entries_per_table, entry_format, pipeline_stages);
    c.known = true;
    c.over_limit = c.limit.exceeded_by(clock_mhz);
  } catch (const Error& e) {
    c.unknown_reason = e.what();
  }
  return c;
}

ClockCheck check_clock(const Design& d, const TechTable& tech) {
  return check_clock(d.clock_mhz, d.lanes, d.entries_per_table, entry_format_info(d.entry_format).name,
                     d.pipeline_stages, tech);
}

ClockCheck apply_clock(hw::HwConfig& hw, const TechTable& tech) {
  ClockCheck c = check_clock(design_from_hw(hw, 0), tech);
  if (!hw.clock_auto) return c;
  if (!c.known) throw Error(hw.source, "clock_mhz", "auto: " + c.unknown_reason + " in " + tech.source);
  hw.clock_mhz = std::floor(c.limit.fmax_mhz);
  c.clock_mhz = hw.clock_mhz;
  c.from_auto = true;
  c.over_limit = false;
  return c;
}

}  // namespace sop::sim
