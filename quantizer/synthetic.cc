#include "quantizer/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>
#include <unordered_map>

#include "base/error.h"
#include "quantizer/io/safetensors_writer.h"

namespace sop {

// ---- spec parsing ---------------------------------------------------------------------------------

namespace {

enum class Distribution { Gaussian, StudentT, Laplace, Llm };

using synthetic::SyntheticRandom;
using synthetic::mix_seed;

struct SyntheticParams {
  std::string spec;  // as given (with the prefix), for messages and path()
  uint64_t seed = 1;
  Distribution distribution = Distribution::Llm;
  double scale = 0.02;
  double dof = 5.0;
  int64_t outliers = -1;  // -1: chosen from the input width
  double row_spread = 0.3;
  double tail = 0.01;
  double tail_gain = 4.0;
  bool llama_shapes = true;
  synthetic::ModelShape shape = synthetic::model_shape(synthetic::kLlamaSmall, "");  // dim, hidden, layers
  int64_t rows = 1024;
  int64_t cols = 1024;
};

// Largest single tensor the generator makes: 2^32 FP32 values (16 GiB) is already far beyond any
// real weight matrix.
constexpr uint64_t kMaxTensorElements = uint64_t{1} << 32;
constexpr int64_t kMaxDimension = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;

Distribution parse_distribution(const synthetic::SpecQuery& query, const std::string& key, const std::string& name) {
  if (name == "llm") return Distribution::Llm;
  if (name == "gaussian") return Distribution::Gaussian;
  if (name == "student-t") return Distribution::StudentT;
  if (name == "laplace") return Distribution::Laplace;
  query.fail(key, "unknown distribution '" + name + "' (llm, gaussian, student-t, laplace)");
}

SyntheticParams parse_spec(const std::string& spec_text) {
  SyntheticParams p;
  p.spec = spec_text.rfind(kSyntheticPrefix, 0) == 0 ? spec_text : kSyntheticPrefix + spec_text;
  synthetic::SpecQuery query(p.spec, kSyntheticPrefix);
  const std::string& kind = query.kind();

  if (kind == "llm") {
    p.distribution = Distribution::Llm;
  } else if (kind == "7b") {
    p.distribution = Distribution::Llm;
    p.shape = synthetic::model_shape(synthetic::kLlama2_7b, p.spec);
  } else if (kind == "gaussian" || kind == "student-t" || kind == "laplace") {
    p.distribution = parse_distribution(query, "kind", kind);
    p.llama_shapes = false;
  } else {
    query.fail("kind", kind.empty() ? "missing kind (llm, 7b, gaussian, student-t, laplace)"
                                    : "unknown kind '" + kind + "' (llm, 7b, gaussian, student-t, laplace)");
  }

  p.seed = query.seed("seed", p.seed);
  if (query.has("dist")) p.distribution = parse_distribution(query, "dist", query.text("dist", ""));
  p.scale = query.real("scale", p.scale, 1e-30, 1e30);
  p.dof = query.real("dof", p.dof, 0.1, 1e6);
  p.outliers = query.integer("outliers", p.outliers, 0, kMaxDimension);
  p.row_spread = query.real("row_spread", p.row_spread, 0.0, 10.0);
  p.tail = query.real("tail", p.tail, 0.0, 1.0);
  p.tail_gain = query.real("tail_gain", p.tail_gain, 1e-6, 1e6);
  const bool saw_llama_key = query.has("dim") || query.has("hidden") || query.has("layers");
  p.shape.dim = query.integer("dim", p.shape.dim, 1, kMaxDimension);
  p.shape.hidden = query.integer("hidden", p.shape.hidden, 1, kMaxDimension);
  p.shape.layers = query.integer("layers", p.shape.layers, 1, kMaxLayers);
  const bool saw_matrix_key = query.has("rows") || query.has("cols");
  p.rows = query.integer("rows", p.rows, 1, kMaxDimension);
  p.cols = query.integer("cols", p.cols, 1, kMaxDimension);
  query.reject_unknown("seed, dist, scale, dof, outliers, row_spread, tail, tail_gain, dim, hidden, layers, rows, cols");

  if (saw_matrix_key && saw_llama_key) {
    query.fail("rows", "rows/cols (one matrix) cannot be combined with dim/hidden/layers");
  }
  if (saw_matrix_key) p.llama_shapes = false;
  if (saw_llama_key) p.llama_shapes = true;
  const uint64_t largest = p.llama_shapes
                               ? static_cast<uint64_t>(std::max(p.shape.dim, p.shape.hidden)) * static_cast<uint64_t>(p.shape.dim)
                               : static_cast<uint64_t>(p.rows) * static_cast<uint64_t>(p.cols);
  if (largest > kMaxTensorElements) {
    query.fail(p.llama_shapes ? "dim" : "rows", "a tensor would exceed 2^32 elements");
  }
  return p;
}

// ---- generation -----------------------------------------------------------------------------------

// Per-input-channel gains of the "llm" distribution: a few channels 10-20x, the rest 1. Chosen from
// (seed, width) only, so every matrix with the same input width shares the same outlier channels.
std::vector<float> channel_gains(const SyntheticParams& p, int64_t cols) {
  std::vector<float> gains(static_cast<std::size_t>(cols), 1.0f);
  const int64_t count = std::min<int64_t>(cols, p.outliers >= 0 ? p.outliers : std::clamp<int64_t>(cols / 128, 2, 8));
  SyntheticRandom random(mix_seed(mix_seed(p.seed, 0x6F75746C69657273ull), static_cast<uint64_t>(cols)));
  std::vector<int64_t> order(static_cast<std::size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) order[static_cast<std::size_t>(i)] = i;
  for (int64_t i = 0; i < count; ++i) {  // partial Fisher-Yates: the first `count` entries are the pick
    const auto j = static_cast<std::size_t>(i + static_cast<int64_t>(random.below(static_cast<uint64_t>(cols - i))));
    std::swap(order[static_cast<std::size_t>(i)], order[j]);
    gains[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = static_cast<float>(10.0 + 10.0 * random.uniform());
  }
  return gains;
}

class SyntheticReader : public ModelReader {
 public:
  explicit SyntheticReader(SyntheticParams params) : params_(std::move(params)) {
    auto add = [&](std::string name, int64_t rows, int64_t cols) {
      TensorInfo info;
      info.name = std::move(name);
      info.dtype = DType::F32;
      info.dtype_label = "F32";
      info.shape = {rows, cols};
      index_by_name_.emplace(info.name, tensors_.size());
      tensors_.push_back(std::move(info));
    };
    if (!params_.llama_shapes) {
      add("weight", params_.rows, params_.cols);
      return;
    }
    // Decoder layers only: the quantizer leaves embeddings and the output head in high precision.
    for (auto& matrix : synthetic::llama_matrices(params_.shape, params_.shape.layers, false)) {
      add(std::move(matrix.name), matrix.rows, matrix.cols);
    }
  }

  const std::string& path() const override { return params_.spec; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }

  Tensor read(const std::string& name) const override {
    const auto found = index_by_name_.find(name);
    if (found == index_by_name_.end()) throw Error(params_.spec, name, "no such tensor");
    const TensorInfo& info = tensors_[found->second];
    Tensor tensor;
    tensor.name = info.name;
    tensor.shape = info.shape;
    generate(mix_seed(params_.seed, found->second), info.shape[0], info.shape[1], tensor.values);
    return tensor;
  }

 private:
  void generate(uint64_t tensor_seed, int64_t rows, int64_t cols, std::vector<float>& values) const {
    values.assign(static_cast<std::size_t>(rows * cols), 0.0f);
    const bool llm = params_.distribution == Distribution::Llm;
    std::vector<float> gains;
    std::vector<double> row_scales;
    if (llm) {
      gains = channel_gains(params_, cols);
      SyntheticRandom random(mix_seed(tensor_seed ^ 0x726F777363616C65ull, 0));
      row_scales.resize(static_cast<std::size_t>(rows));
      for (auto& s : row_scales) s = std::exp(params_.row_spread * random.gaussian());
    }
    // Normalizes the contaminated core (1 - t) N(0,1) + t N(0, g^2) back to unit variance.
    const double tail_norm = 1.0 / std::sqrt((1.0 - params_.tail) + params_.tail * params_.tail_gain * params_.tail_gain);

    auto fill_rows = [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        // One stream per row: results do not depend on how rows are split across threads.
        SyntheticRandom random(mix_seed(tensor_seed, static_cast<uint64_t>(r)));
        float* row = values.data() + r * cols;
        switch (params_.distribution) {
          case Distribution::Gaussian:
            for (int64_t c = 0; c < cols; ++c) row[c] = static_cast<float>(params_.scale * random.gaussian());
            break;
          case Distribution::Laplace:
            for (int64_t c = 0; c < cols; ++c) row[c] = static_cast<float>(params_.scale * random.laplace());
            break;
          case Distribution::StudentT:
            for (int64_t c = 0; c < cols; ++c) {
              row[c] = static_cast<float>(params_.scale * random.student_t(params_.dof));
            }
            break;
          case Distribution::Llm: {
            const double row_scale = params_.scale * row_scales[static_cast<std::size_t>(r)] * tail_norm;
            for (int64_t c = 0; c < cols; ++c) {
              double z = random.gaussian();
              if (random.uniform() < params_.tail) z *= params_.tail_gain;
              row[c] = static_cast<float>(row_scale * gains[static_cast<std::size_t>(c)] * z);
            }
            break;
          }
        }
      }
    };

    // Threads only pay off for big matrices; the split never changes the values.
    const int64_t elements = rows * cols;
    const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
    const auto workers = static_cast<int64_t>(
        std::min<int64_t>({static_cast<int64_t>(hardware), rows, std::max<int64_t>(1, elements / (1 << 18))}));
    if (workers <= 1) {
      fill_rows(0, rows);
      return;
    }
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(workers));
    for (int64_t w = 0; w < workers; ++w) {
      threads.emplace_back(fill_rows, rows * w / workers, rows * (w + 1) / workers);
    }
    for (auto& t : threads) t.join();
  }

  SyntheticParams params_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_by_name_;
};

}  // namespace

std::vector<SyntheticKindListing> synthetic_kinds() {
  const synthetic::ModelShape& small = synthetic::model_shape(synthetic::kLlamaSmall, "");
  const synthetic::ModelShape& seven_b = synthetic::model_shape(synthetic::kLlama2_7b, "");
  char small_weights[32];
  std::snprintf(small_weights, sizeof small_weights, "%.1f M weights",
                static_cast<double>(small.weights_per_layer() * static_cast<uint64_t>(small.layers)) * 1e-6);
  return {
      {"llm", "synthetic:llm", "Llama-shaped layers (" + small.summary() + ", " + small_weights + "), LLM-like values"},
      {"7b", "synthetic:7b?layers=2", "Llama-2-7B shapes (" + seven_b.summary() + "), generated lazily"},
      {"gaussian", "synthetic:gaussian?rows=4096&cols=4096", "one matrix of N(0, scale^2) values"},
      {"student-t", "synthetic:student-t?dof=3", "one matrix, Student-t tails, std dev `scale`"},
      {"laplace", "synthetic:laplace", "one matrix, Laplace, std dev `scale`"},
  };
}

std::unique_ptr<ModelReader> open_synthetic(const std::string& spec) {
  return std::make_unique<SyntheticReader>(parse_spec(spec));
}

uint64_t write_synthetic_safetensors(const std::string& spec, const std::string& out_path, DType dtype) {
  const auto model = open_synthetic(spec);
  return write_safetensors(*model, out_path, dtype, {{"format", "pt"}, {"source", model->path()}});
}

}  // namespace sop
