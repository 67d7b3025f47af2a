// A sweep's results: the record of one point (OUT/points/<index>.json), the merge of point files into
// results.json and results.csv, and the reading of results.json back (docs/sweeps.md).
//
// The point record is typed here once, with the one to_json/from_json pair the runner's writer, the
// merge, the CSV and the report share; the JSON keys are those of the estimator's design_to_json and
// estimate_to_json (sim/estimate.h) under "design" and "estimate".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/estimate.h"

namespace sop::sim {

struct PointQuality {
  double bpw = 0;                            // DRAM weight bits per decoded weight
  std::optional<double> sqnr_db;             // absent when the model's quality is not measured
  std::optional<double> mean_layer_sqnr_db;
  // Every bit the pack's layers count (codes, scales, selectors, stored tables, residuals) per weight;
  // absent for records written before it.
  std::optional<double> counted_bpw;
};

// A point of an analytic sweep's sample (docs/sweeps.md), simulated on the SystemC model as well: the
// analytic counts' error against it.
struct CountsCheck {
  std::string error;                 // non-empty: the SystemC model refused the design (no numbers)
  double simulated_cycles = 0;       // per token
  double simulated_tokens_per_s = 0;
  double simulated_energy_per_token_pj = 0;
};

struct PointRecord {
  int index = 0;
  std::string key;                           // SweepPoint::key()
  std::map<std::string, std::string> axes;   // as in the sweep file
  std::string model;
  std::string recipe;                        // empty for a pack model
  std::string pack;                          // the pack it quantized to, relative to the sweep folder
                                             // ("packs/NAME.sop"); empty for a pack model
  std::string status;                        // "ok" or "failed"
  std::string error;                         // failed: why
  std::string counts = "analytic";           // where the action counts came from: "simulate" or "analytic"
  std::optional<CountsCheck> check;          // ok analytic points of the sample
  // The rest is there when ok.
  int64_t weights = 0;                       // quantized weights of one pass over the layers
  int64_t layers = 0;
  PointQuality quality;
  Design design;
  Estimate estimate;

  bool ok() const { return status == "ok"; }
};

// (estimate - simulated) / simulated for a checked point's tokens/s, cycles and energy per token.
struct CountsError {
  double tokens_per_s = 0;
  double cycles = 0;
  double energy_per_token = 0;
};
CountsError counts_error(const PointRecord& p);  // p.check without an error

// The analytic counts against the SystemC model over the checked points of a sweep.
struct CountsCheckSummary {
  int checked = 0;                 // points with a check
  int refused = 0;                 // of those, designs the SystemC model refused
  double max_abs_tokens_per_s_error = 0;
  double mean_abs_tokens_per_s_error = 0;
  std::vector<std::string> lines;  // one per checked point, for the CLI and the report
};
CountsCheckSummary summarize_counts_checks(const std::vector<PointRecord>& points);

nlohmann::json point_to_json(const PointRecord& p);
// Reads a point record back, checking every field's type (and integers' range) before converting it:
// throws sop::Error naming `file` and the field (under `field`, e.g. "points[3]") when a key is
// missing or of the wrong type, or the estimator refuses a value.
PointRecord point_from_json(const nlohmann::json& j, const std::string& file = "", const std::string& field = "");

// results.json: the sweep's name, description and axes, and every point that has a result.
struct SweepResults {
  std::string sweep;
  std::string description;
  std::string counts = "analytic";  // the sweep's counts source (sweep.json; older folders: analytic)
  std::vector<std::string> axes;
  int total_points = 0;
  std::vector<PointRecord> points;  // by index
};

// Collects OUT/points/*.json of the given directories (the sweep file is taken from the first) and
// writes results.csv and results.json into out_dir. Throws sop::Error when points are missing unless
// allow_partial. Returns the number of points written.
int merge_sweep(const std::vector<std::string>& dirs, const std::string& out_dir, bool allow_partial = false);

// DIR/results.json.
SweepResults read_results(const std::string& dir);

// OUT/points/<index>.json, zero-padded so that the files sort by index.
std::string point_file(const std::string& out_dir, int index);

// Reads a JSON file the sweep wrote itself (a wider size bound than a config file's).
nlohmann::json read_sweep_output(const std::string& path, const char* what);
// A sweep folder's sweep.json, checked to be an object with its name, description, axes and points
// (and its counts source, when it names one); throws sop::Error naming the file otherwise.
nlohmann::json read_sweep_record(const std::string& path);
// Its counts source: "simulate" or "analytic" (a record without one is from an analytic sweep).
std::string record_counts(const nlohmann::json& record);

}  // namespace sop::sim
