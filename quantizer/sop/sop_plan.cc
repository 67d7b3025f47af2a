#include "quantizer/sop/sop_plan.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "base/parallel.h"

namespace sop {

std::string SopBudgetPlan::summary() const {
  std::ostringstream out;
  const double bpw = total_weights > 0 ? solution.bits / total_weights : 0;
  out << bpw << " bpw over " << names.size() << " matrices, weighted error " << solution.error
      << ", Lagrangian bound " << solution.lower_bound << " (gap "
      << (solution.error > 0 ? 100 * solution.gap() / solution.error : 0) << "%)";
  if (shared_sets > 0) out << ", " << shared_sets << " shared table sets (" << shared_table_bits << " bits)";
  return out.str();
}

SopLayout layout_of(const RecipeOption& option) {
  SopLayout layout = parse_sop_layout(option.layout_name());
  if (layout.code_bits == 4) {
    layout.fixed_codebooks.clear();
    for (const auto& c : option.codebooks) {
      // Generated tables exist per block size; the name carries the block the option uses.
      layout.fixed_codebooks.push_back(c.rfind("BOF4", 0) == 0 ? c + "@g" + std::to_string(option.block) : c);
    }
    layout.fitted_codebooks = option.fitted;
  }
  return layout;
}

SopBudgetSpec budget_spec_of(const Recipe& recipe) {
  SopBudgetSpec spec;
  spec.name = recipe.name;
  spec.target_bpw = recipe.target_bpw > 0 ? recipe.target_bpw : RecipeLimits::kMaxBpw;
  for (std::size_t i = 0; i < recipe.options.size(); ++i) {
    try {
      spec.layouts.push_back(layout_of(recipe.options[i]));
    } catch (const Error& e) {
      throw Error(recipe.path, "options[" + std::to_string(i) + "]", std::string("not a layout the search runs: ") + e.what());
    }
  }
  spec.sparse_fractions = recipe.sparse_fractions;
  spec.scale_steps = recipe.scale_steps;
  spec.entry_format = recipe.lut_format == "FP16" ? golden::EntryFormat::Fp16 : golden::EntryFormat::Hif;
  spec.lut_sram_bytes = recipe.lut_sram_bytes;
  spec.source = recipe.path;
  return spec;
}

namespace {

// One matrix's menu: every layout, each alone and with each sparse budget, as knapsack options
// (bits, weights x relative weighted error) and the recipes that reproduce them.
struct MatrixMenu {
  bool planned = false;  // false for tensors that are not matrices or hold no weights
  std::vector<KnapsackOption> options;
  std::vector<SopLayerRecipe> recipes;
  double weights = 0;
  bool estimated = false;  // measured on a row sample
  std::vector<std::string> refused;  // layouts that cannot run in the LUT, and why
};

// shared[li]: for a shared layout (share_group > 1), the table set of this matrix's group (nullptr
// when it has none); unused for the others.
MatrixMenu build_menu(const Tensor& w, Span<const float> importance_all, const SopBudgetSpec& spec,
                      const std::vector<SopLayout>& layouts, const std::vector<const SopLayerRecipe*>& shared,
                      const SopSearchOptions& search) {
  MatrixMenu menu;
  if (w.shape.size() < 2 || w.values.empty()) return menu;
  menu.planned = true;
  const int64_t rows = w.rows(), cols = w.cols();
  const double weights = static_cast<double>(w.values.size());
  menu.weights = weights;
  const Span<const float> imp =
      static_cast<int64_t>(importance_all.size()) == cols ? importance_all : Span<const float>();

  // A large matrix is measured on evenly spaced rows holding at most search_max_blocks blocks of
  // the smallest block size on the menu (the rows the pair search would look at anyway): its
  // options' errors are then estimates, its bits stay exact. Smaller matrices are measured whole.
  int smallest_block = layouts.front().block;
  for (const auto& l : layouts) smallest_block = std::min(smallest_block, l.block);
  const int64_t finest_blocks_per_row = (cols + smallest_block - 1) / smallest_block;
  int64_t keep = rows;
  if (search.search_max_blocks > 0 && rows * finest_blocks_per_row > search.search_max_blocks) {
    keep = std::max<int64_t>(1, search.search_max_blocks / finest_blocks_per_row);
  }
  const Tensor sample = keep < rows ? sample_rows(w, keep) : Tensor();
  const Tensor& measured = keep < rows ? sample : w;
  const double measured_weights = static_cast<double>(measured.values.size());
  menu.estimated = keep < rows;

  const double alpha = choose_awq_alpha(measured, imp, layouts.front(), default_awq_alphas(), search);
  // The knapsack compares layers by relative weighted error (1 - ACos, up to a factor of two) times
  // their weight count: raw squared errors would let the layers with the largest weights decide.
  double signal = 0;
  for (std::size_t i = 0; i < measured.values.size(); ++i) {
    const double imp_j = imp.empty() ? 1.0 : imp[i % static_cast<std::size_t>(cols)];
    signal += imp_j * static_cast<double>(measured.values[i]) * measured.values[i];
  }
  const double error_unit = signal > 0 ? weights / signal : 1.0;
  const int full_index_bits = sparse_index_bits(static_cast<int64_t>(w.values.size()));
  SopLayerRecipe reference;
  bool have_reference = false;
  for (std::size_t li = 0; li < layouts.size(); ++li) {
    const SopLayout& layout = layouts[li];
    const LutDemand lut = lut_demand(layout, rows, cols, lut_entry_bits(search.entry_format), search.lut);
    if (!lut.fits) {
      menu.refused.push_back(layout.name + ": " + lut.reason);
      continue;
    }
    SopLayerRecipe recipe;
    if (layout.share_group > 1) {
      if (shared[li] == nullptr) {
        menu.refused.push_back(layout.name + ": no table set of its group (a group whose matrices are all too narrow for one block)");
        continue;
      }
      // The group's tables; the menu counts a reference to them (their bits are reserved from the
      // budget once per set, and charged to the first matrix that uses them after the knapsack).
      recipe = *shared[li];
      recipe.awq_alpha = alpha;
      recipe.stores_tables = false;
    } else if (!have_reference) {
      have_reference = true;
      recipe = reference = search_layer_pair(measured, imp, layout, alpha, search);
    } else if (layout.code_bits == reference.layout.code_bits) {
      // The reference pair, refitted to this layout: the full pair search once per matrix.
      recipe = search_layer_pair(measured, imp, layout, alpha, search, &reference);
    } else {
      recipe = search_layer_pair(measured, imp, layout, alpha, search);
    }
    const SopLayerResult r = quantize_with_recipe(measured, imp, recipe, search);
    // The rows not measured cost what measured rows cost: codes and per-block scales.
    const int64_t blocks_per_row = (cols + layout.block - 1) / layout.block;
    // Row-group tables of the unmeasured rows are stored too; reload stalls are charged as bits.
    const double bits = r.choice.bits + static_cast<double>(rows - measured.rows()) *
                                            (static_cast<double>(cols * layout.code_bits) +
                                             static_cast<double>(blocks_per_row * layout.scale.bits_per_block())) +
                        unmeasured_table_bits(layout, rows, measured.rows(), r.decode.entry_bits()) + lut.charged_bits;
    menu.options.push_back({bits, r.choice.weighted_error * error_unit});
    menu.recipes.push_back(recipe);
    int64_t max_k = 0;
    for (double f : spec.sparse_fractions) max_k = std::max<int64_t>(max_k, std::llround(f * measured_weights));
    const auto gains = sparse_gains(measured, imp, r, max_k, search.threads);
    const int per_entry = full_index_bits + r.decode.entry_bits();
    for (double f : spec.sparse_fractions) {
      // Always offered (possibly with fewer entries) so every matrix has the same menu shape.
      const auto k = std::min<int64_t>(std::max<int64_t>(1, std::llround(f * measured_weights)),
                                       static_cast<int64_t>(gains.size()));
      double gain = 0;
      for (int64_t i = 0; i < k; ++i) gain += gains[static_cast<std::size_t>(i)];
      // On a sample, k entries there stand for k x (weights / measured weights) in the matrix.
      const auto full_k = keep < rows ? std::max<int64_t>(1, std::llround(static_cast<double>(k) * weights / measured_weights)) : k;
      SopLayerRecipe with_sparse = recipe;
      with_sparse.sparse_count = full_k;
      menu.options.push_back({bits + static_cast<double>(full_k * per_entry),
                              std::max(0.0, r.choice.weighted_error - gain) * error_unit});
      menu.recipes.push_back(with_sparse);
    }
  }
  return menu;
}

// Matrices below this many weights are planned several at a time, one thread each: their block
// loops are too short to split between threads. Larger ones use every thread inside the search,
// so that at most one large matrix is in memory at a time.
constexpr int64_t kLayerParallelMaxWeights = int64_t{1} << 20;

}  // namespace

SopBudgetPlan plan_sop_budget(const ModelReader& model, const std::vector<std::string>& matrix_names,
                              const SopBudgetSpec& spec, Span<const float> importance_all,
                              const SopSearchOptions& search,
                              const std::map<std::string, std::vector<float>>* per_tensor,
                              const SopPlanProgress& progress) {
  // A matrix's own statistics when the caller has them, else the shared vector (if it fits).
  auto importance_of = [&](const Tensor& w) -> Span<const float> {
    if (per_tensor != nullptr) {
      const auto it = per_tensor->find(w.name);
      if (it != per_tensor->end() && static_cast<int64_t>(it->second.size()) == w.cols()) return it->second;
    }
    return importance_all;
  };
  const std::vector<SopLayout>& layouts = spec.layouts;
  std::map<std::string, int64_t> weights_of;
  std::map<std::string, const TensorInfo*> info_of;
  for (const TensorInfo& info : model.tensors()) {
    weights_of[info.name] = info.element_count();
    info_of[info.name] = &info;
  }
  const auto refuse_lut = [&](const std::string& name, const std::string& why) {
    throw Error(model.path(), name,
                "no layout of " + spec.name + " fits a LUT SRAM of " + std::to_string(search.lut.sram_bytes) + " bytes (" + why + ")");
  };
  // Whether each matrix has a layout its LUT holds depends only on its shape: a LUT too small for
  // every option is refused from the tensor list, before any menu is built.
  for (const std::string& name : matrix_names) {
    const auto it = info_of.find(name);
    if (it == info_of.end() || !it->second->is_matrix() || it->second->element_count() == 0) continue;
    const int64_t rows = it->second->shape[0], cols = it->second->shape[1];
    std::string why;
    bool any = false;
    for (const SopLayout& layout : layouts) {
      const LutDemand lut = lut_demand(layout, rows, cols, lut_entry_bits(search.entry_format), search.lut);
      any = any || lut.fits;
      if (!lut.fits) why += (why.empty() ? "" : "; ") + layout.name + ": " + lut.reason;
    }
    if (!any) refuse_lut(name, why);
  }

  // Shared table sets: for each layout with share_group N > 1, one set per group of N consecutive
  // matrices (in the order given, the order the unit decodes them), fitted on all of the group's
  // members that the layout fits, before any menu (each menu then measures its matrix on them).
  std::vector<SopLayerRecipe> sets;             // every set, by table_group number
  std::vector<std::vector<int64_t>> set_of(layouts.size(), std::vector<int64_t>(matrix_names.size(), -1));
  std::vector<std::size_t> planned;
  for (std::size_t i = 0; i < matrix_names.size(); ++i) {
    const auto it = info_of.find(matrix_names[i]);
    if (it != info_of.end() && it->second->is_matrix() && it->second->element_count() > 0) planned.push_back(i);
  }
  std::map<int, std::vector<std::size_t>> layouts_by_group;  // group size -> the layouts of that size
  int shared_block = 1 << 30;
  for (std::size_t li = 0; li < layouts.size(); ++li) {
    if (layouts[li].share_group < 2) continue;
    layouts_by_group[layouts[li].share_group].push_back(li);
    shared_block = std::min(shared_block, layouts[li].block);
  }
  // A member is kept as at most the rows whose full blocks fill the whole sample (the fit takes a
  // share of those), so a group costs samples, not matrices, in memory. Layouts of one group size
  // share the reads.
  const int entry_bits = lut_entry_bits(search.entry_format);
  for (const auto& [group_size, group_layouts] : layouts_by_group) {
    for (std::size_t first = 0; first < planned.size(); first += static_cast<std::size_t>(group_size)) {
      const std::size_t end = std::min(planned.size(), first + static_cast<std::size_t>(group_size));
      std::vector<Tensor> samples;
      for (std::size_t k = first; k < end; ++k) {
        Tensor t = model.read(matrix_names[planned[k]]);
        const int64_t full = t.cols() / shared_block;
        if (search.search_max_blocks > 0 && full > 0 && t.rows() * full > search.search_max_blocks) {
          t = sample_rows(t, std::max<int64_t>(1, search.search_max_blocks / full));
        }
        samples.push_back(std::move(t));
      }
      for (std::size_t li : group_layouts) {
        const SopLayout& layout = layouts[li];
        std::vector<const Tensor*> members;
        std::vector<std::size_t> fitting;
        bool any_wide = false;
        for (std::size_t k = first; k < end; ++k) {
          const Tensor& t = samples[k - first];
          if (!lut_demand(layout, t.rows(), t.cols(), entry_bits, search.lut).fits) continue;
          members.push_back(&t);
          fitting.push_back(planned[k]);
          any_wide = any_wide || t.cols() >= layout.block;
        }
        if (!any_wide) continue;  // no member fits the LUT, or none has a full block
        SopLayerRecipe set = search_shared_tables(members, layout, search);
        set.table_group = static_cast<int64_t>(sets.size());
        for (std::size_t m : fitting) set_of[li][m] = set.table_group;
        sets.push_back(std::move(set));
      }
    }
  }
  const auto shared_of = [&](std::size_t matrix) {
    std::vector<const SopLayerRecipe*> out(layouts.size(), nullptr);
    for (std::size_t li = 0; li < layouts.size(); ++li) {
      if (set_of[li][matrix] >= 0) out[li] = &sets[static_cast<std::size_t>(set_of[li][matrix])];
    }
    return out;
  };

  std::vector<MatrixMenu> menus(matrix_names.size());
  std::vector<std::size_t> small, large;
  for (std::size_t i = 0; i < matrix_names.size(); ++i) {
    const auto it = weights_of.find(matrix_names[i]);
    (it != weights_of.end() && it->second < kLayerParallelMaxWeights ? small : large).push_back(i);
  }
  // Small matrices: a shared counter hands out the next one; reads are serialized (readers share
  // one file handle). The menus do not depend on the thread count, so the plan is the same.
  const int workers = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(search.threads)),
                                                             small.size()));
  std::atomic<std::size_t> next{0};
  std::mutex read_mutex, failure_mutex, progress_mutex;
  std::size_t finished = 0;
  const auto report = [&](std::size_t i) {
    if (!progress) return;
    std::lock_guard<std::mutex> lock(progress_mutex);
    progress(++finished, matrix_names.size(), matrix_names[i]);
  };
  std::exception_ptr failure;
  SopSearchOptions single = search;
  single.threads = 1;
  auto work = [&] {
    try {
      for (std::size_t k = next++; k < small.size(); k = next++) {
        Tensor w;
        {
          std::lock_guard<std::mutex> lock(read_mutex);
          w = model.read(matrix_names[small[k]]);
        }
        menus[small[k]] = build_menu(w, importance_of(w), spec, layouts, shared_of(small[k]), workers > 1 ? single : search);
        report(small[k]);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = small.size();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
  for (std::size_t i : large) {
    const Tensor w = model.read(matrix_names[i]);
    menus[i] = build_menu(w, importance_of(w), spec, layouts, shared_of(i), search);
    report(i);
  }

  SopBudgetPlan plan;
  for (std::size_t i = 0; i < matrix_names.size(); ++i) {
    if (!menus[i].planned) continue;
    if (menus[i].options.empty()) {
      std::string why;
      for (const auto& r : menus[i].refused) why += (why.empty() ? "" : "; ") + r;
      refuse_lut(matrix_names[i], why);
    }
    plan.options.push_back(std::move(menus[i].options));
    plan.recipes.push_back(std::move(menus[i].recipes));
    plan.names.push_back(matrix_names[i]);
    plan.estimated.push_back(menus[i].estimated);
    plan.total_weights += menus[i].weights;
  }
  if (plan.names.empty()) return plan;
  plan.budget_bits = spec.target_bpw * plan.total_weights;
  // Shared sets' tables are reserved from the budget; the knapsack then sees each member's reference
  // only. Given a reserve of sets, the knapsack runs over the options whose set is in it, on the budget
  // less the reserve's bits, so its answer fits with the sets it uses; the sets it leaves unused are
  // then dropped from the reserve (their bits freed) while that lowers the error. Starts: every set,
  // and the sets of every matrix's cheapest option (a reserve that fits whenever any answer does);
  // the answer of lower error is kept.
  std::vector<double> set_bits(sets.size());
  for (std::size_t k = 0; k < sets.size(); ++k) set_bits[k] = recipe_table_bits(sets[k], entry_bits);
  const auto set_of_option = [&](std::size_t g, std::size_t o) { return plan.recipes[g][o].table_group; };
  const auto cheapest_option = [&](std::size_t g) {
    std::size_t least = 0;
    for (std::size_t o = 1; o < plan.options[g].size(); ++o) least = plan.options[g][o].bits < plan.options[g][least].bits ? o : least;
    return least;
  };
  const auto used_by = [&](const KnapsackSolution& s) {
    std::vector<bool> used(sets.size(), false);
    for (std::size_t g = 0; g < plan.names.size(); ++g) {
      const int64_t set = set_of_option(g, static_cast<std::size_t>(s.choice[g]));
      if (set >= 0) used[static_cast<std::size_t>(set)] = true;
    }
    return used;
  };
  const auto solve_within = [&](const std::vector<bool>& reserve) {
    double reserved = 0;
    for (std::size_t k = 0; k < sets.size(); ++k) reserved += reserve[k] ? set_bits[k] : 0.0;
    std::vector<std::vector<KnapsackOption>> groups(plan.names.size());
    std::vector<std::vector<int>> index(plan.names.size());
    for (std::size_t g = 0; g < plan.names.size(); ++g) {
      for (std::size_t o = 0; o < plan.options[g].size(); ++o) {
        const int64_t set = set_of_option(g, o);
        if (set >= 0 && !reserve[static_cast<std::size_t>(set)]) continue;
        groups[g].push_back(plan.options[g][o]);
        index[g].push_back(static_cast<int>(o));
      }
      if (groups[g].empty()) return KnapsackSolution{};
    }
    KnapsackSolution s = solve_knapsack_dp(groups, plan.budget_bits - reserved);
    if (s.feasible) {
      for (std::size_t g = 0; g < groups.size(); ++g) s.choice[g] = index[g][static_cast<std::size_t>(s.choice[g])];
    }
    return s;
  };
  const auto shrink = [&](std::vector<bool> reserve) {
    KnapsackSolution best = solve_within(reserve);
    for (std::size_t round = 0; best.feasible && round <= sets.size(); ++round) {
      const std::vector<bool> used = used_by(best);
      if (used == reserve) break;
      reserve = used;
      const KnapsackSolution s = solve_within(reserve);
      if (!s.feasible || s.error >= best.error) break;
      best = s;
    }
    return best;
  };
  if (sets.empty()) {
    plan.solution = solve_knapsack_dp(plan.options, plan.budget_bits);
  } else {
    std::vector<bool> cheapest_sets(sets.size(), false);
    for (std::size_t g = 0; g < plan.names.size(); ++g) {
      const int64_t set = set_of_option(g, cheapest_option(g));
      if (set >= 0) cheapest_sets[static_cast<std::size_t>(set)] = true;
    }
    for (const std::vector<bool>& start : {std::vector<bool>(sets.size(), true), cheapest_sets}) {
      const KnapsackSolution a = shrink(start);
      if (a.feasible && (!plan.solution.feasible || a.error < plan.solution.error)) plan.solution = a;
    }
  }
  if (plan.solution.feasible) {
    std::vector<bool> stored(sets.size(), false);
    for (std::size_t g = 0; g < plan.names.size(); ++g) {
      const auto o = static_cast<std::size_t>(plan.solution.choice[g]);
      SopLayerRecipe& r = plan.recipes[g][o];
      if (r.table_group < 0 || stored[static_cast<std::size_t>(r.table_group)]) continue;
      stored[static_cast<std::size_t>(r.table_group)] = true;
      r.stores_tables = true;
      const double bits = set_bits[static_cast<std::size_t>(r.table_group)];
      plan.options[g][o].bits += bits;
      plan.solution.bits += bits;
      plan.shared_table_bits += bits;
      ++plan.shared_sets;
    }
  }
  if (!plan.solution.feasible) {
    // What the budget would have to be: every matrix at its cheapest option, and the shared sets
    // those options use.
    double cheapest = 0;
    std::vector<bool> used(sets.size(), false);
    for (std::size_t g = 0; g < plan.names.size(); ++g) {
      const std::size_t least = cheapest_option(g);
      cheapest += plan.options[g][least].bits;
      const int64_t set = set_of_option(g, least);
      if (set >= 0 && !used[static_cast<std::size_t>(set)]) {
        used[static_cast<std::size_t>(set)] = true;
        cheapest += set_bits[static_cast<std::size_t>(set)];
      }
    }
    char what[256];
    std::snprintf(what, sizeof what, "no per-layer choice fits %.4g bpw on %s: its cheapest options need %.4f bpw",
                  spec.target_bpw, model.path().c_str(), cheapest / plan.total_weights);
    if (spec.source.empty()) throw Error(model.path(), spec.name, what);
    throw Error(spec.source, "budget.target_bpw", what);
  }
  return plan;
}

}  // namespace sop
