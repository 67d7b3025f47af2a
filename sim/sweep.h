// Sweeps (configs/sweeps/*.yaml, docs/sweeps.md): axes over the LUT SRAM size, lanes, LUT entry format,
// block size, recipe and model, combined as a grid or zipped into points; each point quantizes (once
// per model/recipe/block/format, shared by every point that needs it) and estimates the hardware.
//
// This header is the runner, and includes the rest of the sweep API: the sweep file and its axes
// (sim/sweep_spec.h) and the results, their merge and the point record (sim/sweep_results.h).
//
// Counts: every point's action counts come from the SystemC model (CountsSource::Simulate), each
// point's simulation in its own child process (SystemC elaborates once per process), up to `jobs` at
// once. With CountsSource::Analytic they come from count_actions(), and a sample of the points
// (counts_check_sample) is simulated as well: each of those records the analytic counts' error.
//
// Durability: every finished point is written to OUT/points/<index>.json through a temporary file and a
// rename, so a killed sweep loses no finished point and a rerun skips them. A point that fails is
// recorded with its error and does not stop the others. --shard i/n runs the points whose index is
// i mod n; merge_sweep() collects the point files of one or more directories into results.csv/.json.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sim/estimate_simulated.h"
#include "sim/sweep_results.h"
#include "sim/sweep_spec.h"

namespace sop::sim {

struct SweepRunOptions {
  std::string out_dir;
  Shard shard;
  CountsSource counts = CountsSource::Simulate;
  int jobs = 0;              // points run at once, each in its own process (0: all cores)
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
  std::vector<PointRecord> checked;  // analytic sweeps: the sample's points that have a result in out_dir
};

// Runs the points of the shard that have no result yet. Call it from a single-threaded caller (its
// points run in forked child processes). Throws sop::Error when out_dir holds another sweep, or the
// same sweep with the other counts source.
SweepRunSummary run_sweep(const SweepSpec& spec, const SweepRunOptions& options);

// The points of an analytic sweep of `total` points that are simulated too: min(5, total) indices
// spread evenly over the sweep, its first and last point included.
std::vector<int> counts_check_sample(int total);

}  // namespace sop::sim
