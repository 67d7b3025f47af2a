// sop sweep: run a sweep file's points (quantize once per model/recipe/block/format, then simulate and
// estimate each hardware point in its own process), resumably and in parallel; shard it, merge shards,
// or hand it to Slurm.
// docs/sweeps.md documents the file and the workflow.
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/error.h"
#include "sim/slurm.h"
#include "sim/sweep.h"

namespace sop::cli {
namespace {

std::string absolute(const std::string& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

std::string this_program() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw Error("/proc/self/exe", "", "cannot find the sop program's path");
  return std::string(buf, static_cast<std::size_t>(n));
}

int run_merge(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::vector<std::string> dirs;
  std::string out;
  desc.add_options()
      ("dir", po::value(&dirs)->composing()->required(), "sweep output folder(s) whose points/ to merge")
      ("out", po::value(&out), "where results.csv/.json go (default: the first folder)")
      ("allow-partial", "write the results even if some points have no result yet");
  po::variables_map vm;
  // Every positional argument is a folder.
  const std::vector<std::string> positional(args.size(), "dir");
  if (auto code = parse_options("sweep merge", "DIR [DIR...] [--out DIR]", desc, args, vm, positional)) {
    return *code;
  }
  if (out.empty()) out = dirs.front();
  const int n = sim::merge_sweep(dirs, out, vm.count("allow-partial") != 0);
  std::cout << "merged " << n << " points into " << out << "/results.csv and results.json\n";
  return 0;
}

}  // namespace

int run_sweep(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "merge") return run_merge(std::vector<std::string>(args.begin() + 1, args.end()));
  po::options_description desc("options");
  std::string sweep_path, out_dir, shard_text, partition, time_limit, sbatch, counts;
  int jobs = 0, shards = 4, cpus = 2;
  desc.add_options()
      ("sweep", po::value(&sweep_path)->required(), "sweep file (configs/sweeps/*.yaml)")
      ("out", po::value(&out_dir)->required(), "output folder: points/, packs/, results.csv, results.json")
      ("shard", po::value(&shard_text), "run only shard i of n (points whose index is i mod n), e.g. 0/4")
      ("counts", po::value(&counts)->default_value("simulate"),
       "where each point's action counts come from: simulate (the SystemC model, TLM engine, counts only, each "
       "point in its own process) or analytic (the model of docs/estimate.md; a sample of min(5, N) points is "
       "simulated too and its error recorded)")
      ("jobs,j", po::value(&jobs)->default_value(0), "points run at once, each in its own process (0: all cores)")
      ("retry-failed", "run points recorded as failed again")
      ("no-results", "do not write results.csv/.json (a merge step will)")
      ("prepare-only", "quantize every pack the points need, then stop (the Slurm prepare job)")
      ("list", "print the points and exit")
      ("slurm", "write Slurm scripts (job array + dependent merge) into OUT/slurm instead of running")
      ("shards", po::value(&shards)->default_value(4), "with --slurm: array tasks")
      ("cpus-per-task", po::value(&cpus)->default_value(2), "with --slurm: cores per array task")
      ("partition", po::value(&partition), "with --slurm: partition")
      ("time", po::value(&time_limit), "with --slurm: time limit per task, e.g. 00:30:00")
      ("submit", "with --slurm: submit them with sbatch")
      ("sbatch", po::value(&sbatch)->default_value("sbatch"), "with --submit: the sbatch command");
  po::variables_map vm;
  if (auto code = parse_options("sweep", "FILE.yaml --out DIR [--shard i/n] [--slurm [--submit]] | merge DIR...", desc,
                                args, vm, {"sweep"})) {
    return *code;
  }
  sim::SweepRunOptions opt;
  try {
    opt.counts = sim::parse_counts_source(counts);
  } catch (const std::invalid_argument& e) {
    std::cerr << "sop sweep: " << e.what() << "\n";
    return 2;
  }
  const sim::SweepSpec spec = sim::load_sweep(sweep_path);
  if (vm.count("list")) {
    // One point at a time: the list of a large grid never sits in memory.
    for (std::size_t i = 0; i < spec.point_count(); ++i) {
      const sim::SweepPoint p = spec.point(i);
      std::cout << p.index << "  " << p.key() << "\n";
    }
    return 0;
  }
  if (vm.count("slurm")) {
    sim::SlurmOptions o;
    o.sop_binary = this_program();
    o.sweep_file = absolute(sweep_path);
    o.out_dir = absolute(out_dir);
    o.counts = counts;
    o.shards = shards;
    o.cpus_per_task = cpus;
    o.partition = partition;
    o.time_limit = time_limit;
    const sim::SlurmScripts s = sim::write_slurm_scripts(o);
    std::cout << "wrote " << s.prepare_script << " (quantizes every pack once)\n"
              << "wrote " << s.array_script << " (" << shards << " array tasks over " << spec.point_count() << " points)\n"
              << "wrote " << s.merge_script << " (runs after every task succeeded)\n"
              << "wrote " << s.submit_script << "\n";
    if (vm.count("submit")) {
      const sim::SlurmSubmission sub = sim::submit_slurm(s, sbatch);
      std::cout << "submitted prepare job " << sub.prepare_job << ", array job " << sub.array_job << " and merge job "
                << sub.merge_job << "\n";
    } else {
      std::cout << "submit with: bash " << s.submit_script << "\n";
    }
    return 0;
  }

  opt.out_dir = out_dir;
  if (!shard_text.empty()) {
    try {
      opt.shard = sim::parse_shard(shard_text);
    } catch (const std::invalid_argument& e) {
      std::cerr << "sop sweep: " << e.what() << "\n";
      return 2;
    }
  }
  opt.jobs = jobs;
  opt.retry_failed = vm.count("retry-failed") != 0;
  opt.write_results = vm.count("no-results") == 0;
  opt.prepare_only = vm.count("prepare-only") != 0;
  opt.log = [](const std::string& line) { std::cerr << line << "\n"; };
  const auto start = std::chrono::steady_clock::now();
  const sim::SweepRunSummary s = sim::run_sweep(spec, opt);
  if (opt.prepare_only) {
    std::cout << "sweep " << spec.name << ": packs ready for " << s.in_shard - s.skipped << " unfinished points\n";
    return 0;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "sweep " << spec.name << ": ran " << s.ran << " points (" << s.failed << " failed), skipped " << s.skipped
            << " finished, in " << seconds << " s\n";
  if (s.complete && opt.write_results) {
    std::cout << "results: " << out_dir << "/results.csv, " << out_dir << "/results.json\n";
  } else if (!s.complete) {
    std::cout << "not every point has a result yet (other shards?): merge with `sop sweep merge " << out_dir << "`\n";
  }
  if (opt.counts == sim::CountsSource::Analytic) {
    const sim::CountsCheckSummary check = sim::summarize_counts_checks(s.checked);
    char line[256];
    std::snprintf(line, sizeof line,
                  "analytic counts against the SystemC model on %d sampled points: tokens/s error at most %.2f %%, "
                  "mean %.2f %% (%d refused by the SystemC model)\n",
                  check.checked, 100 * check.max_abs_tokens_per_s_error, 100 * check.mean_abs_tokens_per_s_error,
                  check.refused);
    std::cout << line;
    for (const std::string& text : check.lines) std::cout << "  " << text << "\n";
  }
  if (s.failed > 0) std::cerr << "sop sweep: " << s.failed << " point(s) failed; their errors are in the results\n";
  return 0;
}

}  // namespace sop::cli
