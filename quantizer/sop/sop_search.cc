#include "quantizer/sop/sop_search.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <regex>

#include "quantizer/codebooks/codebooks.h"
#include "quantizer/codebooks/lloyd.h"
#include "base/error.h"
#include "base/large_array.h"
#include "base/parallel.h"

namespace sop {

// ---- Layouts ----------------------------------------------------------------------------------------

SopLayout parse_sop_layout(const std::string& name) {
  // g<block> [<atoms>] <s|U>E<e>M<m>[|sel[k]|+sel[k]][ rows<R>]
  static const std::regex pattern(
      R"(g(\d+)\s+(?:(E\dM\d(?:/E\dM\d)?)\s+)?([sU])E(\d)M(\d)(\|sel|\+sel)?(\d)?(?:\s+rows(\d{1,9}))?(?:\s+shared(\d{1,4}))?)");
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
  l.scale.select_bits = m[7].matched ? std::stoi(m[7]) : 1;
  l.scale.name += m[7].str();
  l.scale.per_tensor_fp32 = true;
  if (l.block < 1 || l.block > 256 || e < 1 || e > 8 || man < 0 || man > 7) {
    throw Error("SOP layout", name, "block or scale format out of range");
  }
  if (m[7].matched && (!m[6].matched || l.scale.select_bits < 1 || l.scale.select_bits > kMaxSelectBits)) {
    throw Error("SOP layout", name, "a selector is 1 to " + std::to_string(kMaxSelectBits) + " bits (\"+sel3\": 8 tables)");
  }
  if (m[8].matched) {
    l.rows_per_table = std::stoll(m[8]);
    if (l.rows_per_table < 1) throw Error("SOP layout", name, "rows<R> needs R >= 1");
    if (m[6].matched) throw Error("SOP layout", name, "row-group tables take no selector (the row picks the table)");
    if (m[2].matched || !is_signed) throw Error("SOP layout", name, "row-group tables are fitted DD4 tables: 4-bit codes, signed scale");
  }
  if (m[9].matched) {
    l.share_group = std::stoi(m[9]);
    if (l.share_group < 2) throw Error("SOP layout", name, "shared<N> needs a group of N >= 2 matrices");
    if (m[2].matched || !is_signed || m[8].matched) {
      throw Error("SOP layout", name, "shared tables are fitted DD4 tables of a selector or single-table layout (no rows<R>)");
    }
  }
  if (l.table_count() > 2 && (m[2].matched || !is_signed)) {
    throw Error("SOP layout", name, "more than two tables are fitted DD4 tables: 4-bit codes, signed scale");
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

int lut_entry_bits(golden::EntryFormat format) {
  golden::DecodeConfig cfg;
  cfg.entry_format = format;
  return cfg.entry_bits();
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

// Block b's weights as a DD4 fit sees them: divided by the block's signed max (which lands on +1),
// weighted by importance x max^2 (the block's scale squared, so errors keep their size). An all-zero
// block has none.
template <typename Visit>
void for_each_dd4_point(const BlockedMatrix& m, int64_t b, Visit visit) {
  const float* x = m.block_values(b);
  const float* w = m.block_weights(b);
  const int n = m.block_length(b);
  float xm = 0;
  for (int j = 0; j < n; ++j) if (std::fabs(x[j]) > std::fabs(xm)) xm = x[j];
  if (xm == 0) return;
  const double m2 = static_cast<double>(xm) * xm;
  for (int j = 0; j < n; ++j) visit(static_cast<double>(x[j]) / xm, w[j] * m2);
}

Dd4Points locate_dd4_points(const BlockedMatrix& m) {
  const WeightedHistogram hist = dd4_histogram();
  Dd4Points p;
  const int64_t count = m.block_count();
  p.points.reserve(static_cast<std::size_t>(m.rows * m.cols));
  p.block_begin.reserve(static_cast<std::size_t>(count + 1));
  for (int64_t b = 0; b < count; ++b) {
    p.block_begin.push_back(static_cast<int64_t>(p.points.size()));
    for_each_dd4_point(m, b, [&](double v, double weight) { p.points.push_back(hist.locate(v, weight)); });
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

// Each block's best table (the first of equals), the selector of a layer with these tables.
std::vector<uint8_t> assignment(const std::vector<TableFits>& tables) {
  std::vector<uint8_t> sel(tables.front().fits.size(), 0);
  for (std::size_t i = 0; i < sel.size(); ++i) {
    for (std::size_t t = 1; t < tables.size(); ++t) {
      if (tables[t].fits[i].error < tables[sel[i]].fits[i].error) sel[i] = static_cast<uint8_t>(t);
    }
  }
  return sel;
}

double set_error(const std::vector<TableFits>& tables) {
  double e = 0;
  for (std::size_t i = 0; i < tables.front().fits.size(); ++i) {
    float best = tables.front().fits[i].error;
    for (const auto& t : tables) best = std::min(best, t.fits[i].error);
    e += best;
  }
  return e;
}

// A DD4 table from a histogram of signed-max-normalized values: weighted Lloyd from `init` (16 values)
// with +1 pinned (the block's max maps onto it exactly). Too few distinct values: init unchanged.
std::vector<float> lloyd_table(const WeightedHistogram& hist, const std::vector<float>& init) {
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
  return lloyd_table(hist, init);
}

// A row group's DD4 table: the same fit on the group's blocks [first_block, end_block), located on a
// histogram of about one bin per four weights (at most max_bins): a group of one row holds only a few
// hundred weights, and a 4096-bin Lloyd per row would cost more than the rest of the search.
std::vector<float> fit_group_table(const BlockedMatrix& m, int64_t first_block, int64_t end_block,
                                   const std::vector<float>& init, int max_bins) {
  int64_t weights = 0;
  for (int64_t b = first_block; b < end_block; ++b) weights += m.block_length(b);
  const int bins = static_cast<int>(std::clamp<int64_t>(weights / 4, 64, std::max(64, max_bins)));
  WeightedHistogram hist(-1.0, 1.0, bins);
  for (int64_t b = first_block; b < end_block; ++b) {
    for_each_dd4_point(m, b, [&](double v, double weight) { hist.add(v, weight); });
  }
  return lloyd_table(hist, init);
}

std::vector<float> table_values(const std::string& name, int block) { return fixed_codebook(name, block).values; }

float table_cb_max(const std::vector<std::vector<float>>& tables) {
  float cb_max = INFINITY;
  for (const auto& t : tables) cb_max = std::min(cb_max, *std::max_element(t.begin(), t.end()));
  return cb_max > 0 && std::isfinite(cb_max) ? cb_max : 1.0f;
}

SopLayerRecipe recipe_of(const SopLayout& layout, double alpha, const std::vector<TableFits>& tables) {
  SopLayerRecipe r;
  r.layout = layout;
  r.awq_alpha = alpha;
  for (const auto& t : tables) {
    r.table_names.push_back(t.name);
    r.tables.push_back(t.real_values);
  }
  return r;
}

// Each block's weighted signal energy sum_j w_j x_j^2: a block's error relative to it says how badly
// its shape, not its size, is served.
std::vector<double> block_energies(const BlockedMatrix& m) {
  std::vector<double> e(static_cast<std::size_t>(m.block_count()), 0.0);
  for (int64_t b = 0; b < m.block_count(); ++b) {
    const float* x = m.block_values(b);
    const float* w = m.block_weights(b);
    for (int j = 0; j < m.block_length(b); ++j) e[static_cast<std::size_t>(b)] += static_cast<double>(w[j]) * x[j] * x[j];
  }
  return e;
}

// Grows a layer's tables to `target` (a k-means over tables, generalizing the pair search): a new DD4
// table is fitted on the share 1 / (k + 1) of blocks the k tables serve worst (relative error), then
// every block goes to its best table and every fitted table is refitted on its blocks, refit_iterations
// times. Refits that would raise the error are undone: the set never gets worse than before the refit.
// Every block to its best table, every fitted table refitted on its blocks, `iterations` times; a round
// that would raise the error is undone and ends the refits.
void refit_tables(const SearchContext& ctx, std::vector<TableFits>& tables, int iterations, const SopSearchOptions& options) {
  for (int it = 0; it < iterations; ++it) {
    const auto assigned = assignment(tables);
    std::vector<TableFits> refitted = tables;
    for (std::size_t t = 0; t < refitted.size(); ++t) {
      if (!is_fitted_name(refitted[t].name)) continue;
      refitted[t] = evaluate_table(ctx, refitted[t].name,
                                   fit_dd4(ctx.dd4_points, &assigned, static_cast<uint8_t>(t), refitted[t].real_values,
                                           options.fit_max_blocks));
    }
    if (set_error(refitted) > set_error(tables)) return;
    tables = std::move(refitted);
  }
}

std::vector<TableFits> grow_tables(const SearchContext& ctx, std::vector<TableFits> tables, std::size_t target,
                                   const SopSearchOptions& options) {
  const std::vector<double> energy = block_energies(ctx.m);
  // The starting set came from another layout (the pair search, or a menu's reference): its tables
  // are refitted to this layout's blocks first.
  refit_tables(ctx, tables, options.refit_iterations, options);
  while (tables.size() < target) {
    const auto sel = assignment(tables);
    std::vector<std::pair<double, std::size_t>> relative;
    for (std::size_t i = 0; i < energy.size(); ++i) {
      if (energy[i] > 0) relative.emplace_back(tables[sel[i]].fits[i].error / energy[i], i);
    }
    const std::size_t share = relative.size() / (tables.size() + 1);
    if (share == 0) {
      tables.push_back(tables.back());  // fewer blocks than tables: the extra ones are never chosen
      continue;
    }
    std::nth_element(relative.begin(), relative.begin() + static_cast<std::ptrdiff_t>(share - 1), relative.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<uint8_t> seed(energy.size(), 0);
    for (std::size_t k = 0; k < share; ++k) seed[relative[k].second] = 1;
    const std::vector<float>& init = tables[sel[relative.front().second]].real_values;
    tables.push_back(evaluate_table(ctx, "DD4#" + std::to_string(tables.size()),
                                    fit_dd4(ctx.dd4_points, &seed, 1, init, options.fit_max_blocks)));
    refit_tables(ctx, tables, options.refit_iterations, options);
  }
  return tables;
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
  if (layout.rows_per_table > 0) {
    // The groups' tables are fitted where the rows are (quantize_with_recipe); they start from the best
    // single table of the layer.
    SopLayout single = layout;
    single.rows_per_table = 0;
    SopLayerRecipe r = search_layer_pair(w, importance, single, awq_alpha, options,
                                         hint && hint->tables.size() <= 2 ? hint : nullptr);
    r.layout = layout;
    return r;
  }
  const auto table_count = static_cast<std::size_t>(layout.table_count());
  if (hint && (hint->tables.size() > std::max<std::size_t>(2, table_count) || hint->layout.rows_per_table > 0)) {
    hint = nullptr;  // a larger set does not shrink to this layout's; search it afresh
  }
  // More than two tables are grown on this layout's own blocks and scales: grown from another
  // layout's tables (a menu's reference) they settle measurably worse (0.6-1.3 dB on synthetic:llm).
  if (table_count > 2 && (!hint || hint->layout.name != layout.name)) {
    SopLayout pair = layout;
    pair.scale.select_bits = 1;
    const SopLayerRecipe best_pair = search_layer_pair(w, importance, pair, awq_alpha, options);
    SopLayerRecipe grown_from = best_pair;
    grown_from.layout = layout;
    return search_layer_pair(w, importance, layout, awq_alpha, options, &grown_from);
  }
  const LayerWork work = make_work(w, importance, layout.block, awq_alpha);
  std::vector<std::vector<float>> fixed_values;
  for (const auto& n : layout.fixed_codebooks) fixed_values.push_back(table_values(n, layout.block));
  if (hint) fixed_values = hint->tables;
  const bool fitted = layout.fitted_codebooks && layout.code_bits == 4;
  if (!hint && !fitted && !layout.has_select() && fixed_values.size() == 1) {
    // One fixed table and nothing to choose: no need to measure it.
    SopLayerRecipe only;
    only.layout = layout;
    only.awq_alpha = awq_alpha;
    only.table_names.push_back(fixed_codebook(layout.fixed_codebooks.front(), layout.block).name);
    only.tables.push_back(fixed_values.front());
    return only;
  }
  const float t = layout.scale.per_tensor_fp32
                      ? per_tensor_scale(Span<const float>(work.matrix.values, w.values.size()),
                                         table_cb_max(fixed_values), layout.scale.format, options.threads)
                      : 1.0f;
  std::vector<float> sample_storage;
  const BlockedMatrix searched = search_rows(work.matrix, options.search_max_blocks, sample_storage);
  const Dd4Points dd4_points = fitted ? locate_dd4_points(searched) : Dd4Points{};
  const SearchContext ctx{searched, dd4_points, decode_config(layout, options), ScaleGrid(layout.scale.format, t),
                          ScaleSearch{options.scale_steps, layout.scale.format.has_sign}, options.threads};

  if (hint) {
    // Same tables; DD4 tables refitted once to this layout's blocks.
    std::vector<TableFits> tables;
    for (std::size_t i = 0; i < hint->tables.size(); ++i) {
      tables.push_back(evaluate_table(ctx, hint->table_names[i], hint->tables[i]));
    }
    if (table_count > 2) return recipe_of(layout, awq_alpha, grow_tables(ctx, std::move(tables), table_count, options));
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

struct ErrorSums {
  double weighted = 0, signal = 0, noise = 0;
};

// The sums over rows of x and its reconstruction q ([rows, cols], row-major): four running sums,
// weight j going to sum j mod 4, added at the end (independent adds the compiler can put in lanes).
ErrorSums piece_error_sums(const float* x, const float* q, int64_t rows, int64_t cols, Span<const float> importance) {
  double weighted[4] = {}, signal[4] = {}, noise[4] = {};
  const int64_t n = rows * cols;
  const auto sum_one = [&](int64_t i, int lane) {
    const double d = static_cast<double>(x[i]) - q[i];
    const double imp = importance.empty() ? 1.0 : importance[static_cast<std::size_t>(i % cols)];
    weighted[lane] += imp * d * d;
    signal[lane] += static_cast<double>(x[i]) * x[i];
    noise[lane] += d * d;
  };
  int64_t i = 0;
  if (importance.empty()) {
    for (; i + 4 <= n; i += 4) {
      for (int lane = 0; lane < 4; ++lane) {
        const double d = static_cast<double>(x[i + lane]) - q[i + lane];
        weighted[lane] += d * d;
        signal[lane] += static_cast<double>(x[i + lane]) * x[i + lane];
        noise[lane] += d * d;
      }
    }
  }
  for (; i < n; ++i) sum_one(i, static_cast<int>(i & 3));
  ErrorSums e;
  e.weighted = (weighted[0] + weighted[1]) + (weighted[2] + weighted[3]);
  e.signal = (signal[0] + signal[1]) + (signal[2] + signal[3]);
  e.noise = (noise[0] + noise[1]) + (noise[2] + noise[3]);
  return e;
}

// The pieces the sums are taken over: whole rows, about 2^20 weights each, added in piece order, so
// the sums do not depend on the thread count (nor on whether the reconstruction was kept whole).
int64_t rows_per_error_piece(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, cols)); }

ErrorSums add_pieces(const std::vector<ErrorSums>& sums) {
  ErrorSums total;
  for (const ErrorSums& e : sums) {
    total.weighted += e.weighted;
    total.signal += e.signal;
    total.noise += e.noise;
  }
  return total;
}

// The layer's weighted error (importance per column), signal and plain error in one pass over the
// source and the reconstruction.
ErrorSums error_sums(const Tensor& w, Span<const float> importance, const std::vector<float>& dequant, int threads) {
  const int64_t rows = w.rows(), cols = w.cols();
  const int64_t rows_per_piece = rows_per_error_piece(cols);
  const int64_t pieces = (rows + rows_per_piece - 1) / rows_per_piece;
  std::vector<ErrorSums> sums(static_cast<std::size_t>(pieces));
  parallel_for_ranges(pieces, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t first = p * rows_per_piece, count = std::min(rows, first + rows_per_piece) - first;
      sums[static_cast<std::size_t>(p)] =
          piece_error_sums(w.values.data() + first * cols, dequant.data() + first * cols, count, cols, importance);
    }
  });
  return add_pieces(sums);
}

struct SparseCandidate {
  uint64_t index;
  uint32_t entry;
  float dequant;
  double gain;
};

// Replacement entries for the weights with the largest weighted errors, best gain first.
// The weighted squared error of weight i before any residual, and the bits of its float value
// (non-negative floats order as their bits do), for the selection below.
inline double residual_error(const Tensor& w, Span<const float> importance, const SopLayerResult& r, int64_t i) {
  const double d = static_cast<double>(w.values[static_cast<std::size_t>(i)]) - r.dequant[static_cast<std::size_t>(i)];
  return (importance.empty() ? 1.0 : importance[static_cast<std::size_t>(i % r.cols)]) * d * d;
}

inline uint32_t error_bits(double e) {
  const auto f = static_cast<float>(e);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// The `pool` weights of largest error (ties: the lower index), in that order, without an array the
// size of the matrix: a histogram of the errors' top float bits finds the bin the pool ends in,
// then the weights at or above it are collected and the boundary bin's sorted exactly. Both passes
// split the matrix between threads; the answer does not depend on how.
std::vector<int64_t> largest_errors(const Tensor& w, Span<const float> importance, const SopLayerResult& r, int64_t pool,
                                    int threads) {
  const auto n = static_cast<int64_t>(r.dequant.size());
  // Bins of the top 12 float bits (sign, exponent, 3 mantissa bits): the answer is exact whatever
  // the bin width (the boundary bin is sorted); 4096 bins stay in the cache, and four interleaved
  // copies keep consecutive weights in the same bin from waiting on each other's increment.
  constexpr int kBinShift = 20;
  constexpr int kBins = 1 << (32 - kBinShift);
  constexpr int64_t kChunk = int64_t{1} << 20;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<int64_t> total(kBins, 0);
  std::mutex total_mutex;
  parallel_for_ranges(chunks, threads, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> h(4 * kBins, 0);  // a range of chunks holds fewer than 2^32 weights
    for (int64_t i = begin * kChunk; i < std::min(n, end * kChunk); ++i) {
      ++h[static_cast<std::size_t>((i & 3) * kBins + (error_bits(residual_error(w, importance, r, i)) >> kBinShift))];
    }
    std::lock_guard<std::mutex> lock(total_mutex);  // integer sums: the order does not matter
    for (int b = 0; b < kBins; ++b) {
      for (int copy = 0; copy < 4; ++copy) total[static_cast<std::size_t>(b)] += h[static_cast<std::size_t>(copy * kBins + b)];
    }
  });
  int boundary = kBins - 1;
  int64_t above = 0;  // weights in bins above the boundary
  while (boundary > 0 && above + total[static_cast<std::size_t>(boundary)] < pool) above += total[static_cast<std::size_t>(boundary--)];
  std::vector<std::vector<std::pair<double, int64_t>>> found(static_cast<std::size_t>(chunks));
  parallel_for_ranges(chunks, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      auto& out = found[static_cast<std::size_t>(c)];
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) {
        const double e = residual_error(w, importance, r, i);
        if (static_cast<int>(error_bits(e) >> kBinShift) >= boundary) out.emplace_back(e, i);
      }
    }
  });
  std::vector<std::pair<double, int64_t>> all;
  for (auto& f : found) all.insert(all.end(), f.begin(), f.end());
  const auto larger = [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  const auto keep = std::min<int64_t>(pool, static_cast<int64_t>(all.size()));
  std::partial_sort(all.begin(), all.begin() + keep, all.end(), larger);
  std::vector<int64_t> out;
  out.reserve(static_cast<std::size_t>(keep));
  for (int64_t k = 0; k < keep; ++k) out.push_back(all[static_cast<std::size_t>(k)].second);
  return out;
}

std::vector<SparseCandidate> sparse_candidates(const Tensor& w, Span<const float> importance,
                                               const SopLayerResult& r, int64_t max_count, int threads) {
  std::vector<SparseCandidate> out;
  if (max_count <= 0) return out;
  const int64_t cols = r.cols;
  const auto n = static_cast<int64_t>(r.dequant.size());
  // Consider a few times more weights than will be kept: the gain is almost the whole error.
  const int64_t pool = std::min<int64_t>(n, 2 * max_count + 16);
  const std::vector<int64_t> idx = largest_errors(w, importance, r, pool, threads);
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
    const double before = residual_error(w, importance, r, i);
    if (after < before) out.push_back({static_cast<uint64_t>(i), entry, q, before - after});
  }
  std::sort(out.begin(), out.end(), [](const SparseCandidate& a, const SparseCandidate& b) {
    return a.gain != b.gain ? a.gain > b.gain : a.index < b.index;
  });
  if (static_cast<int64_t>(out.size()) > max_count) out.resize(static_cast<std::size_t>(max_count));
  return out;
}

}  // namespace

SopLayerRecipe search_shared_tables(const std::vector<const Tensor*>& members, const SopLayout& layout,
                                    const SopSearchOptions& options) {
  const int g = layout.block;
  // Each member's share of the sample, in full blocks; a member's rows are taken evenly spaced, as the
  // menus sample a large matrix, and only their full blocks (a row's short last block is left out).
  std::vector<const Tensor*> wide;
  for (const Tensor* t : members) {
    if (t->shape.size() >= 2 && t->cols() >= g && t->rows() > 0) wide.push_back(t);
  }
  if (wide.empty()) {
    throw Error("shared tables", layout.name, "no matrix of the group has a row of one full block");
  }
  const int64_t budget = options.search_max_blocks > 0 ? options.search_max_blocks : int64_t{1} << 40;
  const int64_t share = std::max<int64_t>(1, budget / static_cast<int64_t>(wide.size()));
  std::vector<float> joint;
  for (const Tensor* t : wide) {
    const int64_t full = t->cols() / g;  // full blocks per row
    const int64_t keep = std::clamp<int64_t>(share / full, 1, t->rows());
    for (int64_t i = 0; i < keep; ++i) {
      const float* row = t->values.data() + sampled_row(i, keep, t->rows()) * t->cols();
      joint.insert(joint.end(), row, row + full * g);
    }
  }
  Tensor blocks;
  blocks.name = "shared tables of " + members.front()->name;
  blocks.shape = {static_cast<int64_t>(joint.size()) / g, g};
  blocks.values = std::move(joint);
  SopLayerRecipe recipe = search_layer_pair(blocks, {}, layout, 0.0, options);
  recipe.awq_alpha = 0;
  recipe.sparse_count = 0;
  return recipe;
}

std::string describe_recipe(const SopLayerRecipe& recipe) {
  std::string s = recipe.layout.name + " ";
  if (recipe.layout.rows_per_table > 0) {
    s += "DD4 per " + std::to_string(recipe.layout.rows_per_table) + " rows from " + recipe.table_names[0];
  } else if (recipe.tables.size() == 2) {
    s += "pair(" + recipe.table_names[0] + "," + recipe.table_names[1] + ")";
  } else if (recipe.tables.size() > 2) {
    s += std::to_string(recipe.tables.size()) + " tables(";
    for (std::size_t i = 0; i < recipe.table_names.size(); ++i) s += (i ? "," : "") + recipe.table_names[i];
    s += ")";
  } else {
    s += recipe.table_names[0];
  }
  if (recipe.table_group >= 0) s += " set " + std::to_string(recipe.table_group);
  if (recipe.awq_alpha != 0) s += " c^" + std::to_string(recipe.awq_alpha).substr(0, 4);
  if (recipe.sparse_count > 0) s += " sparse " + std::to_string(recipe.sparse_count);
  return s;
}

std::vector<double> sparse_gains(const Tensor& w, Span<const float> importance, const SopLayerResult& r,
                                 int64_t max_count, int threads) {
  std::vector<double> gains;
  for (const auto& c : sparse_candidates(w, importance, r, max_count, threads)) gains.push_back(c.gain);
  return gains;
}

namespace {

// A fitted table travels with the layer; a fixed one is a constant the LUT loader already has and
// costs only its id. Every table a block can reach is stored: 2^select_bits with a selector, one per
// row group, else one (the golden pair's repeat is not).
template <class NameOf, class SizeOf>
double table_bits(std::size_t stored, std::size_t held, int entry_bits, NameOf name_of, SizeOf size_of) {
  double bits = 0;
  for (std::size_t i = 0; i < std::min(stored, held); ++i) {
    bits += is_fitted_name(name_of(i)) ? static_cast<double>(size_of(i)) * entry_bits : 8.0;
  }
  return bits;
}

}  // namespace

double stored_table_bits(const SopLayerResult& r) {
  const std::size_t stored = r.rows_per_table > 0 ? r.codebooks.size()
                             : r.scale_layout.select == SelectBitPlacement::None
                                 ? 1
                                 : std::size_t{1} << r.scale_layout.select_bits;
  return table_bits(stored, r.codebooks.size(), r.decode.entry_bits(), [&](std::size_t i) { return r.codebooks[i].name; },
                    [&](std::size_t i) { return r.codebooks[i].values.size(); });
}

double recipe_table_bits(const SopLayerRecipe& recipe, int entry_bits) {
  const std::size_t stored = static_cast<std::size_t>(recipe.layout.table_count());
  return table_bits(stored, recipe.tables.size(), entry_bits, [&](std::size_t i) { return recipe.table_names[i]; },
                    [&](std::size_t i) { return recipe.tables[i].size(); });
}

double layer_bits(const SopLayerResult& r) {
  const int64_t blocks = r.rows * ((r.cols + r.block_size - 1) / r.block_size);
  double bits = static_cast<double>(r.rows * r.cols) * r.decode.code_bits +
                static_cast<double>(blocks) * r.scale_layout.bits_per_block();
  // Shared tables are counted once, in the layer that stores them; the others store a reference to it.
  bits += r.tables_stored ? stored_table_bits(r) : 32.0;
  if (r.scale_layout.per_tensor_fp32) bits += 32;
  bits += static_cast<double>(r.sparse.size()) * (r.sparse_index_bits + r.decode.entry_bits());
  return bits;
}

double unmeasured_table_bits(const SopLayout& layout, int64_t rows, int64_t measured_rows, int entry_bits) {
  if (layout.rows_per_table <= 0) return 0;
  const auto groups = [&](int64_t r) { return (r + layout.rows_per_table - 1) / layout.rows_per_table; };
  return static_cast<double>(groups(rows) - groups(measured_rows)) * (1 << layout.code_bits) * entry_bits;
}

namespace {

// `from`'s storage sized to n without copying it (resize_for_overwrite): every element is
// overwritten by the caller.
// The fields every quantize_with_recipe result ends with: table sharing, the option, errors, bits.
void finish_result(SopLayerResult& r, const SopLayerRecipe& recipe, const ErrorSums& errors) {
  if (recipe.layout.share_group > 1) {
    r.table_group = recipe.table_group;
    r.tables_stored = recipe.stores_tables;
  }
  r.choice.option = describe_recipe(recipe);
  r.choice.weighted_error = errors.weighted;
  r.signal = errors.signal;
  r.noise = errors.noise;
  r.choice.bits = layer_bits(r);
  r.choice.bpw = r.choice.bits / static_cast<double>(r.rows * r.cols);
}

template <class T>
std::vector<T> storage_for(std::vector<T>* from, std::size_t n) {
  std::vector<T> v;
  if (from != nullptr) v = std::move(*from);
  resize_for_overwrite(v, n);
  return v;
}

}  // namespace

SopLayerResult quantize_with_recipe(const Tensor& w, Span<const float> importance, const SopLayerRecipe& recipe,
                                    const SopSearchOptions& options, SopLayerResult* recycled) {
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
                                          layout.scale.format, options.threads)
                       : 1.0f;
  const ScaleGrid grid(layout.scale.format, r.tensor_scale);
  const ScaleSearch search{options.scale_steps, layout.scale.format.has_sign};
  const int64_t blocks = m.block_count();
  const int64_t blocks_per_row = m.blocks_per_row();
  std::vector<LutCodebook> cbs;
  if (layout.rows_per_table > 0) {
    // One DD4 table per group of rows, each fitted on its own rows from the recipe's start table.
    const int64_t groups = (r.rows + layout.rows_per_table - 1) / layout.rows_per_table;
    cbs.resize(static_cast<std::size_t>(groups));
    parallel_for_ranges(groups, options.threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        const int64_t first_row = g * layout.rows_per_table;
        const int64_t end_row = std::min(r.rows, first_row + layout.rows_per_table);
        cbs[static_cast<std::size_t>(g)] =
            LutCodebook("DD4r", r.decode,
                        fit_group_table(m, first_row * blocks_per_row, end_row * blocks_per_row, recipe.tables.front(),
                                        options.fit_bins));
      }
    });
    r.rows_per_table = layout.rows_per_table;
  } else {
    for (std::size_t i = 0; i < recipe.tables.size(); ++i) {
      cbs.emplace_back(recipe.table_names[i], r.decode, recipe.tables[i]);
    }
    if (cbs.size() == 1) cbs.push_back(cbs.front());  // a single table is stored as the golden pair
  }
  for (const auto& cb : cbs) r.codebooks.push_back({cb.name(), cb.values(), cb.entry_codes()});
  // Tables a block chooses among (row groups: its group's only).
  const std::size_t choices = layout.rows_per_table > 0 || !layout.has_select() ? 1 : recipe.tables.size();

  // Only codes and sums wanted, one table per block, nothing applied after the blocks' own
  // reconstruction: quantize a piece of rows at a time into a small buffer and sum its errors there.
  const bool pieces_only = !options.keep_dequant && choices == 1 && layout.rows_per_table == 0 &&
                           recipe.sparse_count == 0 && work.c.empty();
  r.scale_codes = storage_for(recycled ? &recycled->scale_codes : nullptr, static_cast<std::size_t>(blocks));
  r.select = storage_for(recycled ? &recycled->select : nullptr, static_cast<std::size_t>(blocks));
  std::fill(r.select.begin(), r.select.end(), uint8_t{0});
  r.codes = storage_for(recycled ? &recycled->codes : nullptr, w.values.size());
  if (pieces_only) {
    const int64_t rows_per_piece = rows_per_error_piece(r.cols);
    const int64_t pieces = (r.rows + rows_per_piece - 1) / rows_per_piece;
    std::vector<ErrorSums> sums(static_cast<std::size_t>(pieces));
    parallel_for_ranges(pieces, options.threads, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> q;
      for (int64_t p = begin; p < end; ++p) {
        const int64_t first = p * rows_per_piece, count = std::min(r.rows, first + rows_per_piece) - first;
        BlockedMatrix piece = m;
        piece.values = m.values + first * r.cols;
        piece.rows = count;
        q.resize(static_cast<std::size_t>(count * r.cols));
        fit_encode_blocks(piece, 0, piece.block_count(), cbs.front(), grid, search,
                          r.scale_codes.data() + first * blocks_per_row, r.codes.data() + first * r.cols, q.data());
        sums[static_cast<std::size_t>(p)] = piece_error_sums(piece.values, q.data(), count, r.cols, importance);
      }
    });
    const ErrorSums errors = add_pieces(sums);
    r.sparse_index_bits = sparse_index_bits(static_cast<int64_t>(w.values.size()));
    finish_result(r, recipe, errors);
    return r;
  }
  std::vector<float> q = storage_for(recycled ? &recycled->dequant : nullptr, w.values.size());
  parallel_for_ranges(blocks, options.threads, 4096, [&](int64_t begin, int64_t end) {
    if (choices == 1) {
      // One table per block (the layer's, or its row group's): fit and encode together.
      const int64_t group_blocks = layout.rows_per_table > 0 ? layout.rows_per_table * blocks_per_row : blocks;
      for (int64_t b = begin; b < end;) {
        const int64_t group = b / group_blocks;
        const int64_t stop = std::min(end, (group + 1) * group_blocks);
        fit_encode_blocks(m, b, stop, cbs[static_cast<std::size_t>(group)], grid, search, r.scale_codes.data(),
                          r.codes.data(), q.data());
        b = stop;
      }
      return;
    }
    // A selector: every table fitted, the best chosen per block (rows_per_table is 0 here).
    fit_select_encode_blocks(m, begin, end, Span<const LutCodebook>(cbs.data(), choices), grid, search,
                             r.scale_codes.data(), r.select.data(), r.codes.data(), q.data());
  });
  if (!work.c.empty()) {
    r.channel_factors = work.c;
    for (std::size_t i = 0; i < q.size(); ++i) q[i] *= work.c[i % static_cast<std::size_t>(r.cols)];
  }
  r.dequant = std::move(q);
  r.sparse_index_bits = sparse_index_bits(static_cast<int64_t>(w.values.size()));
  if (recipe.sparse_count > 0) {
    auto kept = sparse_candidates(w, importance, r, recipe.sparse_count, options.threads);
    std::sort(kept.begin(), kept.end(), [](const SparseCandidate& a, const SparseCandidate& b) { return a.index < b.index; });
    for (const auto& k : kept) {
      r.sparse.push_back({k.index, k.entry});
      r.dequant[k.index] = k.dequant;
    }
  }
  finish_result(r, recipe, error_sums(w, importance, r.dequant, options.threads));
  return r;
}

}  // namespace sop
