// Reference codebooks the decode unit is checked with, as data, and the measurement of how each one
// lands in a LUT entry format (docs/hif.md quotes the table). The quantizer owns the codebooks it
// searches; these are the fixed element formats and codebooks named in SOP.md and FACTS.md.
#pragma once

#include <string>
#include <vector>

#include "model/golden/decode.h"

namespace sop::golden {

struct Codebook {
  std::string name;
  std::vector<double> values;  // indexed by code: 16 or 64 entries
  bool must_be_exact;          // the HIF is sized so these are exact (SOP.md)
};

// E2M1, E2M3 (64), E3M2 (64), Split87, NF4, IQ4_NL/127, in code order.
std::vector<Codebook> reference_codebooks();

struct HifRounding {
  int inexact = 0;         // entries whose HIF value differs from the codebook value
  double worst_rel = 0;    // largest |hif - v| / |v| over nonzero v
  double worst_step = 0;   // largest |hif - v| / (distance from v to its nearest codebook neighbour)
};

HifRounding measure_hif(const HifFormat& f, const Codebook& cb);
HifRounding measure_fp16(const Codebook& cb);

// A markdown table: per codebook, HIF and FP16 inexact counts and worst rounding.
std::string hif_exactness_table(const HifFormat& f);

}  // namespace sop::golden
