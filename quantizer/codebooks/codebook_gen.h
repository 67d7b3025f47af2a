// Generators for the fixed codebooks that are fitted rather than defined: BOF4 / BOF4-S per block size
// (Lloyd with the m^2-weighted objective on block-normalized Gaussian samples) and the SH4 shape
// (fitted on Laplace blocks). `sop codebook-gen` runs them and writes generated_codebooks.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quantizer/codebooks/lloyd.h"

namespace sop {

enum class BlockDistribution { Gaussian, Laplace };

// Histogram of block-normalized samples: each block of `block` i.i.d. draws is divided by its absmax
// (signed_max = false: values in [-1, 1], the extreme at +-1) or by its signed max (signed_max = true:
// the extreme at exactly +1); each value is weighted by m^2, m the block's absmax, because the error
// that matters is that of the dequantized weight m * x.
WeightedPoints normalized_block_samples(BlockDistribution dist, int block, bool signed_max,
                                        long long sample_blocks, uint64_t seed);

// BOF4 (signed_max = false: -1 and +1 pinned) or BOF4-S (signed_max = true: +1 pinned), 16 values.
std::vector<double> fit_bof4(const WeightedPoints& samples, bool signed_max);

// The SH4 shape a minimizing the weighted error of sinh_companded_values(a) on the given samples.
double fit_sh4_shape(const WeightedPoints& samples);

struct CodebookGenOptions {
  std::vector<int> blocks = {16, 32, 64};
  long long sample_blocks = 400000;
  uint64_t seed = 1;
  int sh4_block = 16;
};

// Runs every generator and returns the text of generated_codebooks.cc; `command` is recorded in it.
std::string generate_codebook_source(const CodebookGenOptions& options, const std::string& command);

}  // namespace sop
