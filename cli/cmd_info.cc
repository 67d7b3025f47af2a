// sop info: what a checkpoint holds (tensors, dtypes, shapes; GGUF and safetensors metadata), and
// with --stats, reads every tensor to check it and summarize its values.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/error.h"
#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/safetensors_reader.h"
#include "quantizer/model_reader.h"

namespace sop::cli {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string with_thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

std::string tensor_stats(const Tensor& t) {
  double sum = 0;
  double sum_squares = 0;
  double absmax = 0;
  for (float v : t.values) {
    sum += v;
    sum_squares += static_cast<double>(v) * v;
    absmax = std::max(absmax, std::fabs(static_cast<double>(v)));
  }
  const double n = std::max<double>(1.0, static_cast<double>(t.values.size()));
  const double mean = sum / n;
  const double variance = std::max(0.0, sum_squares / n - mean * mean);
  std::ostringstream out;
  out << std::setprecision(4) << "mean " << mean << "  std " << std::sqrt(variance) << "  absmax " << absmax
      << "  absmax/std " << (variance > 0 ? absmax / std::sqrt(variance) : 0.0);
  return out.str();
}

}  // namespace

int run_info(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string path;
  std::size_t shown_items = 5;
  desc.add_options()
      ("model", po::value<std::string>(&path)->required(),
       "checkpoint: .safetensors, model.safetensors.index.json, .gguf, a directory, or synthetic:<spec>")
      ("stats", "read every tensor: check for NaN/Inf and print mean, std and absmax")
      ("items", po::value<std::size_t>(&shown_items)->default_value(5), "array elements shown per metadata value");
  po::variables_map vm;
  if (auto code = parse_options("info", "PATH [--stats]", desc, args, vm, {"model"})) return *code;

  const auto model = open_model(path);
  std::cout << "path: " << model->path() << "\n";
  if (const auto* gguf = dynamic_cast<const GgufReader*>(model.get())) {
    std::cout << "format: GGUF v" << gguf->version() << ", alignment " << gguf->alignment() << "\n";
    std::cout << "metadata (" << gguf->metadata().size() << " keys):\n";
    for (const auto& [key, value] : gguf->metadata()) {
      std::cout << "  " << key << " = " << value.to_display(shown_items);
      if (!value.is_array()) std::cout << "  (" << gguf_type_name(value.type()) << ")";
      std::cout << "\n";
    }
  } else if (const auto* st = dynamic_cast<const SafetensorsReader*>(model.get())) {
    std::cout << "format: safetensors, " << st->shard_count() << (st->shard_count() == 1 ? " file" : " shards") << "\n";
    if (!st->metadata().empty()) {
      std::cout << "metadata (" << st->metadata().size() << " keys):\n";
      for (const auto& [key, value] : st->metadata()) std::cout << "  " << key << " = " << value << "\n";
    }
  } else {
    std::cout << "format: synthetic (generated on read)\n";
  }

  const auto& tensors = model->tensors();
  uint64_t total_elements = 0;
  std::size_t name_width = 4;
  for (const TensorInfo& t : tensors) {
    total_elements += static_cast<uint64_t>(t.element_count());
    name_width = std::max(name_width, t.name.size());
  }
  std::cout << "tensors (" << tensors.size() << ", " << with_thousands(total_elements) << " elements):\n";
  const bool stats = vm.count("stats") != 0;
  const auto start = std::chrono::steady_clock::now();
  uint64_t elements_read = 0;
  std::size_t failures = 0;
  for (const TensorInfo& t : tensors) {
    const std::string label = t.dtype_label.empty() ? dtype_name(t.dtype) : t.dtype_label;
    std::cout << "  " << std::left << std::setw(static_cast<int>(name_width)) << t.name << "  " << std::setw(8) << label
              << std::setw(16) << shape_text(t.shape) << std::right;
    if (stats) {
      if (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16 || t.dtype == DType::F64) {
        try {
          const Tensor values = model->read(t.name);
          elements_read += values.values.size();
          std::cout << "  " << tensor_stats(values);
        } catch (const Error& e) {
          ++failures;
          std::cout << "  ERROR: " << e.what();
        }
      } else {
        std::cout << "  (not read: " << label << ")";
      }
    }
    std::cout << "\n";
  }
  if (stats) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "read " << with_thousands(elements_read) << " values in " << std::setprecision(3) << seconds << " s ("
              << (seconds > 0 ? static_cast<double>(elements_read) / seconds / 1e6 : 0.0) << " M values/s)"
              << (failures ? ", " + std::to_string(failures) + " tensor(s) failed" : std::string()) << "\n";
  }
  return failures ? 1 : 0;
}

}  // namespace sop::cli
