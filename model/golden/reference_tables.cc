#include "model/golden/reference_tables.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>

namespace sop::golden {
namespace {

// Sign-magnitude OCP float element: code = s | e | m, bias `bias`, no inf/NaN (E2M1, E2M3, E3M2).
std::vector<double> ocp_element_values(int exp_bits, int man_bits, int bias) {
  const int n = 1 << (1 + exp_bits + man_bits);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int c = 0; c < n; ++c) {
    const int m = c & ((1 << man_bits) - 1);
    const int e = (c >> man_bits) & ((1 << exp_bits) - 1);
    const bool neg = (c >> (exp_bits + man_bits)) & 1;
    const double mag = e == 0 ? std::ldexp(m, 1 - bias - man_bits)
                              : std::ldexp((1 << man_bits) + m, e - bias - man_bits);
    v[static_cast<std::size_t>(c)] = neg ? -mag : mag;
  }
  return v;
}

HifRounding measure(const Codebook& cb, const std::function<double(double)>& round) {
  HifRounding r;
  for (std::size_t i = 0; i < cb.values.size(); ++i) {
    const double v = cb.values[i];
    const double q = round(v);
    if (q == v) continue;
    ++r.inexact;
    const double err = std::fabs(q - v);
    if (v != 0) r.worst_rel = std::max(r.worst_rel, err / std::fabs(v));
    double gap = std::numeric_limits<double>::infinity();
    for (double w : cb.values) {
      if (w != v) gap = std::min(gap, std::fabs(w - v));
    }
    r.worst_step = std::max(r.worst_step, err / gap);
  }
  return r;
}

}  // namespace

std::vector<Codebook> reference_codebooks() {
  std::vector<Codebook> out;
  out.push_back({"E2M1", ocp_element_values(2, 1, 1), true});
  out.push_back({"E2M3 (64)", ocp_element_values(2, 3, 1), true});
  out.push_back({"E3M2 (64)", ocp_element_values(3, 2, 3), true});
  std::vector<double> split87;
  for (int k = -7; k <= 8; ++k) split87.push_back(k / 8.0);
  out.push_back({"Split87", split87, true});
  // bitsandbytes NF4 (FACTS.md).
  out.push_back({"NF4",
                 {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                  -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0},
                 false});
  // llama.cpp kvalues_iq4nl normalized by 127 (FACTS.md).
  std::vector<double> iq4;
  for (int k : {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}) iq4.push_back(k / 127.0);
  out.push_back({"IQ4_NL/127", iq4, false});
  return out;
}

HifRounding measure_hif(const HifFormat& f, const Codebook& cb) {
  return measure(cb, [&f](double v) { return hif_decode(f, hif_encode(f, v)); });
}

HifRounding measure_fp16(const Codebook& cb) {
  return measure(cb, [](double v) { return fp16_decode(fp16_encode(v)); });
}

std::string hif_exactness_table(const HifFormat& f) {
  char line[256];
  std::snprintf(line, sizeof line, "HIF M%dE%d bias %d (%d bits/entry) vs FP16 (16 bits/entry)\n\n",
                f.man_bits, f.exp_bits, f.bias, f.bits());
  std::string s = line;
  s += "| codebook | entries | HIF inexact | HIF worst rel. | HIF worst / gap | FP16 inexact | FP16 worst rel. |\n";
  s += "|---|---|---|---|---|---|---|\n";
  for (const Codebook& cb : reference_codebooks()) {
    const HifRounding h = measure_hif(f, cb);
    const HifRounding p = measure_fp16(cb);
    std::snprintf(line, sizeof line, "| %s | %zu | %d | %.3f %% | %.3f | %d | %.4f %% |\n", cb.name.c_str(),
                  cb.values.size(), h.inexact, 100 * h.worst_rel, h.worst_step, p.inexact, 100 * p.worst_rel);
    s += line;
  }
  return s;
}

}  // namespace sop::golden
