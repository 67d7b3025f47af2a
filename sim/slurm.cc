#include "sim/slurm.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "base/error.h"

namespace sop::sim {
namespace fs = std::filesystem;
namespace {

// Single-quoted for bash.
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void write_script(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& os) { os << text; });
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
}

std::string header(const SlurmOptions& o, const std::string& job_name, const std::string& log_pattern) {
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "#SBATCH --job-name=" << job_name << "\n"
    << "#SBATCH --output=" << o.out_dir << "/slurm/" << log_pattern << "\n"
    << "#SBATCH --nodes=1\n"
    << "#SBATCH --ntasks=1\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.time_limit.empty()) s << "#SBATCH --time=" << o.time_limit << "\n";
  if (!o.extra_sbatch.empty()) s << o.extra_sbatch << (o.extra_sbatch.back() == '\n' ? "" : "\n");
  return s.str();
}

// Runs a command and returns its exit status and combined output.
int run_capture(const std::string& command, std::string& output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) output += buf.data();
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `sbatch --parsable` prints "jobid" or "jobid;cluster".
std::string job_id_of(const std::string& output) {
  std::string line = output.substr(0, output.find('\n'));
  line = line.substr(0, line.find(';'));
  for (char c : line) {
    if (c < '0' || c > '9') return "";
  }
  return line;
}

}  // namespace

SlurmScripts write_slurm_scripts(const SlurmOptions& o) {
  if (o.shards < 1) throw Error("--shards", "", "must be >= 1");
  if (o.cpus_per_task < 1) throw Error("--cpus-per-task", "", "must be >= 1");
  for (const std::string* p : {&o.sop_binary, &o.sweep_file, &o.out_dir}) {
    if (p->empty() || (*p)[0] != '/') throw Error(*p, "", "Slurm jobs need absolute paths");
  }
  SlurmScripts s;
  s.dir = o.out_dir + "/slurm";
  fs::create_directories(s.dir);
  s.prepare_script = s.dir + "/prepare.sbatch";
  s.array_script = s.dir + "/array.sbatch";
  s.merge_script = s.dir + "/merge.sbatch";
  s.submit_script = s.dir + "/submit.sh";
  const std::string n = std::to_string(o.shards);
  const std::string sweep = quote(o.sop_binary) + " sweep " + quote(o.sweep_file) + " --out " + quote(o.out_dir) +
                            " --counts " + quote(o.counts);

  std::ostringstream prepare;
  prepare << header(o, "sop-sweep-prepare", "prepare.out") << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n"
          << "# Quantizes every pack the sweep's points need, once, so that the shards only simulate and estimate.\n"
          << "set -euo pipefail\n"
          << "exec " << sweep << " --prepare-only\n";
  write_script(s.prepare_script, prepare.str());

  std::ostringstream array;
  array << header(o, "sop-sweep", "shard-%a.out") << "#SBATCH --array=0-" << o.shards - 1 << "\n"
        << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n"
        << "# One shard of the sweep per array task; finished points are kept, so a requeued task resumes.\n"
        << "set -euo pipefail\n"
        << "exec " << sweep << " --shard \"${SLURM_ARRAY_TASK_ID}/" << n << "\" --jobs " << o.cpus_per_task << " --no-results\n";
  write_script(s.array_script, array.str());

  std::ostringstream merge;
  merge << header(o, "sop-sweep-merge", "merge.out") << "#SBATCH --cpus-per-task=1\n"
        << "# Runs after every array task succeeded: results.csv and results.json from the point files.\n"
        << "set -euo pipefail\n"
        << "exec " << quote(o.sop_binary) << " sweep merge " << quote(o.out_dir) << "\n";
  write_script(s.merge_script, merge.str());

  std::ostringstream submit;
  submit << "#!/bin/bash\n"
         << "# Submits the sweep's prepare job, the job array after it and the merge job after the array.\n"
         << "set -euo pipefail\n"
         << "prepare=$(sbatch --parsable " << quote(s.prepare_script) << ")\n"
         << "array=$(sbatch --parsable --dependency=afterok:\"${prepare%%;*}\" " << quote(s.array_script) << ")\n"
         << "merge=$(sbatch --parsable --dependency=afterok:\"${array%%;*}\" " << quote(s.merge_script) << ")\n"
         << "echo \"prepare job ${prepare%%;*}, array job ${array%%;*}, merge job ${merge%%;*}\"\n";
  write_script(s.submit_script, submit.str());
  return s;
}

SlurmSubmission submit_slurm(const SlurmScripts& scripts, const std::string& sbatch) {
  SlurmSubmission r;
  std::string out;
  if (run_capture(quote(sbatch) + " --parsable " + quote(scripts.prepare_script), out) != 0 ||
      (r.prepare_job = job_id_of(out)).empty()) {
    throw Error(scripts.prepare_script, "", "sbatch failed: " + out);
  }
  out.clear();
  if (run_capture(quote(sbatch) + " --parsable --dependency=afterok:" + r.prepare_job + " " + quote(scripts.array_script),
                  out) != 0 ||
      (r.array_job = job_id_of(out)).empty()) {
    throw Error(scripts.array_script, "", "sbatch failed: " + out);
  }
  out.clear();
  if (run_capture(quote(sbatch) + " --parsable --dependency=afterok:" + r.array_job + " " + quote(scripts.merge_script),
                  out) != 0 ||
      (r.merge_job = job_id_of(out)).empty()) {
    throw Error(scripts.merge_script, "", "sbatch failed: " + out);
  }
  return r;
}

}  // namespace sop::sim
