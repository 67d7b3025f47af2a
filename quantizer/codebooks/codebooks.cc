#include "quantizer/codebooks/codebooks.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "base/error.h"
#include "model/golden/formats.h"

namespace sop {
namespace {

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

CodebookTable generated(const std::string& family, int block) {
  const detail::GeneratedCodebook* best = nullptr;
  for (int i = 0; i < detail::kGeneratedCodebookCount; ++i) {
    const auto& g = detail::kGeneratedCodebooks[i];
    if (family != g.name) continue;
    if (!best || std::abs(g.block - block) < std::abs(best->block - block)) best = &g;
  }
  if (!best) throw Error("codebook", family, "no generated table (run sop codebook-gen)");
  CodebookTable t;
  t.name = family + "@g" + std::to_string(best->block);
  t.values.assign(best->values, best->values + 16);
  t.source = std::string("Lloyd, m^2-weighted, on ") + (family == "BOF4-S" ? "signed-max" : "absmax") +
             "-normalized Gaussian blocks of " + std::to_string(best->block) + " (" +
             detail::kGeneratedCodebooksCommand + ")";
  return t;
}

}  // namespace

std::vector<float> nf4_values() {
  // bitsandbytes create_normal_map(offset 0.9677083), as listed in FACTS.md.
  return {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
          -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
          0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
          0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
}

std::vector<float> split87_values() {
  std::vector<float> v;
  for (int k = -7; k <= 8; ++k) v.push_back(static_cast<float>(k) / 8.0f);
  return v;
}

std::vector<float> sinh_companded_values(double a) {
  std::vector<float> v;
  for (int k = -7; k <= 8; ++k) {
    const double t = k / 8.0;
    // a -> 0 is the uniform grid; the exact +1 at k = 8 is what signed-max scaling relies on.
    v.push_back(k == 8 ? 1.0f : static_cast<float>(a < 1e-9 ? t : std::sinh(a * t) / std::sinh(a)));
  }
  return v;
}

double sh4_shape() { return detail::kSh4Shape; }

std::vector<float> iq4nl_values() {
  return {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
}

std::vector<float> float_format_atoms(const std::string& format) {
  const NumberFormat& f = number_format(format);
  std::vector<float> v;
  for (uint32_t code = 0; code < f.code_count(); ++code) v.push_back(static_cast<float>(decode(f, code)));
  return v;
}

std::vector<std::string> default_pair_codebook_names() { return {"NF4", "BOF4-S", "Split87", "SH4"}; }

CodebookTable fixed_codebook(const std::string& name, int block) {
  const std::string n = upper(name);
  if (n == "NF4") return {"NF4", nf4_values(), "bitsandbytes create_normal_map (FACTS.md)"};
  if (n == "SPLIT87") return {"Split87", split87_values(), "{-7..8}/8 (SOP.md)"};
  if (n == "SH4") {
    return {"SH4", sinh_companded_values(sh4_shape()),
            "sinh(a t)/sinh(a), t = {-7..8}/8, a fitted on Laplace blocks (" +
                std::string(detail::kGeneratedCodebooksCommand) + ")"};
  }
  if (n == "IQ4_NL") return {"IQ4_NL", iq4nl_values(), "llama.cpp kvalues_iq4nl (FACTS.md)"};
  if (n == "E2M1" || n == "E2M3" || n == "E3M2") {
    return {n, float_format_atoms(n), "every code of the OCP MX element format"};
  }
  if (n == "BOF4") return generated("BOF4", block);
  if (n == "BOF4-S" || n == "BOF4S") return generated("BOF4-S", block);
  // "BOF4-S@g32" style names pick the block from the name.
  const auto at = n.find("@G");
  if (at != std::string::npos) return fixed_codebook(n.substr(0, at), std::atoi(n.c_str() + at + 2));
  throw Error("codebook", name, "unknown codebook (NF4, BOF4, BOF4-S, Split87, SH4, E2M1, IQ4_NL, E2M3, E3M2)");
}

}  // namespace sop
