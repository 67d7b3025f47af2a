#include "quantizer/synthetic.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <unordered_map>

#include "base/error.h"
#include "quantizer/io/safetensors_writer.h"

namespace sop {

// ---- random source --------------------------------------------------------------------------------

namespace detail {

uint64_t mix_seed(uint64_t seed, uint64_t salt) {
  // splitmix64's finalizer over seed + golden-ratio multiples of the salt: nearby salts give
  // unrelated streams, which mt19937_64's own seeding does not promise.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

SyntheticRandom::SyntheticRandom(uint64_t seed) : engine_(seed) {}

uint64_t SyntheticRandom::next_u64() { return engine_(); }

double SyntheticRandom::uniform() { return static_cast<double>(engine_() >> 11) * 0x1p-53; }

uint64_t SyntheticRandom::below(uint64_t bound) {
  // Reject the short top slice of the 64-bit range so every residue is equally likely.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t x = engine_();
    if (x >= threshold) return x % bound;
  }
}

namespace {
// (0, 1): never exactly 0 or 1, so logarithms stay finite.
double uniform_open(std::mt19937_64& engine) { return (static_cast<double>(engine() >> 11) + 0.5) * 0x1p-53; }
}  // namespace

double SyntheticRandom::gaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Marsaglia's polar method: needs only log and sqrt, no trigonometry.
  double u = 0;
  double v = 0;
  double s = 0;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * std::log(s) / s);
  spare_ = v * factor;
  has_spare_ = true;
  return u * factor;
}

double SyntheticRandom::laplace() {
  // A random sign times an exponential; scale 1/sqrt(2) makes the variance 2 b^2 = 1.
  const uint64_t bits = engine_();
  const double magnitude = -std::log((static_cast<double>(bits >> 11) + 0.5) * 0x1p-53) * 0.70710678118654752440;
  return (bits & 1u) ? -magnitude : magnitude;
}

double SyntheticRandom::gamma(double shape) {
  if (shape < 1.0) {
    // Boost a small shape to shape + 1 and scale back by U^(1/shape).
    const double boosted = gamma(shape + 1.0);
    return boosted * std::pow(uniform_open(engine_), 1.0 / shape);
  }
  // Marsaglia and Tsang (2000), "A simple method for generating gamma variables".
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0;
    double v = 0;
    do {
      x = gaussian();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform_open(engine_);
    if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double SyntheticRandom::student_t(double dof) {
  const double z = gaussian();
  const double chi_square = 2.0 * gamma(0.5 * dof);
  const double t = z / std::sqrt(chi_square / dof);
  return dof > 2.0 ? t * std::sqrt((dof - 2.0) / dof) : t;
}

}  // namespace detail

// ---- spec parsing ---------------------------------------------------------------------------------

namespace {

enum class Distribution { Gaussian, StudentT, Laplace, Llm };

struct SyntheticParams {
  std::string spec;  // as given, for messages and path()
  uint64_t seed = 1;
  Distribution distribution = Distribution::Llm;
  double scale = 0.02;
  double dof = 5.0;
  int64_t outliers = -1;  // -1: chosen from the input width
  double row_spread = 0.3;
  double tail = 0.01;
  double tail_gain = 4.0;
  bool llama_shapes = true;
  int64_t dim = 256;
  int64_t hidden = 688;
  int64_t layers = 4;
  int64_t rows = 1024;
  int64_t cols = 1024;
};

// Largest single tensor the generator makes: 2^32 FP32 values (16 GiB) is already far beyond any
// real weight matrix.
constexpr uint64_t kMaxTensorElements = uint64_t{1} << 32;
constexpr int64_t kMaxDimension = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;

constexpr const char* kLlamaProjections[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                             "self_attn.o_proj", "mlp.gate_proj",     "mlp.up_proj",
                                             "mlp.down_proj"};

std::string where_of(const SyntheticParams& p) { return p.spec; }

int64_t parse_integer(const SyntheticParams& p, const std::string& key, const std::string& text, int64_t low,
                      int64_t high) {
  int64_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    throw Error(where_of(p), key, "value '" + text + "' is not an integer");
  }
  if (value < low || value > high) {
    throw Error(where_of(p), key,
                "value " + text + " is out of range [" + std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return value;
}

uint64_t parse_seed(const SyntheticParams& p, const std::string& text) {
  uint64_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    throw Error(where_of(p), "seed", "value '" + text + "' is not an unsigned 64-bit integer");
  }
  return value;
}

double parse_real(const SyntheticParams& p, const std::string& key, const std::string& text, double low,
                  double high) {
  char* end = nullptr;
  const double value = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    throw Error(where_of(p), key, "value '" + text + "' is not a finite number");
  }
  if (value < low || value > high) {
    throw Error(where_of(p), key, "value " + text + " is out of range");
  }
  return value;
}

Distribution parse_distribution(const SyntheticParams& p, const std::string& key, const std::string& name) {
  if (name == "llm") return Distribution::Llm;
  if (name == "gaussian") return Distribution::Gaussian;
  if (name == "student-t") return Distribution::StudentT;
  if (name == "laplace") return Distribution::Laplace;
  throw Error(where_of(p), key, "unknown distribution '" + name + "' (llm, gaussian, student-t, laplace)");
}

SyntheticParams parse_spec(const std::string& spec_text) {
  SyntheticParams p;
  p.spec = spec_text.rfind(kSyntheticPrefix, 0) == 0 ? spec_text : kSyntheticPrefix + spec_text;
  const std::string body = p.spec.substr(std::string(kSyntheticPrefix).size());
  const std::size_t question = body.find('?');
  const std::string kind = body.substr(0, question);

  if (kind == "llm") {
    p.distribution = Distribution::Llm;
  } else if (kind == "7b") {
    p.distribution = Distribution::Llm;
    p.dim = 4096;
    p.hidden = 11008;
    p.layers = 32;
  } else if (kind == "gaussian" || kind == "student-t" || kind == "laplace") {
    p.distribution = parse_distribution(p, "kind", kind);
    p.llama_shapes = false;
  } else {
    throw Error(where_of(p), "kind",
                kind.empty() ? "missing kind (llm, 7b, gaussian, student-t, laplace)"
                             : "unknown kind '" + kind + "' (llm, 7b, gaussian, student-t, laplace)");
  }

  bool saw_matrix_key = false;
  bool saw_llama_key = false;
  std::unordered_map<std::string, bool> seen;
  std::string rest = question == std::string::npos ? "" : body.substr(question + 1);
  std::size_t start = 0;
  while (question != std::string::npos && start <= rest.size()) {
    const std::size_t amp = rest.find('&', start);
    const std::string item = rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    start = amp == std::string::npos ? rest.size() + 1 : amp + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) throw Error(where_of(p), item, "expected key=value");
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (seen[key]) throw Error(where_of(p), key, "given twice");
    seen[key] = true;
    if (key == "seed") {
      p.seed = parse_seed(p, value);
    } else if (key == "dist") {
      p.distribution = parse_distribution(p, key, value);
    } else if (key == "scale") {
      p.scale = parse_real(p, key, value, 1e-30, 1e30);
    } else if (key == "dof") {
      p.dof = parse_real(p, key, value, 0.1, 1e6);
    } else if (key == "outliers") {
      p.outliers = parse_integer(p, key, value, 0, kMaxDimension);
    } else if (key == "row_spread") {
      p.row_spread = parse_real(p, key, value, 0.0, 10.0);
    } else if (key == "tail") {
      p.tail = parse_real(p, key, value, 0.0, 1.0);
    } else if (key == "tail_gain") {
      p.tail_gain = parse_real(p, key, value, 1e-6, 1e6);
    } else if (key == "dim" || key == "hidden" || key == "layers") {
      saw_llama_key = true;
      const int64_t high = key == "layers" ? kMaxLayers : kMaxDimension;
      (key == "dim" ? p.dim : key == "hidden" ? p.hidden : p.layers) = parse_integer(p, key, value, 1, high);
    } else if (key == "rows" || key == "cols") {
      saw_matrix_key = true;
      (key == "rows" ? p.rows : p.cols) = parse_integer(p, key, value, 1, kMaxDimension);
    } else {
      throw Error(where_of(p), key,
                  "unknown key (seed, dist, scale, dof, outliers, row_spread, tail, tail_gain, dim, hidden, layers, "
                  "rows, cols)");
    }
  }
  if (saw_matrix_key && saw_llama_key) {
    throw Error(where_of(p), "rows", "rows/cols (one matrix) cannot be combined with dim/hidden/layers");
  }
  if (saw_matrix_key) p.llama_shapes = false;
  if (saw_llama_key) p.llama_shapes = true;
  const uint64_t largest = p.llama_shapes ? static_cast<uint64_t>(std::max(p.dim, p.hidden)) * static_cast<uint64_t>(p.dim)
                                          : static_cast<uint64_t>(p.rows) * static_cast<uint64_t>(p.cols);
  if (largest > kMaxTensorElements) {
    throw Error(where_of(p), p.llama_shapes ? "dim" : "rows", "a tensor would exceed 2^32 elements");
  }
  return p;
}

// ---- generation -----------------------------------------------------------------------------------

// Per-input-channel gains of the "llm" distribution: a few channels 10-20x, the rest 1. Chosen from
// (seed, width) only, so every matrix with the same input width shares the same outlier channels.
std::vector<float> channel_gains(const SyntheticParams& p, int64_t cols) {
  std::vector<float> gains(static_cast<std::size_t>(cols), 1.0f);
  const int64_t count = std::min<int64_t>(cols, p.outliers >= 0 ? p.outliers : std::clamp<int64_t>(cols / 128, 2, 8));
  detail::SyntheticRandom random(detail::mix_seed(detail::mix_seed(p.seed, 0x6F75746C69657273ull), static_cast<uint64_t>(cols)));
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
    for (int64_t layer = 0; layer < params_.layers; ++layer) {
      for (const char* projection : kLlamaProjections) {
        const std::string name = "model.layers." + std::to_string(layer) + "." + projection + ".weight";
        const std::string proj = projection;
        if (proj == "mlp.gate_proj" || proj == "mlp.up_proj") {
          add(name, params_.hidden, params_.dim);
        } else if (proj == "mlp.down_proj") {
          add(name, params_.dim, params_.hidden);
        } else {
          add(name, params_.dim, params_.dim);
        }
      }
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
    generate(detail::mix_seed(params_.seed, found->second), info.shape[0], info.shape[1], tensor.values);
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
      detail::SyntheticRandom random(detail::mix_seed(tensor_seed ^ 0x726F777363616C65ull, 0));
      row_scales.resize(static_cast<std::size_t>(rows));
      for (auto& s : row_scales) s = std::exp(params_.row_spread * random.gaussian());
    }
    // Normalizes the contaminated core (1 - t) N(0,1) + t N(0, g^2) back to unit variance.
    const double tail_norm = 1.0 / std::sqrt((1.0 - params_.tail) + params_.tail * params_.tail_gain * params_.tail_gain);

    auto fill_rows = [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        // One stream per row: results do not depend on how rows are split across threads.
        detail::SyntheticRandom random(detail::mix_seed(tensor_seed, static_cast<uint64_t>(r)));
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
  return {
      {"llm", "synthetic:llm", "Llama-shaped layers (dim 256, hidden 688, 4 layers, 3.2 M weights), LLM-like values"},
      {"7b", "synthetic:7b?layers=2", "Llama-2-7B shapes (dim 4096, hidden 11008, 32 layers), generated lazily"},
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
