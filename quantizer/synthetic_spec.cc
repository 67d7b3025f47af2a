#include "quantizer/synthetic_spec.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/error.h"

namespace sop::synthetic {

// ---- seeded random sources ------------------------------------------------------------------------

namespace {
constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio, splitmix64's increment
}  // namespace

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + kGoldenGamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t mix_seed(uint64_t seed, uint64_t salt) { return splitmix64(seed + kGoldenGamma * salt); }

CounterRandom CounterRandom::for_row(uint64_t seed, uint64_t matrix, uint64_t row) {
  // The FNV-1a prime spreads matrix indices apart before the row is added, so (matrix, row) pairs
  // do not collide for any row count a model has.
  return CounterRandom(splitmix64(seed ^ splitmix64(matrix * 0x100000001b3ull + row)));
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

// ---- specs ----------------------------------------------------------------------------------------

SpecQuery::SpecQuery(std::string spec, const std::string& prefix) : spec_(std::move(spec)) {
  const std::size_t body_start = !prefix.empty() && spec_.rfind(prefix, 0) == 0 ? prefix.size() : 0;
  const std::size_t question = spec_.find('?', body_start);
  kind_ = spec_.substr(body_start, question == std::string::npos ? std::string::npos : question - body_start);
  if (question == std::string::npos) return;
  const std::string rest = spec_.substr(question + 1);
  for (std::size_t start = 0; start <= rest.size();) {
    const std::size_t amp = rest.find('&', start);
    const std::string item = rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    start = amp == std::string::npos ? rest.size() + 1 : amp + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) fail(item, "expected key=value");
    Item parsed{item.substr(0, eq), item.substr(eq + 1)};
    if (find(parsed.key) != nullptr) fail(parsed.key, "given twice");
    items_.push_back(std::move(parsed));
  }
}

const SpecQuery::Item* SpecQuery::find(const std::string& key) const {
  for (const Item& item : items_) {
    if (item.key == key) return &item;
  }
  return nullptr;
}

SpecQuery::Item* SpecQuery::take(const std::string& key) {
  for (Item& item : items_) {
    if (item.key == key) {
      item.read = true;
      return &item;
    }
  }
  return nullptr;
}

bool SpecQuery::has(const std::string& key) const { return find(key) != nullptr; }

void SpecQuery::fail(const std::string& key, const std::string& message) const { throw Error(spec_, key, message); }

std::string SpecQuery::text(const std::string& key, const std::string& fallback) {
  const Item* item = take(key);
  return item ? item->value : fallback;
}

namespace {
// The whole of `text` as an integer of type T, or false.
template <typename T>
bool parse_whole(const std::string& text, T& value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}
}  // namespace

int64_t SpecQuery::integer(const std::string& key, int64_t fallback, int64_t low, int64_t high) {
  const Item* item = take(key);
  if (!item) return fallback;
  int64_t value = 0;
  if (!parse_whole(item->value, value)) fail(key, "value '" + item->value + "' is not an integer");
  if (value < low || value > high) {
    fail(key, "value " + item->value + " is out of range [" + std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return value;
}

uint64_t SpecQuery::seed(const std::string& key, uint64_t fallback) {
  const Item* item = take(key);
  if (!item) return fallback;
  uint64_t value = 0;
  if (!parse_whole(item->value, value)) fail(key, "value '" + item->value + "' is not an unsigned 64-bit integer");
  return value;
}

double SpecQuery::real(const std::string& key, double fallback, double low, double high) {
  const Item* item = take(key);
  if (!item) return fallback;
  const std::string& text = item->value;
  char* end = nullptr;
  const double value = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    fail(key, "value '" + text + "' is not a finite number");
  }
  if (value < low || value > high) fail(key, "value " + text + " is out of range");
  return value;
}

bool SpecQuery::flag(const std::string& key, bool fallback) { return integer(key, fallback ? 1 : 0, 0, 1) != 0; }

void SpecQuery::reject_unknown(const std::string& allowed) const {
  for (const Item& item : items_) {
    if (!item.read) fail(item.key, "unknown key (" + allowed + ")");
  }
}

// ---- model shapes ---------------------------------------------------------------------------------

uint64_t ModelShape::weights_per_layer() const {
  const auto d = static_cast<uint64_t>(dim);
  const auto h = static_cast<uint64_t>(hidden);
  return 4 * d * d + 3 * h * d;
}

std::string ModelShape::summary() const {
  return "dim " + std::to_string(dim) + ", hidden " + std::to_string(hidden) + ", " + std::to_string(layers) +
         " layers";
}

const std::vector<ModelShape>& model_shapes() {
  static const std::vector<ModelShape> shapes = {
      // Touvron et al. 2023, "Llama 2", table of model sizes; the HF checkpoint's config.json.
      {kLlama2_7b, 4096, 11008, 32, 32000},
      // Llama-shaped but small enough for unit tests and the demo (hidden = 2.6875 x dim, as in 7B).
      {kLlamaSmall, 256, 688, 4, 0},
  };
  return shapes;
}

const ModelShape& model_shape(const std::string& name, const std::string& spec) {
  std::string known;
  for (const ModelShape& shape : model_shapes()) {
    if (shape.name == name) return shape;
    known += (known.empty() ? "" : ", ") + shape.name;
  }
  throw Error(spec, "", "unknown shape list '" + name + "' (known: " + known + ")");
}

std::vector<MatrixShape> llama_matrices(const ModelShape& shape, int64_t layers, bool lm_head) {
  std::vector<MatrixShape> matrices;
  for (int64_t layer = 0; layer < layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    for (const char* attention : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      matrices.push_back({prefix + "self_attn." + attention + ".weight", shape.dim, shape.dim});
    }
    matrices.push_back({prefix + "mlp.gate_proj.weight", shape.hidden, shape.dim});
    matrices.push_back({prefix + "mlp.up_proj.weight", shape.hidden, shape.dim});
    matrices.push_back({prefix + "mlp.down_proj.weight", shape.dim, shape.hidden});
  }
  if (lm_head) {
    if (shape.vocab <= 0) throw Error(shape.name, "lm_head", "this shape has no output head");
    matrices.push_back({"lm_head.weight", shape.vocab, shape.dim});
  }
  return matrices;
}

}  // namespace sop::synthetic
