#include "quantizer/sop/sop_search.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <regex>

#include "quantizer/codebooks/codebooks.h"
#include "quantizer/codebooks/lloyd.h"
#include "base/error.h"
#include "base/parallel.h"

namespace sop {

// ---- Layouts ----------------------------------------------------------------------------------------

SopLayout parse_sop_layout(const std::string& name) {
  // g<block> [<atoms>] <s|U>E<e>M<m>[|sel|+sel]
  static const std::regex pattern(R"(g(\d+)\s+(?:(E\dM\d(?:/E\dM\d)?)\s+)?([sU])E(\d)M(\d)(\|sel|\+sel)?)");
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) {
    throw Error("SOP layout", name, "expected e.g. \"g16 sE3M3|sel\", \"g32 sE4M3\" or \"g16 E2M3 UE4M4\"");
  }
  SopLayout l;
  l.name = name;
  l.block = std::stoi(m[1]);
  const int e = std::stoi(m[4]);
  const int man = std::stoi(m[5]);
  const bool is_signed = m[3] == "s";
  l.scale.format = golden::ScaleFormat{is_signed, e, man, (1 << (e - 1)) - 1, true};
  l.scale.name = m[3].str() + "E" + m[4].str() + "M" + m[5].str() + m[6].str();
  l.scale.select = m[6] == "|sel" ? SelectBitPlacement::Stolen
                   : m[6] == "+sel" ? SelectBitPlacement::Beside
                                    : SelectBitPlacement::None;
  l.scale.per_tensor_fp32 = true;
  if (l.block < 1 || l.block > 256 || e < 1 || e > 8 || man < 0 || man > 7) {
    throw Error("SOP layout", name, "block or scale format out of range");
  }
  if (m[2].matched) {
    l.code_bits = 6;
    l.fitted_codebooks = false;
    const std::string atoms = m[2];
    const auto slash = atoms.find('/');
    l.fixed_codebooks = {atoms.substr(0, slash)};
    if (slash != std::string::npos) l.fixed_codebooks.push_back(atoms.substr(slash + 1));
  } else {
    l.code_bits = 4;
    l.fitted_codebooks = is_signed;  // DD4 is fitted on signed-max-normalized values
    for (const auto& cb : default_pair_codebook_names()) {
      l.fixed_codebooks.push_back(cb == "BOF4-S" ? "BOF4-S@g" + std::to_string(l.block) : cb);
    }
  }
  return l;
}

std::vector<double> default_awq_alphas() { return {0.0, 0.25, 0.5}; }

Tensor sample_rows(const Tensor& w, int64_t keep) {
  const int64_t rows = w.rows(), cols = w.cols();
  keep = std::clamp<int64_t>(keep, 1, std::max<int64_t>(1, rows));
  Tensor s;
  s.name = w.name;
  s.shape = w.shape;
  s.shape.front() = keep;
  s.values.resize(static_cast<std::size_t>(keep * cols));
  for (int64_t i = 0; i < keep; ++i) {
    const int64_t row = sampled_row(i, keep, rows);
    std::copy(w.values.begin() + row * cols, w.values.begin() + (row + 1) * cols, s.values.begin() + i * cols);
  }
  return s;
}

int sparse_index_bits(int64_t weights) {
  int bits = 1;
  while ((int64_t{1} << bits) < weights) ++bits;
  return bits;
}

namespace {

bool is_fitted_name(const std::string& n) { return n.rfind("DD4", 0) == 0; }

// The matrix actually quantized (W / c) and its per-column error weights (importance x c^2).
struct LayerWork {
  std::vector<float> scaled;       // empty when c is not used: quantize w directly
  std::vector<float> col_weight;
  std::vector<float> c;            // empty: no c
  BlockedMatrix matrix;
};

bool is_uniform(Span<const float> importance) {
  if (importance.empty()) return true;
  for (float v : importance) if (v != importance[0]) return false;
  return true;
}

LayerWork make_work(const Tensor& w, Span<const float> importance, int block, double awq_alpha) {
  const int64_t rows = w.rows(), cols = w.cols();
  if (!importance.empty() && static_cast<int64_t>(importance.size()) != cols) {
    throw Error("SOP", w.name, "activation statistics have " + std::to_string(importance.size()) +
                                   " channels, the matrix has " + std::to_string(cols) + " columns");
  }
  LayerWork work;
  work.col_weight.assign(static_cast<std::size_t>(cols), 1.0f);
  if (!importance.empty()) {
    for (int64_t j = 0; j < cols; ++j) work.col_weight[j] = std::max(importance[static_cast<std::size_t>(j)], 0.0f);
  }
  if (awq_alpha != 0 && !is_uniform(importance)) {
    // c_j = (imp_j / mean imp)^(-alpha/2): channels with large activations get a small c, so W / c is
    // larger there and its relative rounding error smaller, as AWQ does. Geometric mean of c is ~1.
    double log_mean = 0;
    int64_t n = 0;
    for (float v : work.col_weight) if (v > 0) { log_mean += std::log(v); ++n; }
    log_mean = n ? log_mean / static_cast<double>(n) : 0;
    work.c.resize(static_cast<std::size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
      const double imp = std::max<double>(work.col_weight[j], 1e-30);
      work.c[j] = static_cast<float>(std::exp(-0.5 * awq_alpha * (std::log(imp) - log_mean)));
    }
    work.scaled.resize(w.values.size());
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) work.scaled[i * cols + j] = w.values[i * cols + j] / work.c[j];
    }
    for (int64_t j = 0; j < cols; ++j) work.col_weight[j] *= work.c[j] * work.c[j];
  }
  work.matrix.values = work.scaled.empty() ? w.values.data() : work.scaled.data();
  work.matrix.col_weight = work.col_weight.data();
  work.matrix.rows = rows;
  work.matrix.cols = cols;
  work.matrix.block = block;
  return work;
}

// Evenly spaced rows of m holding at most max_blocks blocks, copied into `storage` (m itself when it
// is small enough or max_blocks is 0). Which tables suit a layer is a property of its weight
// distribution, which a few ten thousand blocks measure well; the search's many passes then cost
// the same for a 100M-weight matrix as for a 1M one.
BlockedMatrix search_rows(const BlockedMatrix& m, int64_t max_blocks, std::vector<float>& storage) {
  if (max_blocks <= 0 || m.block_count() <= max_blocks) return m;
  const int64_t keep = std::max<int64_t>(1, max_blocks / m.blocks_per_row());
  if (keep >= m.rows) return m;
  storage.resize(static_cast<std::size_t>(keep * m.cols));
  for (int64_t i = 0; i < keep; ++i) {
    const int64_t row = sampled_row(i, keep, m.rows);
    std::copy(m.values + row * m.cols, m.values + (row + 1) * m.cols, storage.begin() + i * m.cols);
  }
  BlockedMatrix sample = m;
  sample.values = storage.data();
  sample.rows = keep;
  return sample;
}

golden::DecodeConfig decode_config(const SopLayout& layout, const SopSearchOptions& options) {
  golden::DecodeConfig cfg;
  cfg.entry_format = options.entry_format;
  cfg.scale = layout.scale.format;
  cfg.code_bits = layout.code_bits;
  return cfg;
}

// Every block's weights as the DD4 histogram files them (divided by the block's signed max,
// weighted by importance x max^2), located once per search: a pair search refits DD4 up to 15
// times on different subsets of the same blocks.
struct Dd4Points {
  std::vector<BinnedPoint> points;
  std::vector<int64_t> block_begin;  // block b's points are [block_begin[b], block_begin[b + 1])
};

constexpr int kDd4HistogramBins = 4096;

WeightedHistogram dd4_histogram() { return WeightedHistogram(-1.0, 1.0, kDd4HistogramBins); }

Dd4Points locate_dd4_points(const BlockedMatrix& m) {
  const WeightedHistogram hist = dd4_histogram();
  Dd4Points p;
  const int64_t count = m.block_count();
  p.points.reserve(static_cast<std::size_t>(m.rows * m.cols));
  p.block_begin.reserve(static_cast<std::size_t>(count + 1));
  for (int64_t b = 0; b < count; ++b) {
    p.block_begin.push_back(static_cast<int64_t>(p.points.size()));
    const float* x = m.block_values(b);
    const float* w = m.block_weights(b);
    const int n = m.block_length(b);
    float xm = 0;
    for (int j = 0; j < n; ++j) if (std::fabs(x[j]) > std::fabs(xm)) xm = x[j];
    if (xm == 0) continue;
    const double m2 = static_cast<double>(xm) * xm;
    for (int j = 0; j < n; ++j) p.points.push_back(hist.locate(static_cast<double>(x[j]) / xm, w[j] * m2));
  }
  p.block_begin.push_back(static_cast<int64_t>(p.points.size()));
  return p;
}

struct TableFits {
  std::string name;
  std::vector<float> real_values;
  LutCodebook cb;
  std::vector<BlockFit> fits;
  double total = 0;
};

struct SearchContext {
  const BlockedMatrix& m;
  const Dd4Points& dd4_points;  // empty unless the layout fits DD4 tables
  golden::DecodeConfig cfg;
  ScaleGrid grid;
  ScaleSearch search;
  int threads;
};

TableFits evaluate_table(const SearchContext& ctx, const std::string& name, const std::vector<float>& values) {
  TableFits t;
  t.name = name;
  t.real_values = values;
  t.cb = LutCodebook(name, ctx.cfg, values);
  t.fits.resize(static_cast<std::size_t>(ctx.m.block_count()));
  fit_all_blocks(ctx.m, t.cb, ctx.grid, ctx.search, t.fits, ctx.threads);
  for (const auto& f : t.fits) t.total += f.error;
  return t;
}

double pair_error(const TableFits& a, const TableFits& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.fits.size(); ++i) e += std::min(a.fits[i].error, b.fits[i].error);
  return e;
}

// Blocks where b beats a (the selection bit's value).
std::vector<uint8_t> assignment(const TableFits& a, const TableFits& b) {
  std::vector<uint8_t> sel(a.fits.size());
  for (std::size_t i = 0; i < sel.size(); ++i) sel[i] = b.fits[i].error < a.fits[i].error ? 1 : 0;
  return sel;
}

// DD4: weighted Lloyd on signed-max-normalized values of the chosen blocks (at most max_blocks of
// them, evenly strided), weights importance x m^2, +1 pinned; starts from `init` (16 values).
std::vector<float> fit_dd4(const Dd4Points& located, const std::vector<uint8_t>* select, uint8_t which,
                           const std::vector<float>& init, int max_blocks) {
  WeightedHistogram hist = dd4_histogram();
  const auto count = static_cast<int64_t>(located.block_begin.size()) - 1;
  int64_t chosen = count;
  if (select) chosen = std::count(select->begin(), select->end(), which);
  const int64_t stride = std::max<int64_t>(1, chosen / std::max(1, max_blocks));
  int64_t seen = 0;
  for (int64_t b = 0; b < count; ++b) {
    if (select && (*select)[static_cast<std::size_t>(b)] != which) continue;
    if (seen++ % stride != 0) continue;
    for (int64_t i = located.block_begin[b]; i < located.block_begin[b + 1]; ++i) hist.add(located.points[i]);
  }
  const WeightedPoints points = hist.points();
  if (points.value.size() < 16) return init;
  std::vector<double> start(init.begin(), init.end());
  std::sort(start.begin(), start.end());
  start.back() = 1.0;
  std::vector<bool> pinned(start.size(), false);
  pinned.back() = true;
  const auto fitted = weighted_lloyd_1d(points, start, pinned, {100, 1e-7});
  return std::vector<float>(fitted.begin(), fitted.end());
}

std::vector<float> table_values(const std::string& name, int block) { return fixed_codebook(name, block).values; }

float table_cb_max(const std::vector<std::vector<float>>& tables) {
  float cb_max = INFINITY;
  for (const auto& t : tables) cb_max = std::min(cb_max, *std::max_element(t.begin(), t.end()));
  return cb_max > 0 && std::isfinite(cb_max) ? cb_max : 1.0f;
}

SopLayerRecipe recipe_of(const SopLayout& layout, double alpha, const TableFits& a, const TableFits* b) {
  SopLayerRecipe r;
  r.layout = layout;
  r.awq_alpha = alpha;
  r.table_names.push_back(a.name);
  r.tables.push_back(a.real_values);
  if (b) {
    r.table_names.push_back(b->name);
    r.tables.push_back(b->real_values);
  }
  return r;
}

}  // namespace

SopLayerRecipe search_layer_pair(const Tensor& w, Span<const float> importance, const SopLayout& layout,
                                 double awq_alpha, const SopSearchOptions& options, const SopLayerRecipe* hint) {
  const LayerWork work = make_work(w, importance, layout.block, awq_alpha);
  std::vector<std::vector<float>> fixed_values;
  for (const auto& n : layout.fixed_codebooks) fixed_values.push_back(table_values(n, layout.block));
  if (hint) fixed_values = hint->tables;
  const float t = layout.scale.per_tensor_fp32
                      ? per_tensor_scale(Span<const float>(work.matrix.values, w.values.size()),
                                         table_cb_max(fixed_values), layout.scale.format)
                      : 1.0f;
  std::vector<float> sample_storage;
  const BlockedMatrix searched = search_rows(work.matrix, options.search_max_blocks, sample_storage);
  const bool fitted = layout.fitted_codebooks && layout.code_bits == 4;
  const Dd4Points dd4_points = fitted ? locate_dd4_points(searched) : Dd4Points{};
  const SearchContext ctx{searched, dd4_points, decode_config(layout, options), ScaleGrid(layout.scale.format, t),
                          ScaleSearch{options.scale_steps, layout.scale.format.has_sign}, options.threads};

  if (hint) {
    // Same tables; DD4 tables refitted once to this layout's blocks.
    std::vector<TableFits> tables;
    for (std::size_t i = 0; i < hint->tables.size(); ++i) {
      tables.push_back(evaluate_table(ctx, hint->table_names[i], hint->tables[i]));
    }
    if (tables.size() == 2 && layout.has_select()) {
      if (fitted) {
        for (int it = 0; it < 1; ++it) {
          const auto sel = assignment(tables[0], tables[1]);
          for (uint8_t which = 0; which < 2; ++which) {
            if (!is_fitted_name(tables[which].name)) continue;
            tables[which] = evaluate_table(
                ctx, tables[which].name, fit_dd4(ctx.dd4_points, &sel, which, tables[which].real_values, options.fit_max_blocks));
          }
        }
      }
      return recipe_of(layout, awq_alpha, tables[0], &tables[1]);
    }
    const std::size_t best = tables.size() == 2 && tables[1].total < tables[0].total ? 1 : 0;
    return recipe_of(layout, awq_alpha, tables[best], nullptr);
  }

  std::vector<TableFits> fixed;
  for (std::size_t i = 0; i < fixed_values.size(); ++i) {
    fixed.push_back(evaluate_table(ctx, fixed_codebook(layout.fixed_codebooks[i], layout.block).name, fixed_values[i]));
  }
  std::vector<TableFits> dd4;
  if (fitted) {
    const auto init = table_values("BOF4-S", layout.block);
    dd4.push_back(evaluate_table(ctx, "DD4", fit_dd4(ctx.dd4_points, nullptr, 0, init, options.fit_max_blocks)));
  }

  if (!layout.has_select()) {
    const TableFits* best = nullptr;
    for (const auto* group : {&fixed, &dd4}) {
      for (const auto& candidate : *group) if (!best || candidate.total < best->total) best = &candidate;
    }
    return recipe_of(layout, awq_alpha, *best, nullptr);
  }

  double best_error = INFINITY;
  SopLayerRecipe best;
  auto consider = [&](const TableFits& a, const TableFits& b) {
    const double e = pair_error(a, b);
    if (e < best_error) {
      best_error = e;
      best = recipe_of(layout, awq_alpha, a, &b);
    }
  };
  for (std::size_t i = 0; i < fixed.size(); ++i) {
    for (std::size_t j = i + 1; j < fixed.size(); ++j) consider(fixed[i], fixed[j]);
  }
  if (fitted) {
    // (fixed, DD4): DD4 refitted on the blocks it wins, so it complements the fixed table.
    const TableFits* best_split_fixed = nullptr;
    std::vector<uint8_t> best_split;
    double best_split_error = INFINITY;
    for (const auto& f : fixed) {
      TableFits d = dd4.front();
      for (int it = 0; it < options.refit_iterations; ++it) {
        const auto sel = assignment(f, d);
        d = evaluate_table(ctx, "DD4", fit_dd4(ctx.dd4_points, &sel, 1, d.real_values, options.fit_max_blocks));
      }
      consider(f, d);
      const double e = pair_error(f, d);
      if (e < best_split_error) {
        best_split_error = e;
        best_split_fixed = &f;
        best_split = assignment(f, d);
      }
    }
    // Joint (DD4a, DD4b): start from the best (fixed, DD4) split, then alternate assign and refit.
    if (best_split_fixed) {
      TableFits a = evaluate_table(ctx, "DD4a", fit_dd4(ctx.dd4_points, &best_split, 0, best_split_fixed->real_values,
                                                        options.fit_max_blocks));
      TableFits b = evaluate_table(ctx, "DD4b", fit_dd4(ctx.dd4_points, &best_split, 1, dd4.front().real_values,
                                                        options.fit_max_blocks));
      for (int it = 0; it < options.refit_iterations; ++it) {
        const auto sel = assignment(a, b);
        a = evaluate_table(ctx, "DD4a", fit_dd4(ctx.dd4_points, &sel, 0, a.real_values, options.fit_max_blocks));
        b = evaluate_table(ctx, "DD4b", fit_dd4(ctx.dd4_points, &sel, 1, b.real_values, options.fit_max_blocks));
      }
      consider(a, b);
    }
  }
  if (fixed.size() == 1 && !fitted) return recipe_of(layout, awq_alpha, fixed.front(), nullptr);
  return best;
}

double choose_awq_alpha(const Tensor& w, Span<const float> importance, const SopLayout& layout,
                        const std::vector<double>& alphas, const SopSearchOptions& options) {
  if (is_uniform(importance) || alphas.empty()) return 0;
  double best_alpha = 0, best_error = INFINITY;
  for (double alpha : alphas) {
    SopLayerRecipe r;
    r.layout = layout;
    r.layout.scale.select = SelectBitPlacement::None;
    r.awq_alpha = alpha;
    r.table_names = {layout.fixed_codebooks.front()};
    r.tables = {table_values(layout.fixed_codebooks.front(), layout.block)};
    const double e = quantize_with_recipe(w, importance, r, options).choice.weighted_error;
    if (e < best_error) { best_error = e; best_alpha = alpha; }
  }
  return best_alpha;
}

// ---- Final quantization ----------------------------------------------------------------------------

namespace {

double weighted_error(const Tensor& w, Span<const float> importance, const std::vector<float>& dequant) {
  const int64_t cols = w.cols();
  double e = 0;
  for (std::size_t i = 0; i < dequant.size(); ++i) {
    const double d = static_cast<double>(w.values[i]) - dequant[i];
    const double imp = importance.empty() ? 1.0 : importance[i % static_cast<std::size_t>(cols)];
    e += imp * d * d;
  }
  return e;
}

struct SparseCandidate {
  uint64_t index;
  uint32_t entry;
  float dequant;
  double gain;
};

// Replacement entries for the weights with the largest weighted errors, best gain first.
std::vector<SparseCandidate> sparse_candidates(const Tensor& w, Span<const float> importance,
                                               const SopLayerResult& r, int64_t max_count) {
  std::vector<SparseCandidate> out;
  if (max_count <= 0) return out;
  const int64_t cols = r.cols;
  const auto n = static_cast<int64_t>(r.dequant.size());
  std::vector<double> err(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(w.values[i]) - r.dequant[i];
    err[i] = (importance.empty() ? 1.0 : importance[static_cast<std::size_t>(i % cols)]) * d * d;
  }
  // Consider a few times more weights than will be kept: the gain is almost the whole error.
  const int64_t pool = std::min<int64_t>(n, 2 * max_count + 16);
  std::vector<int64_t> idx(static_cast<std::size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::nth_element(idx.begin(), idx.begin() + (pool - 1), idx.end(),
                   [&](int64_t a, int64_t b) { return err[a] > err[b]; });
  idx.resize(static_cast<std::size_t>(pool));
  const int64_t bpr = (cols + r.block_size - 1) / r.block_size;
  const uint32_t sign_bit = 1u << (r.decode.scale.exp_bits + r.decode.scale.man_bits);
  for (int64_t i : idx) {
    const int64_t row = i / cols, col = i % cols;
    const uint32_t sc = r.scale_codes[static_cast<std::size_t>(row * bpr + col / r.block_size)];
    const double s = golden::scale_decode(r.decode.scale, sc & (sign_bit - 1u)) * ((sc & sign_bit) && r.decode.scale.has_sign ? -1 : 1);
    if (s == 0) continue;
    const double c = r.channel_factors.empty() ? 1.0 : r.channel_factors[static_cast<std::size_t>(col)];
    const uint32_t entry = golden::encode_entry(r.decode, w.values[i] / c / (s * r.tensor_scale));
    float q = decoded_weight(r.decode, entry, sc, r.tensor_scale);
    if (!r.channel_factors.empty()) q *= r.channel_factors[static_cast<std::size_t>(col)];
    const double d = static_cast<double>(w.values[i]) - q;
    const double after = (importance.empty() ? 1.0 : importance[static_cast<std::size_t>(col)]) * d * d;
    if (after < err[i]) out.push_back({static_cast<uint64_t>(i), entry, q, err[i] - after});
  }
  std::sort(out.begin(), out.end(), [](const SparseCandidate& a, const SparseCandidate& b) {
    return a.gain != b.gain ? a.gain > b.gain : a.index < b.index;
  });
  if (static_cast<int64_t>(out.size()) > max_count) out.resize(static_cast<std::size_t>(max_count));
  return out;
}

}  // namespace

std::string describe_recipe(const SopLayerRecipe& recipe) {
  std::string s = recipe.layout.name + " ";
  s += recipe.tables.size() == 2 ? "pair(" + recipe.table_names[0] + "," + recipe.table_names[1] + ")"
                                 : recipe.table_names[0];
  if (recipe.awq_alpha != 0) s += " c^" + std::to_string(recipe.awq_alpha).substr(0, 4);
  if (recipe.sparse_count > 0) s += " sparse " + std::to_string(recipe.sparse_count);
  return s;
}

std::vector<double> sparse_gains(const Tensor& w, Span<const float> importance, const SopLayerResult& r,
                                 int64_t max_count) {
  std::vector<double> gains;
  for (const auto& c : sparse_candidates(w, importance, r, max_count)) gains.push_back(c.gain);
  return gains;
}

double layer_bits(const SopLayerResult& r) {
  const int64_t blocks = r.rows * ((r.cols + r.block_size - 1) / r.block_size);
  double bits = static_cast<double>(r.rows * r.cols) * r.decode.code_bits +
                static_cast<double>(blocks) * r.scale_layout.bits_per_block();
  // A fitted table travels with the layer; a fixed one is a constant the LUT loader already has and
  // costs only its id.
  const std::size_t stored = r.scale_layout.select == SelectBitPlacement::None ? 1 : 2;
  for (std::size_t i = 0; i < std::min(stored, r.codebooks.size()); ++i) {
    bits += is_fitted_name(r.codebooks[i].name)
                ? static_cast<double>(r.codebooks[i].values.size()) * r.decode.entry_bits()
                : 8.0;
  }
  if (r.scale_layout.per_tensor_fp32) bits += 32;
  bits += static_cast<double>(r.sparse.size()) * (r.sparse_index_bits + r.decode.entry_bits());
  return bits;
}

SopLayerResult quantize_with_recipe(const Tensor& w, Span<const float> importance, const SopLayerRecipe& recipe,
                                    const SopSearchOptions& options) {
  const SopLayout& layout = recipe.layout;
  const LayerWork work = make_work(w, importance, layout.block, recipe.awq_alpha);
  const BlockedMatrix& m = work.matrix;
  SopLayerResult r;
  r.tensor_name = w.name;
  r.rows = w.rows();
  r.cols = w.cols();
  r.block_size = layout.block;
  r.decode = decode_config(layout, options);
  r.scale_layout = layout.scale;
  r.tensor_scale = layout.scale.per_tensor_fp32
                       ? per_tensor_scale(Span<const float>(m.values, w.values.size()), table_cb_max(recipe.tables),
                                          layout.scale.format)
                       : 1.0f;
  const ScaleGrid grid(layout.scale.format, r.tensor_scale);
  const ScaleSearch search{options.scale_steps, layout.scale.format.has_sign};
  std::vector<LutCodebook> cbs;
  for (std::size_t i = 0; i < recipe.tables.size(); ++i) {
    cbs.emplace_back(recipe.table_names[i], r.decode, recipe.tables[i]);
  }
  if (cbs.size() == 1) cbs.push_back(cbs.front());  // the golden tables always come in pairs
  for (const auto& cb : cbs) r.codebooks.push_back({cb.name(), cb.values(), cb.entry_codes()});
  const bool pair = recipe.tables.size() == 2 && layout.has_select();

  const int64_t blocks = m.block_count();
  r.scale_codes.resize(static_cast<std::size_t>(blocks));
  r.select.assign(static_cast<std::size_t>(blocks), 0);
  r.codes.resize(w.values.size());
  std::vector<float> q(w.values.size());
  parallel_for_ranges(blocks, options.threads, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const float* x = m.block_values(b);
      const float* wt = m.block_weights(b);
      const int n = m.block_length(b);
      BlockFit fit = fit_block(x, wt, n, cbs[0], grid, search);
      uint8_t sel = 0;
      if (pair) {
        const BlockFit other = fit_block(x, wt, n, cbs[1], grid, search);
        if (other.error < fit.error) { fit = other; sel = 1; }
      }
      const int64_t offset = x - m.values;
      r.scale_codes[b] = fit.scale_code;
      r.select[b] = sel;
      encode_block(x, wt, n, cbs[sel], grid, fit.scale_code, r.codes.data() + offset, q.data() + offset);
    }
  });
  if (!work.c.empty()) {
    r.channel_factors = work.c;
    for (std::size_t i = 0; i < q.size(); ++i) q[i] *= work.c[i % static_cast<std::size_t>(r.cols)];
  }
  r.dequant = std::move(q);
  r.sparse_index_bits = sparse_index_bits(static_cast<int64_t>(w.values.size()));
  if (recipe.sparse_count > 0) {
    auto kept = sparse_candidates(w, importance, r, recipe.sparse_count);
    std::sort(kept.begin(), kept.end(), [](const SparseCandidate& a, const SparseCandidate& b) { return a.index < b.index; });
    for (const auto& k : kept) {
      r.sparse.push_back({k.index, k.entry});
      r.dequant[k.index] = k.dequant;
    }
  }
  r.choice.option = describe_recipe(recipe);
  r.choice.weighted_error = weighted_error(w, importance, r.dequant);
  r.choice.bits = layer_bits(r);
  r.choice.bpw = r.choice.bits / static_cast<double>(w.values.size());
  return r;
}

}  // namespace sop
