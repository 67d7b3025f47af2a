// Technology tables (configs/tech/*.yaml): energy per action, leakage, area and the die cost model of
// one process node, every number with its source. docs/estimate.md documents the keys and the sources.
//
// Loading is strict: an unknown key, a number without a `source`, or a table whose points are not in
// increasing order throws sop::Error naming the file and the key path.
#pragma once

#include <string>
#include <vector>

#include "sim/node_scaling.h"

namespace sop::sim {

// One measured point of a size-dependent quantity, with where the number came from.
struct TechPoint {
  double x = 0;  // the size: bits of storage, bits of an operand, ...
  double y = 0;  // the value at that size (pJ or um^2)
  std::string source;
};

// A quantity known at a few sizes. Between points it is interpolated (in log-log space for energies,
// which follow power laws in size; linearly for areas, which add up); beyond the ends the nearest
// segment is extended.
struct TechCurve {
  enum class Scale { LogLog, Linear };
  Scale scale = Scale::LogLog;
  std::vector<TechPoint> points;
  double at(double x) const;
};

struct TechValue {
  double value = 0;
  std::string source;
};

// The decode unit's logic area, measured once per (lanes, entries per table, entry format) with the
// yosys flow (configs/tech/measure-logic-area.sh), in the synthesis library's um^2.
struct LogicAreaRow {
  int lanes = 0;
  int entries_per_table = 0;
  std::string entry_format;  // "hif" or "fp16"
  double lut_um2 = 0;        // the unit's 2-slot flop LUT (active and prefetched pair) and the lanes' read muxes
  double lanes_um2 = 0;      // all lanes: entry decode, multiply, exponent add
  double control_um2 = 0;    // residual merge, output registers, control
};

// The critical path of one unit configuration, measured with `sop area --timing` at the synthesis
// library's node (configs/tech/measure-timing.sh writes the table).
struct TimingRow {
  int lanes = 0;
  int entries_per_table = 0;
  std::string entry_format;  // "hif" or "fp16"
  int pipeline_stages = 1;
  double critical_path_ns = 0;
  std::string startpoint;
  std::string endpoint;
};

// How this node relates to the synthesis library and to the node scaling equations
// (sim/node_scaling.h, docs/estimate.md "Node scaling").
struct TechScaling {
  std::string model;             // this node's Stillmaker-Baas device model, at voltage_v
  std::string model_source;
  std::string synthesis_model;   // the synthesis library's node ("180" for OSU 0.18 um)
  double synthesis_voltage_v = 0;
  std::string synthesis_source;
};

// The clock a unit configuration meets at this node: its measured critical path scaled by the delay
// equations. `basis` says which measurement and which factor, for the reports.
struct ClockLimit {
  double synthesis_critical_path_ns = 0;  // at the synthesis library's node
  double synthesis_fmax_mhz = 0;
  double delay_scale = 1;                 // synthesis node -> this node
  double fmax_mhz = 0;                    // at this node and voltage
  std::string basis;
  bool exceeded_by(double clock_mhz) const { return clock_mhz > fmax_mhz * (1 + 1e-9); }
};

struct TechTable {
  std::string source;  // the YAML file
  std::string name;
  double node_nm = 0;
  double voltage_v = 0;
  // Empty for a table of its own numbers; else the table this one scales (`derived_from`): every
  // energy, area and leakage number is the base's times the node scaling factors, its source says so.
  std::string derived_from;
  TechScaling scaling;
  std::string timing_table_path;
  std::vector<TimingRow> timing_rows;

  // Energies in pJ.
  TechCurve storage_read_pj_per_bit;     // by capacity in bits (flop LUT, register file, SRAM)
  TechValue storage_write_per_read;      // write energy / read energy of the same storage
  TechCurve multiply_pj;                 // integer multiply, by product of the operand widths (a x b bits)
  TechCurve add_pj;                      // integer add, by width in bits
  TechValue register_pj_per_bit;         // a pipeline register bit written once
  TechValue dram_pj_per_bit;             // one bit read from DRAM
  TechValue leakage_mw_per_mm2;          // static power density

  // Areas in um^2.
  TechCurve storage_area_um2;            // by capacity in bits (flops below the crossover, SRAM above)
  std::string logic_table_path;          // resolved against the YAML file's folder
  std::vector<LogicAreaRow> logic_rows;
  TechValue logic_table_nand2_um2;       // NAND2 area in the synthesis library
  TechValue nand2_um2;                   // NAND2 area in this node: logic area scales by gate equivalents

  // Die cost model (docs/estimate.md): dies per wafer from the wafer and die areas, negative-binomial yield.
  TechValue wafer_diameter_mm;
  TechValue defect_density_per_cm2;
  TechValue yield_cluster_alpha;
  TechValue reference_die_mm2;           // relative cost 1.0 is a die of this area

  // Logic area (this node's um^2) of a unit with `lanes` lanes: interpolated linearly in lanes between
  // measured rows of the same entry format and table size. entry_format "bf16" has no RTL: it is
  // estimated from the HIF row (both multiply an 8-bit significand) with the flop LUT scaled to
  // 16-bit entries. Throws sop::Error when no row matches.
  LogicAreaRow logic_area(int lanes, int entries_per_table, const std::string& entry_format) const;
  // Die cost of a die of `area_mm2`, relative to reference_die_mm2.
  double relative_die_cost(double area_mm2) const;
  // Logic area of the synthesis library's um^2 in this node's um^2: by NAND2 equivalents.
  double logic_area_scale() const { return nand2_um2.value / logic_table_nand2_um2.value; }
  // Delay, energy, power and area factors from the synthesis library's node to this one.
  NodeScale from_synthesis() const;
  // The clock limit of a unit: the timing table's critical path for its entry format, table size and
  // pipeline stages, interpolated linearly in log2(lanes) between measured lane counts (the end
  // segments extended: the read-mux and select trees deepen with log2 of the lanes), scaled to this
  // node. bf16 entries have no RTL and take the hif rows (both multiply an 8-bit significand). Throws
  // sop::Error naming the timing table when no row matches.
  ClockLimit clock_limit(int lanes, int entries_per_table, const std::string& entry_format, int pipeline_stages) const;
};

TechTable load_tech_table(const std::string& path);
// logic_dir: where a relative logic table path is resolved.
TechTable parse_tech_table(const std::string& yaml_text, const std::string& source, const std::string& logic_dir);

}  // namespace sop::sim
