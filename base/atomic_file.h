// Writing output files so that a failure never leaves a partial file behind, and a success survives a
// crash: write to a temporary file beside the target, flush and fsync it, rename it over the target,
// then fsync the folder (the rename itself is only durable once the folder is). Every writer of the
// project's outputs goes through here: write_file_atomically for text written through a stream,
// AtomicOutputFile for writers that stream large binary files (packs, safetensors).
//
// Temporary names, and what a later run removes (docs/robustness.md, "Durability"):
//   TARGET.tmp.HOST.PID.N   this mechanism's temporaries: HOST is the host name (dots and slashes
//                           replaced by '-'), PID the writing process, N a per-process counter.
// Before creating its own temporary, a writer removes the stale temporaries of the same TARGET left by
// killed runs:
//   - TARGET.tmp.HOST.PID.N of this host whose PID is not alive (kill(PID, 0) fails with ESRCH);
//     temporaries of other hosts are left alone (a shard on another node of a shared folder may be
//     writing it);
//   - TARGET.tmp.PID, the earlier form of this mechanism's names, whose PID is not alive;
//   - TARGET.q<PID> and TARGET.q<PID>.tmp..., what an earlier `sop sweep` quantized its packs into,
//     whose PID is not alive (a temporary inside it naming another host is kept);
//   - TARGET.partial and TARGET.partial-XXXXXX, the earlier safetensors and pack writers' names, which
//     carry no PID, when not modified for kUnownedTemporaryStaleSeconds.
// A PID reused by an unrelated live process keeps its temporary until that process ends: the removal
// errs on the side of keeping.
#pragma once

#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace sop {

// A temporary without a PID in its name (earlier writers) is stale when untouched for this long.
inline constexpr long kUnownedTemporaryStaleSeconds = 3600;

// Calls write(stream) on a temporary file next to `path` and renames it to `path` if write returns
// normally and the stream is still good; the file and then its folder are fsynced before this returns.
// On any failure the temporary file is removed and a sop::Error naming `path` is thrown (or the
// writer's exception is rethrown).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// A binary output streamed through stdio: created as this process's temporary beside `path` (after
// removing stale temporaries of `path`), renamed over `path` by commit(). Destroyed without commit()
// (an exception, an error), it removes the temporary.
class AtomicOutputFile {
 public:
  // Throws sop::Error naming `path` if the temporary cannot be created.
  explicit AtomicOutputFile(std::string path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  std::FILE* file() const { return file_; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  // fwrite of all `bytes`; throws sop::Error naming the target on a short write (disk full...).
  void write(const void* data, std::size_t bytes);
  // Flushes what was written and asks the kernel to start writing it to disk without waiting
  // (Linux: sync_file_range), so commit()'s fsync has little left to wait for. A hint: where the
  // call is not available or fails, nothing changes but the timing.
  void start_writeback();
  // Flushes and fsyncs the file, closes it, renames it over the target and fsyncs the folder.
  // Throws sop::Error naming the target on any failure (the temporary is then removed).
  void commit();

 private:
  std::string path_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// This process's next temporary name for `path` (TARGET.tmp.HOST.PID.N, a new N each call).
std::string temporary_path_for(const std::string& path);
// Removes the stale temporaries of `path` (the rules above); returns the paths it removed. Best
// effort: a temporary that cannot be removed (permissions) is left and not reported.
std::vector<std::string> remove_stale_temporaries(const std::string& path);
// fsync of the folder holding `path`. Throws sop::Error naming `path` on an I/O error (a file system
// that cannot sync folders, EINVAL, is accepted).
void sync_folder_of(const std::string& path);

}  // namespace sop
