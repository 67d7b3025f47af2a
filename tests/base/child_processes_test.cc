// run_in_child_processes: every task runs in its own process, at most `jobs` at once, and what a task
// returns, throws or how its process dies comes back to the caller.
#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "base/child_processes.h"

namespace sop {
namespace {

TEST(ChildProcesses, EachTaskRunsInItsOwnProcessAndReturnsItsText) {
  const pid_t parent = ::getpid();
  std::map<std::size_t, ChildResult> results;
  int counter = 0;  // a child's writes stay in the child
  run_in_child_processes(
      6, 2,
      [&](std::size_t i) {
        ++counter;
        return std::to_string(i) + (::getpid() != parent ? " in a child" : " in the parent") + " " + std::to_string(counter);
      },
      [&](std::size_t i, const ChildResult& r) { results[i] = r; });
  ASSERT_EQ(results.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(results[i].ok) << i;
    EXPECT_EQ(results[i].output, std::to_string(i) + " in a child 1");
  }
  EXPECT_EQ(counter, 0);
}

TEST(ChildProcesses, ExceptionsAndCrashesComeBackAsFailures) {
  std::map<std::size_t, ChildResult> results;
  run_in_child_processes(
      4, 0,
      [](std::size_t i) -> std::string {
        if (i == 1) throw std::runtime_error("task 1 refused");
        if (i == 2) std::raise(SIGKILL);
        if (i == 3) ::_exit(7);
        return std::string(200000, 'x');  // more than a pipe holds at once
      },
      [&](std::size_t i, const ChildResult& r) { results[i] = r; });
  EXPECT_TRUE(results[0].ok);
  EXPECT_EQ(results[0].output.size(), 200000u);
  EXPECT_FALSE(results[1].ok);
  EXPECT_EQ(results[1].output, "task 1 refused");
  EXPECT_FALSE(results[2].ok);
  EXPECT_EQ(results[2].output.rfind("the child process was killed by signal 9 (", 0), 0u) << results[2].output;
  EXPECT_FALSE(results[3].ok);
  EXPECT_EQ(results[3].output, "the child process exited with status 7");
}

TEST(ChildProcesses, AnExceptionFromDoneStopsTheRunAfterTheRunningChildren) {
  int done = 0;
  try {
    run_in_child_processes(
        10, 1, [](std::size_t) { return std::string("ok"); },
        [&](std::size_t, const ChildResult&) {
          ++done;
          throw std::runtime_error("stop");
        });
    FAIL() << "the exception was swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "stop");
  }
  EXPECT_EQ(done, 1);
}

}  // namespace
}  // namespace sop
