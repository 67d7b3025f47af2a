// Quantizing every matrix of a model with one or more weight formats and measuring the error:
// the engine behind `sop eval`, `sop demo` and the headline tests.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "quantizer/metrics.h"
#include "quantizer/model_reader.h"

namespace sop {

struct EvalOptions {
  std::string tensor_regex;  // only matrices whose name matches (ECMAScript regex, search); "" = all
  int threads = 0;
  int64_t lut_sram_bytes = -1;  // SOP formats: the LUT their tables must fit (QuantOptions)
  int lut_lanes = 0;
  // Per-input-channel E[x^2] by tensor name (ACos and weighted errors); null for uniform importance.
  std::shared_ptr<const std::map<std::string, std::vector<float>>> tensor_importance;
  // Called after each (tensor, format) with done/total counts, for progress output.
  std::function<void(std::size_t done, std::size_t total, const std::string& tensor, const std::string& format)>
      progress;
};

struct EvalRow {
  std::string tensor;
  std::string format;
  int64_t rows = 0, cols = 0;
  double bpw = 0;  // total bits / weights, everything counted
  double total_bits = 0;
  ErrorMetrics metrics;
  nlohmann::json choice;  // QuantResult::choice (SOP formats: the option chosen); null if none
};

struct FormatSummary {
  std::string format;
  std::size_t tensors = 0;
  double mean_sqnr_db = 0;  // unweighted mean over tensors
  double mean_cosine = 0;
  double mean_acos = 0;     // activation-weighted cosine; equals mean_cosine without statistics
  double bpw = 0;           // total bits / total weights over the model
  nlohmann::json plan;      // WeightFormat::describe_plan() (SOP budgets: the knapsack); null if none
};

struct EvalReport {
  std::string model;
  std::vector<std::string> formats;
  std::vector<EvalRow> rows;
  std::vector<FormatSummary> summary;
};

// The matrices a format applies to: every 2-D tensor (matching the regex), in file order.
std::vector<std::string> matrix_names(const ModelReader& model, const std::string& tensor_regex);

EvalReport evaluate_model(const ModelReader& model, const std::vector<std::string>& formats, const EvalOptions& opts);

// Measures a checkpoint against the one it was made from (a llama.cpp-quantized GGUF against its F32
// original): every 2-D tensor of `model` matching the regex is read and compared with the reference
// tensor of the same name, or of its Hugging Face / llama.cpp counterpart (quantizer/io/llama_names.h;
// output.weight falls back to the embedding for checkpoints that tie them). A row's format is the
// stored type ("Q4_0", "F16"), its bpw that type's storage; the summary has one row per stored type.
// Throws sop::Error naming the file and tensor when the reference lacks a tensor or its shape differs.
EvalReport compare_with_reference(const ModelReader& model, const ModelReader& reference, const EvalOptions& opts);

nlohmann::json report_to_json(const EvalReport& report);

}  // namespace sop
