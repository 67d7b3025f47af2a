#include "sim/sweep.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/child_processes.h"
#include "base/error.h"
#include "base/half.h"
#include "model/hw/hw_config.h"
#include "quantizer/metrics.h"
#include "quantizer/model_reader.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/lut_capacity.h"
#include "quantizer/sop/sop_plan.h"
#include "quantizer/sop/sop_search.h"
#include "sim/clock.h"
#include "sim/tech.h"

namespace sop::sim {
namespace fs = std::filesystem;
namespace {

// ---- Quantization shared by points --------------------------------------------------------------

// What a point needs quantized: one pack per (model, recipe, block, table format, LUT size the
// search plans for).
struct QuantKey {
  std::string model;
  std::string recipe;   // empty for a pack model
  int block = 0;        // 0: the recipe's own
  std::string lut_format;  // "hif" or "fp16" (BF16 points reuse the FP16 pack)
  // The LUT SRAM bytes the search fits the tables to (-1: the recipe's own lut_sram_bytes), reduced
  // to the smallest size with the same menus (equivalent_lut_bytes) so that sizes which allow the
  // same tables share a pack.
  int64_t lut_bytes = -1;
  bool operator<(const QuantKey& o) const {
    return std::tie(model, recipe, block, lut_format, lut_bytes) <
           std::tie(o.model, o.recipe, o.block, o.lut_format, o.lut_bytes);
  }
  std::string slug() const {
    std::string s = model + (recipe.empty() ? "" : "_" + recipe) + (block ? "_g" + std::to_string(block) : "") +
                    (lut_format.empty() ? "" : "_" + lut_format) +
                    (lut_bytes >= 0 ? "_lut" + std::to_string(lut_bytes) : "");
    for (char& c : s) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    }
    return s;
  }
};

struct QuantResult {
  std::string error;  // non-empty: every point that needs this pack fails with it
  Workload workload;
  nlohmann::json quality;  // {bpw, sqnr_db, ...} per table format actually used by points
  // The same layers for the SystemC model, opened once here and inherited by every point's process
  // (or why they could not be).
  std::shared_ptr<const sysc::Workload> simulated;
  std::string simulated_error;
};

// The SystemC model's layers of a pack; throws when they could not be opened.
const sysc::Workload& simulated_layers(const QuantResult& q) {
  if (!q.simulated) throw std::runtime_error("the SystemC model cannot stream the pack: " + q.simulated_error);
  return *q.simulated;
}

// An FP16 table entry re-rounded to BF16, stored back as FP16 (every BF16 value of a codebook's range
// is an FP16 value).
uint32_t fp16_entry_as_bf16(uint32_t code) {
  const float entry = static_cast<float>(golden::fp16_decode(static_cast<uint16_t>(code)));
  return golden::fp16_encode(bf16_to_fp32(fp32_to_bf16(entry)));
}

// SQNR of the pack's decode against the checkpoint, over all quantized layers; with bf16 the tables of
// an FP16 pack are re-rounded to BF16 first (same codes and scales).
nlohmann::json measure_quality(const std::string& model_path, const std::string& pack_path, bool bf16) {
  const auto model = open_model(model_path);
  const PackFile pack = PackFile::open(pack_path);
  double signal = 0, noise = 0, layer_db_sum = 0, counted_bits = 0, weights = 0;
  int layers = 0;
  for (const PackedLayerView& original : pack.layers()) {
    PackedLayerView view = original;
    if (bf16) {
      if (view.decode.entry_format != golden::EntryFormat::Fp16) throw Error(pack_path, view.name, "BF16 needs an FP16 pack");
      for (SopCodebook& cb : view.codebooks) {
        for (uint32_t& code : cb.lut_codes) code = fp16_entry_as_bf16(code);
      }
      for (SopSparseEntry& s : view.sparse) s.entry = fp16_entry_as_bf16(s.entry);
    }
    const std::vector<float> q = dequantize_layer(view);
    const Tensor w = model->read(view.name);
    if (w.values.size() != q.size()) throw Error(pack_path, view.name, "shape differs from the checkpoint's");
    const ErrorMetrics m = compute_metrics(w.values, q, view.cols, {});
    double s = 0, e = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      const double d = static_cast<double>(w.values[i]) - q[i];
      s += static_cast<double>(w.values[i]) * w.values[i];
      e += d * d;
    }
    signal += s;
    noise += e;
    layer_db_sum += std::isfinite(m.sqnr_db) ? m.sqnr_db : 200.0;
    counted_bits += view.choice.bits;
    weights += static_cast<double>(q.size());
    ++layers;
  }
  return {{"sqnr_db", noise > 0 ? 10 * std::log10(signal / noise) : 200.0},
          {"mean_layer_sqnr_db", layers ? layer_db_sum / layers : 0.0},
          {"counted_bpw", weights > 0 ? counted_bits / weights : 0.0},
          {"layers", layers}};
}

class QuantCache {
 public:
  QuantCache(const SweepSpec& spec, std::string out_dir, std::function<void(const std::string&)> log)
      : spec_(spec), dir_((fs::path(out_dir) / "packs").string()), log_(std::move(log)) {}

  const QuantResult& get(const QuantKey& key, bool need_bf16_quality) {
    auto it = results_.find(key);
    if (it == results_.end()) it = results_.emplace(key, prepare(key)).first;
    QuantResult& r = it->second;
    if (need_bf16_quality && r.error.empty() && !r.quality.contains("bf16")) add_quality(key, r, true);
    return r;
  }

  // Opens the pack of `key` for the SystemC model (once), and finds what its layers' fit checks need
  // before the points' processes are forked, so that none of them reads the pack again.
  void open_simulated(const QuantKey& key) {
    QuantResult& r = results_.at(key);
    if (!r.error.empty() || r.simulated || !r.simulated_error.empty()) return;
    try {
      auto w = std::make_shared<sysc::Workload>(
          sysc::Workload::from_pack(pack_of_.at(key), spec_.models.at(key.model).repeat));
      for (const auto& layer : w->layers()) (void)layer->values_used();
      r.simulated = std::move(w);
    } catch (const std::exception& e) {
      r.simulated_error = e.what();
      if (log_) log_("  opening packs/" + key.slug() + " for the SystemC model failed: " + r.simulated_error);
    }
  }

 private:
  QuantResult prepare(const QuantKey& key) {
    QuantResult r;
    try {
      const SweepModel& m = spec_.models.at(key.model);
      std::string pack = m.pack;
      if (pack.empty()) {
        fs::create_directories(dir_);
        pack = (fs::path(dir_) / (key.slug() + ".sop")).string();
        if (!fs::exists(pack)) quantize(key, m, pack);
      }
      r.workload = workload_from_pack(pack, m.name, m.repeat);
      pack_of_[key] = pack;
      add_quality(key, r, false);
    } catch (const std::exception& e) {
      r.error = e.what();
      if (log_) log_("  quantization " + key.slug() + " failed: " + r.error);
    }
    return r;
  }

  void quantize(const QuantKey& key, const SweepModel& m, const std::string& pack) {
    Recipe recipe = load_recipe(spec_.recipes.at(key.recipe));
    if (key.block > 0) {
      for (RecipeOption& o : recipe.options) o.block = key.block;
    }
    recipe.lut_format = key.lut_format == "fp16" ? "FP16" : "HIF";
    if (log_) {
      log_("  quantizing " + m.model + " with " + key.recipe +
           (key.lut_bytes > 0 ? " for a " + std::to_string(key.lut_bytes) + "-byte LUT" : "") + " -> packs/" +
           key.slug() + ".sop");
    }
    const auto model = open_model(m.model);
    // The pack writer is atomic (base/atomic_file.h): it writes this process's temporary beside the
    // pack, syncs it, renames it and syncs the folder, so shards running at once on a shared folder
    // never see a partial pack, and it removes the temporaries of killed runs (those of this name, and
    // the PACK.q<PID> names an earlier sweep quantized into and renamed without a folder sync).
    QuantizeRequest request;
    request.model_path = m.model;
    request.out_path = pack;
    request.threads = 0;
    request.lut_sram_bytes = key.lut_bytes;
    request.created_by = "sop sweep";
    quantize_model_to_pack(*model, recipe, request);
  }

  void add_quality(const QuantKey& key, QuantResult& r, bool bf16) {
    const SweepModel& m = spec_.models.at(key.model);
    const std::string field = bf16 ? "bf16" : key.lut_format;
    if (!m.quality || m.model.empty()) {
      r.quality[field] = nullptr;
      return;
    }
    const std::string pack = pack_of_.at(key);
    const std::string path = (fs::path(dir_) / (key.slug() + (bf16 ? ".bf16" : "") + ".quality.json")).string();
    nlohmann::json q;
    if (fs::exists(path)) {
      q = read_sweep_output(path, "quality record");
    } else {
      if (log_) log_("  measuring SQNR of packs/" + key.slug() + (bf16 ? " with BF16 tables" : ""));
      q = measure_quality(m.model, pack, bf16);
      fs::create_directories(dir_);
      write_file_atomically(path, [&](std::ostream& os) { os << q.dump(2) << "\n"; });
    }
    r.quality[field] = q;
  }

  const SweepSpec& spec_;
  std::string dir_;
  std::function<void(const std::string&)> log_;
  std::map<QuantKey, QuantResult> results_;
  std::map<QuantKey, std::string> pack_of_;
};

// The spec's record in OUT: a resumed or sharded run must be the same sweep, with the same counts.
nlohmann::json sweep_record(const SweepSpec& spec, const std::vector<SweepPoint>& points, CountsSource counts) {
  nlohmann::json keys = nlohmann::json::array();
  for (const SweepPoint& p : points) keys.push_back(p.key());
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& [name, values] : spec.axes) axes.push_back(name);
  nlohmann::json j = {{"name", spec.name}, {"description", spec.description}, {"sweep_file", spec.path},
                      {"text", spec.text}, {"counts", counts_source_name(counts)}, {"axes", axes}};
  if (counts == CountsSource::Analytic) j["counts_check_points"] = counts_check_sample(static_cast<int>(points.size()));
  j["points"] = keys;
  return j;
}

struct PointContext {
  const SweepSpec& spec;
  const hw::HwConfig& hw;
  const TechTable& tech;
  CountsSource counts;
};

// The sweep's defaults (its only model and recipe, the hardware config's entry format, and `base` for
// the design), changed by every axis of the point through its row of the axis table.
PointChoice choice_of(const SweepSpec& spec, const hw::HwConfig& hw, const SweepPoint& p, Design base) {
  PointChoice c;
  c.model = spec.models.begin()->first;
  c.recipe = spec.recipes.empty() ? "" : spec.recipes.begin()->first;
  c.entry_format = hw.decode_unit.lut.entry_format == golden::EntryFormat::Hif ? "hif" : "fp16";
  c.design = std::move(base);
  for (const auto& [axis, value] : p.axes) find_sweep_axis(axis)->apply(value, c);
  return c;
}

// Each recipe's layouts, read once per sweep (a key is made for every point).
using RecipeLayouts = std::map<std::string, std::vector<SopLayout>>;

QuantKey quant_key_of(const SweepSpec& spec, const PointChoice& c, RecipeLayouts& layouts_of) {
  QuantKey k;
  k.model = c.model;
  // A pack model keeps the tables it was made with, and has no recipe or block to choose.
  if (spec.models.at(k.model).pack.empty()) {
    k.lut_format = c.entry_format == "hif" ? "hif" : "fp16";
    k.recipe = c.recipe;
    k.block = c.block;
    // A lut_sram_bytes axis reaches the search, so each point's tables are the ones its LUT holds.
    if (c.design.lut_sram_bytes > 0 && !k.recipe.empty()) {
      auto it = layouts_of.find(k.recipe);
      if (it == layouts_of.end()) {
        std::vector<SopLayout> read;
        for (const RecipeOption& o : load_recipe(spec.recipes.at(k.recipe)).options) read.push_back(layout_of(o));
        it = layouts_of.emplace(k.recipe, std::move(read)).first;
      }
      const std::vector<SopLayout>& layouts = it->second;
      const auto format = k.lut_format == "hif" ? golden::EntryFormat::Hif : golden::EntryFormat::Fp16;
      k.lut_bytes = equivalent_lut_bytes(layouts, lut_entry_bits(format), c.design.lut_sram_bytes);
    }
  }
  return k;
}

// The tables a LUT slot must hold for the pack's layers: its selector layers' tables (read in any
// order, so all resident; rounded up to the unit's power of two), at least the config's. Row-group
// tables stream through any slot.
int slot_tables_for(const Workload& w, int configured) {
  int need = configured;
  for (const WorkloadLayer& l : w.layers) {
    if (l.rows_per_table > 0) continue;
    int t = 2;
    while (t < l.tables) t *= 2;
    need = std::max(need, t);
  }
  return need;
}

// The SystemC model's numbers for an analytic point of the sample (or why it refuses the design).
CountsCheck check_point(const PointContext& ctx, const Design& d, const QuantResult& q) {
  CountsCheck check;
  try {
    const Estimate e = estimate(simulated_counts(ctx.hw, d, q.workload, simulated_layers(q)), d, ctx.tech);
    check.simulated_cycles = e.counts.cycles;
    check.simulated_tokens_per_s = e.tokens_per_s;
    check.simulated_energy_per_token_pj = e.energy_per_token_pj;
  } catch (const std::exception& ex) {
    check.error = ex.what();
  }
  return check;
}

// A point's record before it runs: what it is, and that it failed (until it has not).
PointRecord point_header(const SweepPoint& p, const QuantKey& key, CountsSource counts, const std::string& error) {
  PointRecord r;
  r.index = p.index;
  r.key = p.key();
  r.axes = p.axes;
  r.model = key.model;
  r.recipe = key.recipe;
  if (!key.recipe.empty()) r.pack = "packs/" + key.slug() + ".sop";
  r.counts = counts_source_name(counts);
  r.status = "failed";
  r.error = error;
  return r;
}

// Runs in the point's own process (run_in_child_processes): it may simulate once.
PointRecord run_point(const PointContext& ctx, const SweepPoint& p, const QuantResult& q, const QuantKey& key,
                      bool check) {
  PointRecord r = point_header(p, key, ctx.counts, "");
  try {
    if (!q.error.empty()) throw std::runtime_error("quantization failed: " + q.error);
    Design base = design_from_hw(ctx.hw, 0);
    if (ctx.spec.dram_bandwidth_gb_s > 0) base.dram_gb_s = ctx.spec.dram_bandwidth_gb_s;
    if (ctx.spec.dram_latency_ns > 0) base.dram_latency_ns = ctx.spec.dram_latency_ns;
    base.lut_sram_bytes = 0;  // unset unless an axis sets it: sized below for the point's entry format
    Design d = choice_of(ctx.spec, ctx.hw, p, base).design;
    // The unit is built for the pack: a slot holds the layer's selector tables (a sweep over LUT
    // sizes gives each size the tables that fit it, and the slot follows).
    d.tables_per_layer = slot_tables_for(q.workload, d.tables_per_layer);
    if (d.lut_sram_bytes == 0) d.lut_sram_bytes = d.bytes_for_pairs(ctx.hw.decode_unit.lut.resident_layers);
    const ActionCounts counts = ctx.counts == CountsSource::Simulate
                                    ? simulated_counts(ctx.hw, d, q.workload, simulated_layers(q))
                                    : count_actions(q.workload, d);
    r.estimate = estimate(counts, d, ctx.tech);
    if (check) r.check = check_point(ctx, d, q);
    const std::string fmt = entry_format_info(d.entry_format).name;
    r.quality.bpw = counts.dram_weight_bits / std::max(1.0, counts.decoded_weights);
    const std::string qfield = fmt == "bf16" ? "bf16" : (key.lut_format.empty() ? q.workload.pack_entry_format : key.lut_format);
    if (q.quality.contains(qfield) && q.quality[qfield].is_object()) {
      r.quality.sqnr_db = q.quality[qfield]["sqnr_db"].get<double>();
      r.quality.mean_layer_sqnr_db = q.quality[qfield]["mean_layer_sqnr_db"].get<double>();
      if (q.quality[qfield].contains("counted_bpw")) r.quality.counted_bpw = q.quality[qfield]["counted_bpw"].get<double>();
    }
    r.status = "ok";
    r.error.clear();
    r.weights = q.workload.weights();
    r.layers = static_cast<int64_t>(q.workload.layers.size());
    r.design = d;
  } catch (const std::exception& e) {
    r.status = "failed";
    r.error = e.what();
  }
  return r;
}

}  // namespace

std::vector<int> counts_check_sample(int total) {
  const int n = std::min(5, total);
  std::vector<int> out;
  for (int k = 0; k < n; ++k) {
    out.push_back(n == 1 ? 0 : static_cast<int>(std::llround(static_cast<double>(k) * (total - 1) / (n - 1))));
  }
  return out;
}

SweepRunSummary run_sweep(const SweepSpec& spec, const SweepRunOptions& options) {
  if (options.out_dir.empty()) throw Error(spec.path, "", "no output directory");
  const auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  const std::vector<SweepPoint> points = spec.points();
  const TechTable tech = load_tech_table(spec.tech);
  // clock_mhz: auto in the base config: the clock its unit meets at the sweep's tech node. Every
  // point's own clock is checked against its own unit in estimate() (Estimate::clock_over_limit).
  const hw::HwConfig hw = [&] {
    hw::HwConfig h = hw::load_hw_config(spec.hw);
    const ClockCheck c = apply_clock(h, tech);
    if (c.from_auto) log("base " + c.describe(tech.name));
    return h;
  }();
  fs::create_directories(fs::path(options.out_dir) / "points");

  // The sweep's record: created once, and a rerun into the same folder must be the same sweep.
  const nlohmann::json record = sweep_record(spec, points, options.counts);
  const std::string record_path = (fs::path(options.out_dir) / "sweep.json").string();
  if (fs::exists(record_path)) {
    const nlohmann::json old = read_sweep_record(record_path);
    if (old.at("points") != record["points"]) {
      throw Error(options.out_dir, "sweep.json",
                  "this folder holds results of a different sweep (its points differ): use another --out");
    }
    if (record_counts(old) != record_counts(record)) {
      throw Error(options.out_dir, "sweep.json",
                  "this folder holds results with counts from " + record_counts(old) + " (--counts " + record_counts(old) +
                      "), not " + record_counts(record) + ": use another --out or the same --counts");
    }
  } else {
    write_file_atomically(record_path, [&](std::ostream& os) { os << record.dump(2) << "\n"; });
  }

  SweepRunSummary summary;
  summary.total = static_cast<int>(points.size());
  std::vector<const SweepPoint*> todo;
  for (const SweepPoint& p : points) {
    if (!options.shard.contains(p.index)) continue;
    ++summary.in_shard;
    const std::string file = point_file(options.out_dir, p.index);
    if (fs::exists(file)) {
      bool keep = true;
      try {
        const PointRecord old = point_from_json(read_sweep_output(file, "point file"));
        keep = old.key == p.key() && (old.ok() || !options.retry_failed);
      } catch (const std::exception&) {
        keep = false;  // unreadable: run it again
      }
      if (keep) {
        ++summary.skipped;
        continue;
      }
    }
    todo.push_back(&p);
  }
  log("sweep " + spec.name + ": " + std::to_string(summary.total) + " points, " + std::to_string(summary.in_shard) +
      " in this shard, " + std::to_string(summary.skipped) + " already finished");

  // Quantization first, in this process (the quantizer uses every core itself), then the packs the
  // SystemC model streams; every point then runs in its own process and only reads what is loaded.
  const std::vector<int> sample =
      options.counts == CountsSource::Analytic ? counts_check_sample(summary.total) : std::vector<int>{};
  QuantCache cache(spec, options.out_dir, log);
  RecipeLayouts recipe_layouts;
  std::vector<QuantKey> keys(todo.size());
  std::vector<const QuantResult*> quant(todo.size());
  std::vector<bool> checked(todo.size(), false);
  for (std::size_t i = 0; i < todo.size(); ++i) {
    // The design does not matter for the pack: the point's own is made when it runs.
    const PointChoice choice = choice_of(spec, hw, *todo[i], Design{});
    keys[i] = quant_key_of(spec, choice, recipe_layouts);
    quant[i] = &cache.get(keys[i], choice.entry_format == "bf16");
    checked[i] = std::find(sample.begin(), sample.end(), todo[i]->index) != sample.end();
  }
  if (options.prepare_only) return summary;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    if (options.counts == CountsSource::Simulate || checked[i]) cache.open_simulated(keys[i]);
  }
  const PointContext ctx{spec, hw, tech, options.counts};
  int failed = 0, done = 0;
  run_in_child_processes(
      todo.size(), options.jobs,
      [&](std::size_t i) { return point_to_json(run_point(ctx, *todo[i], *quant[i], keys[i], checked[i])).dump(1); },
      [&](std::size_t i, const ChildResult& child) {
        const SweepPoint& p = *todo[i];
        PointRecord r;
        try {
          if (!child.ok) throw std::runtime_error("the point's process failed: " + child.output);
          r = point_from_json(nlohmann::json::parse(child.output));
        } catch (const std::exception& e) {
          r = point_header(p, keys[i], options.counts, e.what());
        }
        try {
          write_file_atomically(point_file(options.out_dir, p.index),
                                [&](std::ostream& os) { os << point_to_json(r).dump(1) << "\n"; });
        } catch (const std::exception& e) {
          log("  point " + std::to_string(p.index) + ": cannot write its result: " + e.what());
          ++failed;
          return;
        }
        if (!r.ok()) ++failed;
        ++done;
        log("  [" + std::to_string(done) + "/" + std::to_string(todo.size()) + "] point " + std::to_string(p.index) + " " +
            p.key() + (r.ok() ? "" : "  FAILED: " + r.error));
      });
  summary.ran = done;
  summary.failed = failed;
  for (int index : sample) {
    const std::string file = point_file(options.out_dir, index);
    if (!fs::exists(file)) continue;
    PointRecord r = point_from_json(read_sweep_output(file, "point file"));
    if (r.check) summary.checked.push_back(std::move(r));
  }

  summary.complete = true;
  for (const SweepPoint& p : points) {
    if (!fs::exists(point_file(options.out_dir, p.index))) {
      summary.complete = false;
      break;
    }
  }
  if (summary.complete && options.write_results) merge_sweep({options.out_dir}, options.out_dir);
  return summary;
}

}  // namespace sop::sim
