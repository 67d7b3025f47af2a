// Running tasks each in its own child process (fork), a bounded number at once: for work that may run
// only once per process (a SystemC elaboration: sim/sweep.cc runs every point's simulation this way)
// and that must not take the caller down when it crashes. A child inherits the caller's memory, so
// whatever the caller loaded before (a pack file, its layer list) is there without being read again.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace sop {

struct ChildResult {
  bool ok = false;     // the task returned and its process exited normally
  std::string output;  // ok: what the task returned; else why not: the task's exception message, or how
                       // the child process ended ("killed by signal 11 (Segmentation fault)")
};

// Runs task(i) for every i in [0, count), each in a child process forked from the caller, at most
// `jobs` at once (0: one per core). A child sends what task(i) returns through a pipe and exits without
// running destructors; done(i, result) runs in the calling process as each child ends, in completion
// order. A child's stdout goes to the caller's stderr, so the caller's stdout stays its own.
//
// The caller must not run other threads meanwhile: a forked child holds only the forking thread, and a
// lock another thread held at the fork would stay locked in the child. If done() throws, no further
// child is started; the running ones are waited for and the exception is rethrown. Throws sop::Error
// when a pipe or a process cannot be made.
void run_in_child_processes(std::size_t count, int jobs, const std::function<std::string(std::size_t)>& task,
                            const std::function<void(std::size_t, const ChildResult&)>& done);

}  // namespace sop
