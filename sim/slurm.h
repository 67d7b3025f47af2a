// Running a sweep on a Slurm cluster (docs/sweeps.md): a prepare job that quantizes every pack the
// sweep needs once, a job array with one task per shard, each running `sop sweep FILE --out DIR
// --shard i/n`, and a merge job; each starts only after the previous succeeded (--dependency=afterok). The scripts are plain sbatch files a user can read, edit and submit.
#pragma once

#include <string>

namespace sop::sim {

struct SlurmOptions {
  std::string sop_binary;      // absolute path of the sop program the jobs run
  std::string sweep_file;      // absolute
  std::string out_dir;         // absolute; shared by every node
  std::string counts = "simulate";  // the sweep's --counts (the prepare job records it in sweep.json)
  int shards = 4;
  int cpus_per_task = 2;
  std::string partition;       // empty: the cluster's default
  std::string time_limit;      // empty: the partition's default (e.g. "01:00:00")
  std::string extra_sbatch;    // further "#SBATCH" lines, verbatim
};

struct SlurmScripts {
  std::string dir;             // OUT/slurm
  std::string prepare_script;  // quantizes every pack once, before the array starts
  std::string array_script;
  std::string merge_script;
  std::string submit_script;   // submits both, the merge depending on the array
};

// Writes OUT/slurm/{array,merge}.sbatch and submit.sh. Throws sop::Error on a bad option.
SlurmScripts write_slurm_scripts(const SlurmOptions& options);

struct SlurmSubmission {
  std::string prepare_job;
  std::string array_job;
  std::string merge_job;
};

// Runs sbatch for the prepare job, the array with --dependency=afterok:<prepare job>, then the merge
// with --dependency=afterok:<array job>. `sbatch` is
// the command (a path, or "sbatch" from PATH). Throws sop::Error with sbatch's output on failure.
SlurmSubmission submit_slurm(const SlurmScripts& scripts, const std::string& sbatch = "sbatch");

}  // namespace sop::sim
