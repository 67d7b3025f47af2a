#include "quantizer/sop/anchors.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "quantizer/codebooks/codebooks.h"
#include "model/golden/formats.h"
#include "base/half.h"
#include "base/parallel.h"

namespace sop {
namespace detail {
namespace {

// Nearest entry of an ascending table.
float nearest_in(const std::vector<float>& sorted, float y) {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), y);
  if (it == sorted.end()) return sorted.back();
  if (it == sorted.begin()) return *it;
  return (y - *(it - 1)) <= (*it - y) ? *(it - 1) : *it;
}

int nearest_index(const std::vector<float>& sorted, float y) {
  const float v = nearest_in(sorted, y);
  return static_cast<int>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
}

float signed_max(const float* x, int n) {
  float m = 0;
  for (int j = 0; j < n; ++j) if (std::fabs(x[j]) > std::fabs(m)) m = x[j];
  return m;
}

float round_fp16(float v) { return fp16_to_fp32(fp32_to_fp16(v)); }

}  // namespace

void quantize_block_nf4(const float* x, int n, float* q) {
  static const std::vector<float> table = nf4_values();
  const float absmax = std::fabs(signed_max(x, n));
  for (int j = 0; j < n; ++j) q[j] = absmax == 0 ? 0.0f : nearest_in(table, x[j] / absmax) * absmax;
}

void quantize_block_signed_table(const float* x, int n, const std::vector<float>& table, float* q) {
  const float m = signed_max(x, n);  // the extreme lands on +1
  for (int j = 0; j < n; ++j) q[j] = m == 0 ? 0.0f : nearest_in(table, x[j] / m) * m;
}

void quantize_block_q4_0(const float* x, int n, float* q) {
  // llama.cpp: d = max / -8 with the signed max, codes round(x / d) + 8 clamped to [0, 15], d in FP16.
  const float max = signed_max(x, n);
  const float d = max / -8.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  const float d16 = round_fp16(d);
  for (int j = 0; j < n; ++j) {
    const int code = std::min(15, static_cast<int>(x[j] * id + 8.5f));
    q[j] = static_cast<float>(code - 8) * d16;
  }
}

void quantize_block_iq4_nl(const float* x, const float* w, int n, float* q) {
  static const std::vector<float> values = iq4nl_values();
  const float max = signed_max(x, n);
  if (max == 0) {
    for (int j = 0; j < n; ++j) q[j] = 0;
    return;
  }
  // llama.cpp's search: start from d = -max / values[0], then 15 perturbed inverse scales
  // (itry + values[0]) / max; each assigns nearest codes and refits d by weighted least squares;
  // keep the one with the largest sumqx^2 / sumq2 (the least weighted error).
  auto fit = [&](float id, double* d_out) {
    double sumqx = 0, sumq2 = 0;
    for (int j = 0; j < n; ++j) {
      const double v = values[static_cast<std::size_t>(nearest_index(values, x[j] * id))];
      sumqx += w[j] * v * x[j];
      sumq2 += w[j] * v * v;
    }
    *d_out = sumq2 > 0 ? sumqx / sumq2 : 0;
    return sumq2 > 0 ? sumqx * sumqx / sumq2 : 0;
  };
  double d = 0;
  double best = fit(-values[0] / max, &d);  // id = 1 / d0 with d0 = -max / values[0]
  for (int itry = -7; itry <= 7; ++itry) {
    double dt = 0;
    const double score = fit((static_cast<float>(itry) + values[0]) / max, &dt);
    if (score > best) { best = score; d = dt; }
  }
  const float d16 = round_fp16(static_cast<float>(d));
  const float id = d16 != 0 ? 1.0f / d16 : 0.0f;
  for (int j = 0; j < n; ++j) q[j] = values[static_cast<std::size_t>(nearest_index(values, x[j] * id))] * d16;
}

void quantize_block_nvfp4(const float* x, int n, float tensor_scale, float* q) {
  static const FloatRounder e2m1(number_format("E2M1"));
  static const NumberFormat& ue4m3 = number_format("UE4M3");
  const float amax = std::fabs(signed_max(x, n));
  const float s = static_cast<float>(decode(ue4m3, encode(ue4m3, amax / 6.0f / tensor_scale))) * tensor_scale;
  for (int j = 0; j < n; ++j) q[j] = s == 0 ? 0.0f : e2m1.round(x[j] / s) * s;
}

void quantize_block_mxfp4(const float* x, int n, float* q) {
  static const FloatRounder e2m1(number_format("E2M1"));
  const float amax = std::fabs(signed_max(x, n));
  if (amax == 0) {
    for (int j = 0; j < n; ++j) q[j] = 0;
    return;
  }
  // X = 2^(floor(log2 amax) - emax_elem), emax_elem = 2 for E2M1; elements saturate.
  const float s = std::ldexp(1.0f, std::max(-127, std::ilogb(amax) - 2));
  for (int j = 0; j < n; ++j) q[j] = e2m1.round(x[j] / s) * s;
}

}  // namespace detail

namespace {

struct AnchorSpec {
  const char* name;
  const char* description;
  int block;
  int scale_bits;
  int tensor_bits;  // per-tensor scale, counted once
  // Quantizes one block; w are the error weights (importance) of its columns.
  std::function<void(const float* x, const float* w, int n, float tensor_scale, float* q)> block_fn;
  bool needs_tensor_scale;
};

const std::vector<AnchorSpec>& anchor_specs() {
  static const std::vector<float> bof4s = [] {
    auto v = fixed_codebook("BOF4-S", 64).values;
    std::sort(v.begin(), v.end());
    return v;
  }();
  static const std::vector<AnchorSpec> specs = {
      {"NF4", "bitsandbytes NF4: block 64, FP32 absmax (anchor)", 64, 32, 0,
       [](const float* x, const float*, int n, float, float* q) { detail::quantize_block_nf4(x, n, q); }, false},
      {"IQ4_NL", "llama.cpp IQ4_NL: block 32, FP16 scale with its scale search (anchor)", 32, 16, 0,
       [](const float* x, const float* w, int n, float, float* q) { detail::quantize_block_iq4_nl(x, w, n, q); }, false},
      {"Q4_0", "llama.cpp Q4_0: block 32, FP16 d = max / -8 (anchor)", 32, 16, 0,
       [](const float* x, const float*, int n, float, float* q) { detail::quantize_block_q4_0(x, n, q); }, false},
      {"NVFP4", "NVFP4: E2M1, block 16, UE4M3 scale + FP32 per-tensor (anchor)", 16, 8, 32,
       [](const float* x, const float*, int n, float t, float* q) { detail::quantize_block_nvfp4(x, n, t, q); }, true},
      {"MXFP4", "OCP MXFP4: E2M1, block 32, E8M0 scale (anchor)", 32, 8, 0,
       [](const float* x, const float*, int n, float, float* q) { detail::quantize_block_mxfp4(x, n, q); }, false},
      {"BOF4-S", "BOF4-S (generated table): block 64, FP32 signed-max scale (anchor)", 64, 32, 0,
       [](const float* x, const float*, int n, float, float* q) { detail::quantize_block_signed_table(x, n, bof4s, q); },
       false},
  };
  return specs;
}

class AnchorFormat : public WeightFormat {
 public:
  explicit AnchorFormat(const AnchorSpec& spec) : spec_(spec) {}
  std::string name() const override { return spec_.name; }

  QuantResult quantize(const Tensor& w, const QuantOptions& opts) const override {
    const int64_t rows = w.rows(), cols = w.cols();
    std::vector<float> weight(static_cast<std::size_t>(cols), 1.0f);
    if (static_cast<int64_t>(opts.channel_importance.size()) == cols) weight = opts.channel_importance;
    float tensor_scale = 1;
    if (spec_.needs_tensor_scale) {
      float amax = 0;
      for (float v : w.values) amax = std::max(amax, std::fabs(v));
      tensor_scale = amax > 0 ? amax / (6.0f * 448.0f) : 1.0f;  // NVFP4: amax / (6 * 448)
    }
    QuantResult r;
    r.dequant.resize(w.values.size());
    const int64_t bpr = (cols + spec_.block - 1) / spec_.block;
    parallel_for_ranges(rows, opts.threads, 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t b = 0; b < bpr; ++b) {
          const int64_t c0 = b * spec_.block;
          const int n = static_cast<int>(std::min<int64_t>(spec_.block, cols - c0));
          spec_.block_fn(w.values.data() + i * cols + c0, weight.data() + c0, n, tensor_scale,
                         r.dequant.data() + i * cols + c0);
        }
      }
    });
    r.total_bits = static_cast<double>(w.values.size()) * 4 + static_cast<double>(rows * bpr) * spec_.scale_bits +
                   spec_.tensor_bits;
    return r;
  }

 private:
  const AnchorSpec& spec_;
};

}  // namespace

std::vector<WeightFormatListing> anchor_format_listings() {
  std::vector<WeightFormatListing> out;
  for (const auto& s : anchor_specs()) {
    out.push_back({s.name, s.description, 4.0 + static_cast<double>(s.scale_bits) / s.block});
  }
  return out;
}

std::unique_ptr<WeightFormat> make_anchor_format(const std::string& name) {
  for (const auto& s : anchor_specs()) {
    if (name == s.name) return std::make_unique<AnchorFormat>(s);
  }
  return nullptr;
}

}  // namespace sop
