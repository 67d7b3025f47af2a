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
};

struct PointRecord {
  int index = 0;
  std::string key;                           // SweepPoint::key()
  std::map<std::string, std::string> axes;   // as in the sweep file
  std::string model;
  std::string recipe;                        // empty for a pack model
  std::string status;                        // "ok" or "failed"
  std::string error;                         // failed: why
  // The rest is there when ok.
  int64_t weights = 0;                       // quantized weights of one pass over the layers
  int64_t layers = 0;
  PointQuality quality;
  Design design;
  Estimate estimate;

  bool ok() const { return status == "ok"; }
};

nlohmann::json point_to_json(const PointRecord& p);
// Throws (nlohmann::json's errors, sop::Error) when a key is missing or of the wrong type.
PointRecord point_from_json(const nlohmann::json& j);

// results.json: the sweep's name, description and axes, and every point that has a result.
struct SweepResults {
  std::string sweep;
  std::string description;
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
// A sweep folder's sweep.json, checked to be an object with its name, description, axes and points;
// throws sop::Error naming the file otherwise.
nlohmann::json read_sweep_record(const std::string& path);

}  // namespace sop::sim
