// The sweep file (configs/sweeps/*.yaml, docs/sweeps.md): its schema, its reader, the axes a sweep may
// name and the points they combine into, and the --shard split of those points.
//
// Every axis is one row of sweep_axes(): its name, how a value is checked, what the value changes in a
// point (the pack it needs and/or the hardware design) and how the report labels it. The reader, the
// runner (sim/sweep.h) and the report (sim/report.h) all read that table, so a new axis is one row.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/estimate.h"

namespace sop::sim {

// A model the sweep decodes: a checkpoint quantized by the sweep, or a pack made beforehand.
struct SweepModel {
  std::string name;
  std::string model;   // checkpoint path or synthetic:<spec> (quantized per recipe/block/format)
  std::string pack;    // or an existing pack file (recipe and block axes do not apply)
  int repeat = 1;      // decode the layers this many times per token (one quantized layer of N alike)
  bool quality = true; // measure SQNR against the checkpoint
};

// More points than any sweep worth running (each point quantizes or estimates a model, one process
// per point); also keeps the point index well inside an int. parse_sweep refuses larger grids before
// expanding them, and results.json's total_points is read against it.
constexpr uint64_t kMaxSweepPoints = 100000;

// One combination of axis values.
struct SweepPoint {
  int index = 0;
  std::map<std::string, std::string> axes;  // axis name -> value, as written in the sweep file
  std::string key() const;                   // "axis=value,..." in axis-name order
};

struct SweepSpec {
  std::string path;        // the sweep file
  std::string text;        // its YAML, copied into OUT so a resume can check it is the same sweep
  std::string name;
  std::string description;
  std::string tech;        // resolved paths
  std::string hw;
  std::string combine = "grid";  // grid | zip
  std::map<std::string, SweepModel> models;
  std::map<std::string, std::string> recipes;  // name -> recipe file
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // in file order
  // `dram:` overrides for every point, named as in the hardware config (dram.bandwidth_gb_s,
  // dram.latency_ns); 0: the hardware config's (or the estimator's default).
  double dram_bandwidth_gb_s = 0;
  double dram_latency_ns = 0;

  // Every point, in index order (the whole grid in memory: a runner needs it; --list does not).
  std::vector<SweepPoint> points() const;
  std::size_t point_count() const;
  // Point `index` (< point_count()), computed from the axes without expanding the grid.
  SweepPoint point(std::size_t index) const;
};

// What a point's axis values choose. The runner fills it with the sweep's defaults (its only model
// and recipe, the hardware config's design and entry format), then lets each axis of the point change
// it; lut_sram_bytes = 0 afterwards means "size it for the config's resident layers".
struct PointChoice {
  std::string model;
  std::string recipe;
  int block = 0;              // 0: the recipe's own
  std::string entry_format;   // "hif", "fp16" or "bf16": the pack's tables (bf16 reuses the fp16 pack)
  Design design;
};

// A value of an axis being checked: its text as written (the check may rewrite it to its canonical
// spelling), the models and recipes read so far, and the value read as a finite number (throws
// sop::Error naming the file and key when it is not one).
struct SweepAxisValue {
  std::string text;
  const SweepSpec& spec;
  std::function<double()> number;
};

struct SweepAxis {
  const char* name;
  // Empty when the value is good, else why not (the reader adds the file, key and line).
  std::string (*check)(SweepAxisValue& value);
  // What the (checked) value changes in a point.
  void (*apply)(const std::string& value, PointChoice& choice);
  // The report's words for the value in a series name ("8 lanes", "500 MHz"); nullptr: the axis is
  // not part of a series name (the model has its own plots, the LUT size is the x axis, and the entry
  // format always leads the name).
  std::string (*series_label)(const std::string& value);
};

// Every axis, in the order the docs and the unknown-axis error list them.
const std::vector<SweepAxis>& sweep_axes();
// The row of an axis, nullptr when there is none.
const SweepAxis* find_sweep_axis(const std::string& name);
// The axes' names, in sweep_axes() order.
const std::vector<std::string>& sweep_axis_names();

// Reads and validates a sweep file (unknown keys or axes, empty axes, zip axes of unequal length,
// unknown model or recipe names, bad values): throws sop::Error naming the file and key.
SweepSpec load_sweep(const std::string& path);
SweepSpec parse_sweep(const std::string& yaml_text, const std::string& source, const std::string& base_dir);

struct Shard {
  int index = 0;
  int count = 1;
  bool contains(int point) const { return point % count == index; }
};
// "i/n" with 0 <= i < n; throws std::invalid_argument otherwise.
Shard parse_shard(const std::string& text);

}  // namespace sop::sim
