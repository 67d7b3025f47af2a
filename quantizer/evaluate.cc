#include "quantizer/evaluate.h"

#include <algorithm>
#include <map>
#include <memory>
#include <regex>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "quantizer/io/ggml_types.h"
#include "quantizer/io/llama_names.h"
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

namespace {

// Mean metrics over the rows of one format; bpw over all its weights.
FormatSummary summarize(const std::vector<EvalRow>& rows, const std::string& format) {
  FormatSummary s;
  s.format = format;
  double bits = 0, weights = 0;
  for (const EvalRow& r : rows) {
    if (r.format != format) continue;
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
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Storage bits per weight of a stored type label ("Q4_K": 144 bytes per 256 weights = 4.5).
double stored_bpw(const TensorInfo& info) {
  const detail::GgmlType* type = detail::find_ggml_type(info.dtype_label.c_str());
  if (type == nullptr) return 0;  // a label ggml does not name (safetensors' F8_E4M3, ...): not known here
  return 8.0 * static_cast<double>(type->block_bytes) / static_cast<double>(type->block_elements);
}

}  // namespace

EvalReport compare_with_reference(const ModelReader& model, const ModelReader& reference, const EvalOptions& opts) {
  EvalReport report;
  report.model = model.path();
  const std::vector<std::string> names = matrix_names(model, opts.tensor_regex);
  if (names.empty()) throw Error(model.path(), opts.tensor_regex, "no 2-D tensors to compare");
  std::map<std::string, const TensorInfo*> in_reference;
  for (const TensorInfo& info : reference.tensors()) in_reference[info.name] = &info;
  std::map<std::string, const TensorInfo*> in_model;
  for (const TensorInfo& info : model.tensors()) in_model[info.name] = &info;

  std::size_t done = 0;
  for (const std::string& name : names) {
    const TensorInfo& info = *in_model.at(name);
    std::vector<std::string> candidates = {name, llama_cpp_tensor_name(name), hugging_face_tensor_name(name)};
    if (name == "output.weight" || name == "lm_head.weight") {
      candidates.push_back("token_embd.weight");  // tied embeddings: the output projection is the embedding
      candidates.push_back("model.embed_tokens.weight");
    }
    std::string match;
    for (const std::string& c : candidates) {
      if (!c.empty() && in_reference.count(c)) {
        match = c;
        break;
      }
    }
    if (match.empty()) {
      throw Error(reference.path(), name, "no tensor of this name or its Hugging Face / llama.cpp counterpart to compare " +
                                              model.path() + " with");
    }
    if (in_reference.at(match)->shape != info.shape) {
      throw Error(model.path(), name,
                  "shape " + shape_text(info.shape) + " differs from " + reference.path() + " " + match + " " +
                      shape_text(in_reference.at(match)->shape));
    }
    const Tensor w = reference.read(match);
    const Tensor q = model.read(name);
    const std::vector<float> importance = [&] {
      if (opts.tensor_importance == nullptr) return std::vector<float>{};
      const auto found = opts.tensor_importance->find(name);
      if (found == opts.tensor_importance->end() || static_cast<int64_t>(found->second.size()) != w.cols()) return std::vector<float>{};
      return found->second;
    }();
    EvalRow row;
    row.tensor = name;
    row.format = info.dtype_label.empty() ? dtype_name(info.dtype) : info.dtype_label;
    row.rows = w.rows();
    row.cols = w.cols();
    row.bpw = stored_bpw(info);
    row.total_bits = row.bpw * static_cast<double>(w.values.size());
    row.metrics = compute_metrics(w.values, q.values, w.cols(), importance);
    report.rows.push_back(row);
    ++done;
    if (opts.progress) opts.progress(done, names.size(), name, row.format);
  }
  for (const EvalRow& r : report.rows) {
    if (std::find(report.formats.begin(), report.formats.end(), r.format) == report.formats.end()) {
      report.formats.push_back(r.format);
    }
  }
  for (const std::string& f : report.formats) report.summary.push_back(summarize(report.rows, f));
  return report;
}

EvalReport evaluate_model(const ModelReader& model, const std::vector<std::string>& formats, const EvalOptions& opts) {
  EvalReport report;
  report.model = model.path();
  report.formats = formats;
  const std::vector<std::string> names = matrix_names(model, opts.tensor_regex);
  if (names.empty()) throw Error(model.path(), opts.tensor_regex, "no 2-D tensors to quantize");

  QuantOptions qopts;
  qopts.threads = opts.threads;
  qopts.lut_sram_bytes = opts.lut_sram_bytes;
  qopts.lut_lanes = opts.lut_lanes;
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
    report.summary.push_back(summarize(report.rows, formats[fi]));
    report.summary.back().plan = made[fi]->describe_plan();
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
