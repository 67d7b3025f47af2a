// The vectorized block search against its scalar reference, on every table shape it handles.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/golden/decode.h"
#include "quantizer/codebooks/codebooks.h"
#include "quantizer/sop/block_quant.h"
#include "quantizer/sop/block_quant_avx2.h"
#include "quantizer/sop/sop_search.h"

namespace sop {
namespace {

golden::DecodeConfig config(golden::EntryFormat entry, golden::ScaleFormat scale, int code_bits) {
  golden::DecodeConfig cfg;
  cfg.entry_format = entry;
  cfg.scale = scale;
  cfg.code_bits = code_bits;
  return cfg;
}

// Laplace-like weights with a few zero runs and exact repeats, so ties and empty blocks occur.
std::vector<float> test_weights(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<float> expo(40.0f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = ((rng() & 1) ? 1.0f : -1.0f) * expo(rng);
  for (std::size_t i = 0; i + 16 <= n; i += 997) std::fill(x.begin() + static_cast<long>(i), x.begin() + static_cast<long>(i) + 16, 0.0f);
  for (std::size_t i = 5; i < n; i += 61) x[i] = x[i - 1];
  return x;
}

// Every kernel (Auto: AVX2 where the CPU has it; Baseline: SSE2 lanes or the bucketed rank; the
// scalar Reference) gives the same scale code, error, codes and reconstruction bit for bit.
void expect_same_fits(const LutCodebook& cb, const ScaleGrid& grid, const ScaleSearch& search, int block,
                      const std::vector<float>& x, const std::vector<float>& w) {
  const auto n = static_cast<std::size_t>(block);
  std::vector<uint8_t> codes_fast(n), codes_slow(n);
  std::vector<float> q_fast(n), q_slow(n);
  for (std::size_t at = 0; at + n <= x.size(); at += n) {
    const BlockFit slow = fit_block_reference(x.data() + at, w.data() + at, block, cb, grid, search);
    for (SearchKernel kernel : {SearchKernel::Auto, SearchKernel::Baseline}) {
      const BlockFit fast = fit_block(x.data() + at, w.data() + at, block, cb, grid, search, kernel);
      ASSERT_EQ(fast.scale_code, slow.scale_code) << cb.name() << " at " << at;
      ASSERT_EQ(std::memcmp(&fast.error, &slow.error, sizeof(float)), 0)
          << cb.name() << " at " << at << ": " << fast.error << " vs " << slow.error;
      const float e_fast = encode_block(x.data() + at, w.data() + at, block, cb, grid, slow.scale_code, codes_fast.data(),
                                        q_fast.data(), kernel);
      const float e_slow = encode_block(x.data() + at, w.data() + at, block, cb, grid, slow.scale_code, codes_slow.data(),
                                        q_slow.data(), SearchKernel::Reference);
      ASSERT_EQ(codes_fast, codes_slow) << cb.name() << " at " << at;
      ASSERT_EQ(std::memcmp(q_fast.data(), q_slow.data(), n * sizeof(float)), 0) << cb.name() << " at " << at;
      ASSERT_EQ(std::memcmp(&e_fast, &e_slow, sizeof(float)), 0) << cb.name() << " at " << at;
    }
  }
}

TEST(SopBlockSearch, VectorizedFitMatchesScalarReferenceForFourBitTables) {
  const auto cfg = config(golden::EntryFormat::Hif, golden::kScaleE4M3, 4);
  const std::vector<float> x = test_weights(16 * 3000 + 7, 1);
  std::vector<float> w(x.size());
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<float> u(0.1f, 3.0f);
  for (auto& v : w) v = u(rng);
  for (const char* name : {"NF4", "BOF4-S", "Split87", "SH4", "E2M1", "IQ4_NL"}) {
    const auto table = fixed_codebook(name, 16);
    std::vector<float> values = table.values;
    if (std::string(name) == "IQ4_NL") for (auto& v : values) v /= 127.0f;
    const LutCodebook cb(name, cfg, values);
    EXPECT_TRUE(cb.steps_exact()) << name;
    const float t = per_tensor_scale(Span<const float>(x), cb.max_positive(), cfg.scale);
    const ScaleGrid grid(cfg.scale, t);
    for (int steps : {0, 1, 3}) {
      // Block lengths that are and are not multiples of the four lanes.
      for (int block : {16, 8, 15, 24, 5, 1}) {
        expect_same_fits(cb, grid, {steps, true}, block, x, w);
      }
    }
    expect_same_fits(cb, grid, {1, false}, 16, x, w);  // unsigned search
  }
}

TEST(SopBlockSearch, VectorizedFitMatchesScalarReferenceForSixBitAtomsAndFp16Entries) {
  const std::vector<float> x = test_weights(32 * 1000, 3);
  const std::vector<float> w(x.size(), 1.0f);
  {
    const auto cfg = config(golden::EntryFormat::Hif, golden::kScaleUE4M4, 6);
    std::vector<float> atoms = float_format_atoms("E2M3");
    for (auto& v : atoms) v /= 7.5f;
    const LutCodebook cb("E2M3", cfg, atoms);
    EXPECT_EQ(cb.search_midpoint_count(), 63);
    // The atoms as recipes store them (unscaled): the grid kernels.
    const LutCodebook grid_cb("E2M3", cfg, float_format_atoms("E2M3"));
    EXPECT_TRUE(grid_cb.float_grid());
    const ScaleGrid g2(cfg.scale, per_tensor_scale(Span<const float>(x), grid_cb.max_positive(), cfg.scale));
    expect_same_fits(grid_cb, g2, {1, false}, 16, x, w);
    expect_same_fits(grid_cb, g2, {1, false}, 12, x, w);
    expect_same_fits(grid_cb, g2, {2, false}, 32, x, w);
    const ScaleGrid grid(cfg.scale, per_tensor_scale(Span<const float>(x), cb.max_positive(), cfg.scale));
    expect_same_fits(cb, grid, {1, false}, 16, x, w);
    expect_same_fits(cb, grid, {1, false}, 32, x, w);
  }
  {
    const auto cfg = config(golden::EntryFormat::Fp16, golden::kScaleE4M3, 4);
    const LutCodebook cb("NF4", cfg, nf4_values());
    const ScaleGrid grid(cfg.scale, per_tensor_scale(Span<const float>(x), cb.max_positive(), cfg.scale));
    expect_same_fits(cb, grid, {1, true}, 16, x, w);
  }
}

TEST(SopBlockSearch, StepSumsReproduceEveryTableValue) {
  // A table whose running step sums would not be exact falls back to the scalar search.
  const auto cfg = config(golden::EntryFormat::Fp16, golden::kScaleE4M3, 4);
  // -1 next to FP16's smallest subnormal 2^-24: the step 1 + 2^-24 needs 25 bits.
  std::vector<float> extreme = nf4_values();
  for (int code = 1; code < 8; ++code) extreme[static_cast<std::size_t>(code)] = 6e-8f;
  const LutCodebook cb("extreme", cfg, extreme);
  EXPECT_FALSE(cb.steps_exact());
  EXPECT_TRUE(LutCodebook("NF4", cfg, nf4_values()).steps_exact());
  const std::vector<float> x = test_weights(16 * 200, 4);
  const std::vector<float> w(x.size(), 1.0f);
  const ScaleGrid grid(cfg.scale, per_tensor_scale(Span<const float>(x), cb.max_positive(), cfg.scale));
  expect_same_fits(cb, grid, {1, true}, 16, x, w);
}

// Blocks of any g along rows of any length (a short last block where g does not divide the row), the
// search on a row sample, and the vectorized codes: the golden decode reproduces every weight.
TEST(SopBlockSearch, EveryMenuBlockSizeDecodesBitForBit) {
  Tensor w;
  w.name = "w";
  w.shape = {40, 120};
  w.values = test_weights(40 * 120, 5);
  for (const char* layout : {"g20 sE3M3|sel", "g24 sE3M3|sel", "g12 sE3M3|sel", "g16 sE3M3|sel", "g32 sE4M3+sel",
                             "g16 E2M3 UE4M4"}) {
    SopSearchOptions opt;
    opt.search_max_blocks = 64;  // force the row sample
    SopLayerRecipe recipe = search_layer_pair(w, {}, parse_sop_layout(layout), 0.0, opt);
    recipe.sparse_count = 7;
    const SopLayerResult r = quantize_with_recipe(w, {}, recipe, opt);
    golden::LayerTables tables;
    for (const auto& cb : r.codebooks) tables.entries.insert(tables.entries.end(), cb.lut_codes.begin(), cb.lut_codes.end());
    std::vector<golden::Block> blocks;
    const int64_t per_row = (r.cols + r.block_size - 1) / r.block_size;
    for (std::size_t b = 0; b < r.scale_codes.size(); ++b) {
      const int64_t row = static_cast<int64_t>(b) / per_row, first = static_cast<int64_t>(b) % per_row * r.block_size;
      const int64_t length = std::min<int64_t>(r.block_size, r.cols - first);
      blocks.push_back({r.scale_codes[b], r.select[b],
                        Span<const uint8_t>(r.codes.data() + row * r.cols + first, static_cast<std::size_t>(length))});
    }
    std::vector<golden::Residual> residuals;
    for (const auto& e : r.sparse) residuals.push_back({static_cast<uint32_t>(e.index), e.entry});
    const auto products = golden::decode_stream(r.decode, tables, blocks, residuals);
    ASSERT_EQ(products.size(), r.dequant.size()) << layout;
    for (std::size_t i = 0; i < products.size(); ++i) {
      ASSERT_EQ(golden::to_float(products[i]) * r.tensor_scale, r.dequant[i]) << layout << " weight " << i;
    }
    // Bits: every block pays its scale, whatever its length.
    EXPECT_EQ(static_cast<int64_t>(r.scale_codes.size()), 40 * per_row) << layout;
  }
}

// The bucketed rank is the binary search's, everywhere: random values over and beyond each table's
// range, every midpoint and the floats beside it, on the 64-entry atoms, on tables fitted to random
// data (uneven gaps) and on 16-entry tables, in HIF and FP16.
TEST(SopBlockSearch, BucketedRankEqualsTheBinarySearchForEveryFloat) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<std::string, std::vector<float>>> tables;
  for (const char* atoms : {"E2M3", "E3M2"}) tables.emplace_back(atoms, float_format_atoms(atoms));
  for (const char* name : {"NF4", "SH4", "E2M1", "Split87"}) tables.emplace_back(name, fixed_codebook(name, 16).values);
  for (int t = 0; t < 20; ++t) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(t % 2 ? 64 : 16);
    for (auto& e : v) e = g(rng);
    tables.emplace_back("random" + std::to_string(t), v);
  }
  int bucketed = 0;
  for (const auto& [name, values] : tables) {
    for (auto entry : {golden::EntryFormat::Hif, golden::EntryFormat::Fp16}) {
      const auto cfg = config(entry, golden::kScaleE4M3, values.size() == 64 ? 6 : 4);
      const LutCodebook cb(name, cfg, values);
      if (!cb.bucketed()) continue;
      ++bucketed;
      float lo = INFINITY, hi = -INFINITY;
      for (float v : cb.values()) lo = std::min(lo, v), hi = std::max(hi, v);
      std::uniform_real_distribution<float> u(lo - 1.0f, hi + 1.0f);
      std::vector<float> ys;
      for (int i = 0; i < 20000; ++i) ys.push_back(u(rng));
      for (int code = 0; code < cb.size(); ++code) {
        for (float y : {cb.value(code), std::nextafter(cb.value(code), -INFINITY), std::nextafter(cb.value(code), INFINITY)}) {
          ys.push_back(y);
        }
      }
      for (float y : ys) {
        ASSERT_EQ(cb.sorted_code(cb.bucketed_rank(y)), cb.nearest_code(y)) << name << " y=" << y;
      }
    }
  }
  EXPECT_GE(bucketed, 40) << "most tables take the bucketed rank";
  // The atoms always do: their search is the one 6-bit formats take.
  const LutCodebook e2m3("E2M3", config(golden::EntryFormat::Hif, golden::kScaleUE4M4, 6), float_format_atoms("E2M3"));
  EXPECT_TRUE(e2m3.bucketed());
}

// The minifloat-grid rank is the binary search's on the atoms (E2M3, E3M2, E2M1, at power-of-two
// scales, in HIF and FP16), for random values over and beyond the range and at every midpoint and
// value and the floats beside them; a table that is not such a grid is not taken for one.
TEST(SopBlockSearch, FloatGridRankEqualsTheBinarySearchOnTheAtoms) {
  std::mt19937_64 rng(11);
  int grids = 0;
  for (const char* atoms : {"E2M3", "E3M2", "E2M1"}) {
    for (float scale : {1.0f, 0.25f, 8.0f}) {
      for (auto entry : {golden::EntryFormat::Hif, golden::EntryFormat::Fp16}) {
        std::vector<float> values = float_format_atoms(atoms);
        for (auto& v : values) v *= scale;
        const LutCodebook cb(atoms, config(entry, golden::kScaleUE4M4, values.size() == 64 ? 6 : 4), values);
        if (!cb.float_grid()) continue;
        ++grids;
        std::uniform_real_distribution<float> u(-3 * cb.grid().max_value, 3 * cb.grid().max_value);
        std::vector<float> ys = {0.0f, -0.0f, INFINITY, -INFINITY, std::nanf("")};
        for (int i = 0; i < 50000; ++i) ys.push_back(u(rng));
        for (int code = 0; code < cb.size(); ++code) {
          const float v = cb.value(code);
          for (float y : {v, std::nextafter(v, -INFINITY), std::nextafter(v, INFINITY)}) ys.push_back(y);
        }
        for (float y : ys) {
          const int want = std::isnan(y) ? 0 : cb.nearest_code(y);
          ASSERT_EQ(cb.sorted_code(cb.grid_rank(y)), std::isnan(y) ? cb.sorted_code(0) : want) << atoms << " y=" << y;
        }
      }
    }
  }
  EXPECT_GE(grids, 12) << "E2M3 and E3M2 at every scale and entry format are grids";
  EXPECT_FALSE(LutCodebook("NF4", config(golden::EntryFormat::Hif, golden::kScaleE4M3, 4), nf4_values()).float_grid());
  std::vector<float> divided = float_format_atoms("E2M3");
  for (auto& v : divided) v /= 7.5f;  // not a power-of-two scale
  EXPECT_FALSE(LutCodebook("E2M3/7.5", config(golden::EntryFormat::Hif, golden::kScaleUE4M4, 6), divided).float_grid());
}

// fit_encode_blocks and fit_all_blocks (eight blocks per AVX2 call for grid and 16-entry tables)
// against fit_block_reference and the reference encode_block, block by block: every scale code, code and reconstruction bit for bit, on
// rows that are and are not a multiple of the block, all-zero blocks, signed and unsigned scales,
// every scale search width it takes, and tensor scales that push the ideal scale past either end
// of the scale grid.
TEST(SopBlockSearch, EightBlocksAtOnceMatchTheReferenceBlockByBlock) {
  const std::vector<float> atoms = float_format_atoms("E2M3");
  for (const golden::ScaleFormat& format : {golden::kScaleUE4M4, golden::kScaleE4M3}) {
    // Minifloat grids (64 entries) and 16-entry tables through the lane search's midpoints.
    for (const char* name : {"E2M3", "E3M2", "E2M1", "NF4", "SH4", "IQ4_NL"}) {
      const bool atoms = std::string(name).rfind('E', 0) == 0;
      std::vector<float> values = atoms ? float_format_atoms(name) : fixed_codebook(name, 16).values;
      if (std::string(name) == "IQ4_NL") for (auto& v : values) v /= 127.0f;
      const auto cfg = config(golden::EntryFormat::Hif, format, values.size() == 64 ? 6 : 4);
      const LutCodebook cb(name, cfg, values);
      ASSERT_TRUE(cb.float_grid() || (cb.search_midpoint_count() == 15 && cb.steps_exact())) << name;
      for (int block : {16, 8, 32, 24, 12, 20, 4}) {
        for (int64_t cols : {int64_t{256}, int64_t{16 * 9 + 5}}) {
          const int64_t rows = 23;
          std::vector<float> x = test_weights(static_cast<std::size_t>(rows * cols), 7 + block);
          std::fill(x.begin() + 3 * cols, x.begin() + 3 * cols + 64, 0.0f);  // zero blocks among full ones
          std::vector<float> col_weight(static_cast<std::size_t>(cols));
          std::mt19937_64 rng(static_cast<uint64_t>(cols));
          std::uniform_real_distribution<float> u(0.1f, 3.0f);
          for (auto& v : col_weight) v = u(rng);
          const float fitted = per_tensor_scale(Span<const float>(x), cb.max_positive(), format);
          for (float tensor_scale : {fitted, fitted * 1e-4f, fitted * 1e6f}) {
            const ScaleGrid grid(format, tensor_scale);
            for (const ScaleSearch search : {ScaleSearch{1, true}, ScaleSearch{0, true}, ScaleSearch{3, false},
                                             ScaleSearch{8, true}}) {
              const BlockedMatrix m{x.data(), col_weight.data(), rows, cols, block};
              const auto blocks = static_cast<std::size_t>(m.block_count());
              std::vector<uint32_t> scales(blocks, 0xFFFF), want_scales(blocks);
              std::vector<uint8_t> codes(x.size(), 0xFF), want_codes(x.size());
              std::vector<float> q(x.size(), -1.0f), want_q(x.size());
              fit_encode_blocks(m, 0, m.block_count(), cb, grid, search, scales.data(), codes.data(), q.data());
              for (int64_t b = 0; b < m.block_count(); ++b) {
                const int64_t at = m.block_values(b) - x.data();
                const BlockFit fit = fit_block_reference(m.block_values(b), m.block_weights(b), m.block_length(b), cb,
                                                         grid, search);
                want_scales[static_cast<std::size_t>(b)] = fit.scale_code;
                encode_block(m.block_values(b), m.block_weights(b), m.block_length(b), cb, grid, fit.scale_code,
                             want_codes.data() + at, want_q.data() + at, SearchKernel::Reference);
              }
              const std::string where = std::string(name) + " block " + std::to_string(block) + " cols " +
                                        std::to_string(cols) + " steps " + std::to_string(search.steps) +
                                        " tensor scale " + std::to_string(tensor_scale);
              ASSERT_EQ(scales, want_scales) << where;
              ASSERT_EQ(codes, want_codes) << where;
              ASSERT_EQ(std::memcmp(q.data(), want_q.data(), q.size() * sizeof(float)), 0) << where;
              // The fit alone (the planner's fit_all_blocks): every block's error and scale code.
              std::vector<BlockFit> fits(blocks);
              fit_all_blocks(m, cb, grid, search, Span<BlockFit>(fits), 2);
              for (int64_t b = 0; b < m.block_count(); ++b) {
                const BlockFit want = fit_block_reference(m.block_values(b), m.block_weights(b), m.block_length(b), cb,
                                                          grid, search);
                const BlockFit& got = fits[static_cast<std::size_t>(b)];
                ASSERT_EQ(got.scale_code, want.scale_code) << where << " block " << b;
                ASSERT_EQ(std::memcmp(&got.error, &want.error, sizeof(float)), 0) << where << " block " << b;
              }
            }
          }
        }
      }
    }
  }
  // Exact ties: blocks whose largest element is the table's largest value at a scale of 1 and whose
  // others sit on midpoints between table values (for the grid: in the uniform steps and in the
  // binades; positive and negative), so the tie rule decides their codes. E2M3 takes the grid
  // kernel, NF4 the 16-entry one.
  for (const bool grid_table : {true, false}) {
    const auto cfg = grid_table ? config(golden::EntryFormat::Hif, golden::kScaleUE4M4, 6)
                                : config(golden::EntryFormat::Hif, golden::kScaleE4M3, 4);
    const LutCodebook cb(grid_table ? "E2M3" : "NF4", cfg, grid_table ? atoms : nf4_values());
    const ScaleGrid grid(cfg.scale, 1.0f);
    std::vector<float> ties;
    if (grid_table) {
      ties = {0.0625f, 0.1875f, 0.9375f, 1.0625f, 1.9375f, 2.125f, 2.25f, 3.875f, 4.25f, 4.75f, 7.25f};
    } else {
      for (int k = 0; k < cb.search_midpoint_count() && std::isfinite(cb.search_midpoints()[k]); ++k) {
        ties.push_back(cb.search_midpoints()[k]);
      }
    }
    const std::size_t positive = ties.size();
    for (std::size_t k = 0; k < positive; ++k) ties.push_back(-ties[k]);
    const float largest = cb.max_positive();
    const int64_t rows = 8, cols = 16 * 8;
    std::vector<float> x(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = ties[(i * 7 + i / 16) % ties.size()];
      if (std::fabs(x[i]) >= largest) x[i] = 0.5f * largest;
    }
    for (std::size_t b = 0; b < x.size() / 16; ++b) x[b * 16 + (b % 16)] = (b % 2 || !grid_table) ? largest : -largest;
    const std::vector<float> col_weight(static_cast<std::size_t>(cols), 1.0f);
    const BlockedMatrix m{x.data(), col_weight.data(), rows, cols, 16};
    for (const ScaleSearch search : {ScaleSearch{0, !grid_table}, ScaleSearch{1, !grid_table}}) {
      std::vector<uint32_t> scales(static_cast<std::size_t>(m.block_count())), want_scales(scales.size());
      std::vector<uint8_t> codes(x.size()), want_codes(x.size());
      std::vector<float> q(x.size()), want_q(x.size());
      fit_encode_blocks(m, 0, m.block_count(), cb, grid, search, scales.data(), codes.data(), q.data());
      for (int64_t b = 0; b < m.block_count(); ++b) {
        const int64_t at = m.block_values(b) - x.data();
        const BlockFit fit = fit_block_reference(m.block_values(b), m.block_weights(b), 16, cb, grid, search);
        want_scales[static_cast<std::size_t>(b)] = fit.scale_code;
        encode_block(m.block_values(b), m.block_weights(b), 16, cb, grid, fit.scale_code, want_codes.data() + at,
                     want_q.data() + at, SearchKernel::Reference);
      }
      const std::string where = std::string(cb.name()) + " ties, steps " + std::to_string(search.steps);
      ASSERT_EQ(scales, want_scales) << where;
      ASSERT_EQ(codes, want_codes) << where;
      ASSERT_EQ(std::memcmp(q.data(), want_q.data(), q.size() * sizeof(float)), 0) << where;
    }
  }
  // The eight-block kernel itself runs (and is not always declining to the per-block path).
  if (avx2_search_available()) {
    const auto cfg = config(golden::EntryFormat::Hif, golden::kScaleUE4M4, 6);
    const LutCodebook cb("E2M3", cfg, atoms);
    const std::vector<float> x = test_weights(16 * 9, 5);  // its first block is all zero: skipped
    const std::vector<float> w(16, 1.0f);
    const ScaleGrid grid(cfg.scale, per_tensor_scale(Span<const float>(x), cb.max_positive(), cfg.scale));
    std::vector<uint32_t> scales(8);
    std::vector<uint8_t> codes(x.size());
    std::vector<float> q(x.size());
    detail::GridBlocks8 blocks{};
    blocks.n = 16;
    blocks.scale_codes = scales.data();
    for (int i = 0; i < 8; ++i) {
      blocks.x[i] = x.data() + 16 * (i + 1);
      blocks.w[i] = w.data();
      blocks.q[i] = q.data() + 16 * i;
      blocks.codes[i] = codes.data() + 16 * i;
    }
    const LutCodebook::FloatGrid& g = cb.grid();
    const detail::GridTable table{g.mantissa_bits, g.step_exponent, g.first_binade_exponent, g.max_binade,
                                  g.max_index,     g.zero_rank,     g.max_value};
    const detail::ScaleTable scale_table{grid.magnitudes(), static_cast<int>(grid.max_magnitude_code() + 1),
                                         cb.max_positive() * grid.tensor_scale(), grid.tensor_scale(), 1, false, 0};
    uint8_t code_of_rank[64] = {};
    for (int rank = 0; rank < cb.distinct_count(); ++rank) code_of_rank[rank] = static_cast<uint8_t>(cb.sorted_code(rank));
    EXPECT_TRUE(detail::grid_fit_encode8_avx2(blocks, table, code_of_rank, scale_table));
  }
}

// A selector's blocks (fit_select_encode_blocks: each table fitted eight blocks at a time, then the
// choice and the encode) against the block-by-block loop through the scalar reference: the table of
// strictly lowest error, the first on ties, and its scale code, codes and reconstruction.
TEST(SopBlockSearch, SelectorBlocksMatchTheReferenceLoop) {
  const auto cfg = config(golden::EntryFormat::Hif, golden::kScaleE4M3, 4);
  std::vector<float> iq4 = fixed_codebook("IQ4_NL", 16).values;
  for (auto& v : iq4) v /= 127.0f;
  const std::vector<LutCodebook> tables = {LutCodebook("NF4", cfg, nf4_values()), LutCodebook("IQ4_NL", cfg, iq4),
                                           LutCodebook("NF4", cfg, nf4_values())};  // a duplicate: ties
  for (int block : {16, 12, 32}) {
    const int64_t rows = 37, cols = 16 * 12 + 8;
    const std::vector<float> x = test_weights(static_cast<std::size_t>(rows * cols), 17);
    std::vector<float> col_weight(static_cast<std::size_t>(cols));
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<float> u(0.1f, 3.0f);
    for (auto& v : col_weight) v = u(rng);
    const ScaleGrid grid(cfg.scale, per_tensor_scale(Span<const float>(x), tables[0].max_positive(), cfg.scale));
    const ScaleSearch search{1, true};
    const BlockedMatrix m{x.data(), col_weight.data(), rows, cols, block};
    const auto blocks = static_cast<std::size_t>(m.block_count());
    std::vector<uint32_t> scales(blocks), want_scales(blocks);
    std::vector<uint8_t> select(blocks, 9), want_select(blocks), codes(x.size()), want_codes(x.size());
    std::vector<float> q(x.size()), want_q(x.size());
    fit_select_encode_blocks(m, 0, m.block_count(), Span<const LutCodebook>(tables.data(), tables.size()), grid, search,
                             scales.data(), select.data(), codes.data(), q.data());
    for (int64_t b = 0; b < m.block_count(); ++b) {
      const float* xb = m.block_values(b);
      BlockFit best = fit_block_reference(xb, m.block_weights(b), m.block_length(b), tables[0], grid, search);
      uint8_t chosen = 0;
      for (std::size_t t = 1; t < tables.size(); ++t) {
        const BlockFit other = fit_block_reference(xb, m.block_weights(b), m.block_length(b), tables[t], grid, search);
        if (other.error < best.error) {
          best = other;
          chosen = static_cast<uint8_t>(t);
        }
      }
      const int64_t at = xb - x.data();
      want_scales[static_cast<std::size_t>(b)] = best.scale_code;
      want_select[static_cast<std::size_t>(b)] = chosen;
      encode_block(xb, m.block_weights(b), m.block_length(b), tables[chosen], grid, best.scale_code,
                   want_codes.data() + at, want_q.data() + at, SearchKernel::Reference);
    }
    ASSERT_EQ(select, want_select) << "block " << block;
    ASSERT_EQ(scales, want_scales) << "block " << block;
    ASSERT_EQ(codes, want_codes) << "block " << block;
    ASSERT_EQ(std::memcmp(q.data(), want_q.data(), q.size() * sizeof(float)), 0) << "block " << block;
    EXPECT_NE(std::count(select.begin(), select.end(), uint8_t{1}), 0) << "both real tables win some blocks";
    EXPECT_EQ(std::count(select.begin(), select.end(), uint8_t{2}), 0) << "a tie keeps the earlier table";
  }
}

// Auto uses AVX2 where the CPU has it; on this project's x86-64 CI machines it does.
TEST(SopBlockSearch, Avx2KernelsAreUsedWhereTheCpuHasThem) {
#if defined(__x86_64__)
  EXPECT_EQ(avx2_search_available(), __builtin_cpu_supports("avx2") != 0);
#else
  EXPECT_FALSE(avx2_search_available());
#endif
}

}  // namespace
}  // namespace sop
