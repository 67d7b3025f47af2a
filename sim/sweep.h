// Sweeps (configs/sweeps/*.yaml, docs/sweeps.md): axes over the LUT SRAM size, lanes, LUT entry format,
// block size, recipe and model, combined as a grid or zipped into points; each point quantizes (once
// per model/recipe/block/format, shared by every point that needs it) and estimates the hardware.
//
// Durability: every finished point is written to OUT/points/<index>.json through a temporary file and a
// rename, so a killed sweep loses no finished point and a rerun skips them. A point that fails is
// recorded with its error and does not stop the others. --shard i/n runs the points whose index is
// i mod n; merge_sweep() collects the point files of one or more directories into results.csv/.json.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sop::sim {

// A model the sweep decodes: a checkpoint quantized by the sweep, or a pack made beforehand.
struct SweepModel {
  std::string name;
  std::string model;   // checkpoint path or synthetic:<spec> (quantized per recipe/block/format)
  std::string pack;    // or an existing pack file (recipe and block axes do not apply)
  int repeat = 1;      // decode the layers this many times per token (one quantized layer of N alike)
  bool quality = true; // measure SQNR against the checkpoint
};

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

  std::vector<SweepPoint> points() const;
};

// The axes a sweep may name.
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

struct SweepRunOptions {
  std::string out_dir;
  Shard shard;
  int jobs = 0;              // point workers (0: all cores)
  bool retry_failed = false; // rerun points recorded as failed
  bool write_results = true; // write results.csv/.json when this run finishes the whole sweep
  bool prepare_only = false;  // quantize (and measure) every pack the shard's points need, run no point
  std::function<void(const std::string&)> log;  // progress lines
};

struct SweepRunSummary {
  int total = 0;      // points in the sweep
  int in_shard = 0;
  int skipped = 0;    // already finished
  int ran = 0;
  int failed = 0;     // of those that ran
  bool complete = false;  // every point of the sweep has a result in out_dir
};

SweepRunSummary run_sweep(const SweepSpec& spec, const SweepRunOptions& options);

// Collects OUT/points/*.json of the given directories (the sweep file is taken from the first) and
// writes results.csv and results.json into out_dir. Throws sop::Error when points are missing unless
// allow_partial. Returns the number of points written.
int merge_sweep(const std::vector<std::string>& dirs, const std::string& out_dir, bool allow_partial = false);

// The rows of results.json (one object per point, sorted by index).
nlohmann::json read_results(const std::string& dir);

}  // namespace sop::sim
