#include "quantizer/evaluate.h"

#include <map>
#include <memory>
#include <regex>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "quantizer/weight_format.h"

namespace sop {

std::vector<std::string> matrix_names(const ModelReader& model, const std::string& tensor_regex) {
  std::regex filter;
  if (!tensor_regex.empty()) {
    try {
      filter = std::regex(tensor_regex);
    } catch (const std::regex_error& e) {
      throw Error("--tensors", tensor_regex, std::string("invalid regular expression: ") + e.what());
    }
  }
  std::vector<std::string> names;
  for (const TensorInfo& info : model.tensors()) {
    if (!info.is_matrix()) continue;
    if (!tensor_regex.empty() && !std::regex_search(info.name, filter)) continue;
    names.push_back(info.name);
  }
  return names;
}

EvalReport evaluate_model(const ModelReader& model, const std::vector<std::string>& formats, const EvalOptions& opts) {
  EvalReport report;
  report.model = model.path();
  report.formats = formats;
  const std::vector<std::string> names = matrix_names(model, opts.tensor_regex);
  if (names.empty()) throw Error(model.path(), opts.tensor_regex, "no 2-D tensors to quantize");

  QuantOptions qopts;
  qopts.threads = opts.threads;
  qopts.tensor_importance = opts.tensor_importance;
  std::vector<std::unique_ptr<WeightFormat>> made;
  for (const std::string& f : formats) {
    made.push_back(make_weight_format(f));
    made.back()->plan(model, names, qopts);
  }

  const std::size_t total = names.size() * formats.size();
  std::size_t done = 0;
  // One tensor in memory at a time, quantized by every format before the next is read.
  for (const std::string& name : names) {
    const Tensor w = model.read(name);
    const QuantOptions tensor_opts = options_for_tensor(qopts, name, w.cols());
    for (std::size_t fi = 0; fi < made.size(); ++fi) {
      const QuantResult q = made[fi]->quantize(w, tensor_opts);
      EvalRow row;
      row.tensor = name;
      row.format = formats[fi];
      row.rows = w.rows();
      row.cols = w.cols();
      row.total_bits = q.total_bits;
      row.bpw = q.total_bits / static_cast<double>(w.values.size());
      row.metrics = compute_metrics(w.values, q.dequant, w.cols(), tensor_opts.channel_importance);
      row.choice = q.choice;
      report.rows.push_back(row);
      ++done;
      if (opts.progress) opts.progress(done, total, name, formats[fi]);
    }
  }

  for (std::size_t fi = 0; fi < formats.size(); ++fi) {
    const std::string& f = formats[fi];
    FormatSummary s;
    s.format = f;
    s.plan = made[fi]->describe_plan();
    double bits = 0, weights = 0;
    for (const EvalRow& r : report.rows) {
      if (r.format != f) continue;
      ++s.tensors;
      s.mean_sqnr_db += r.metrics.sqnr_db;
      s.mean_cosine += r.metrics.cosine;
      s.mean_acos += r.metrics.acos;
      bits += r.total_bits;
      weights += static_cast<double>(r.rows * r.cols);
    }
    if (s.tensors > 0) {
      s.mean_sqnr_db /= static_cast<double>(s.tensors);
      s.mean_cosine /= static_cast<double>(s.tensors);
      s.mean_acos /= static_cast<double>(s.tensors);
    }
    s.bpw = weights > 0 ? bits / weights : 0;
    report.summary.push_back(s);
  }
  return report;
}

nlohmann::json report_to_json(const EvalReport& report) {
  using nlohmann::json;
  json results = json::array();
  for (const EvalRow& r : report.rows) {
    results.push_back({{"tensor", r.tensor},
                       {"format", r.format},
                       {"shape", {r.rows, r.cols}},
                       {"bpw", r.bpw},
                       {"sqnr_db", r.metrics.sqnr_db},
                       {"rel_mse", r.metrics.rel_mse},
                       {"cosine", r.metrics.cosine},
                       {"acos", r.metrics.acos},
                       {"max_abs_error", r.metrics.max_abs_error}});
    if (!r.choice.is_null()) results.back()["choice"] = r.choice;
  }
  json summary = json::array();
  for (const FormatSummary& s : report.summary) {
    summary.push_back({{"format", s.format},
                       {"tensors", s.tensors},
                       {"mean_sqnr_db", s.mean_sqnr_db},
                       {"mean_cosine", s.mean_cosine},
                       {"mean_acos", s.mean_acos},
                       {"bpw", s.bpw}});
    if (!s.plan.is_null()) summary.back()["plan"] = s.plan;
  }
  return json{{"model", report.model}, {"formats", report.formats}, {"results", results}, {"summary", summary}};
}

}  // namespace sop
