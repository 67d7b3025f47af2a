#include "base/child_processes.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <vector>

#include "base/error.h"
#include "base/parallel.h"

namespace sop {
namespace {

struct Running {
  pid_t pid = -1;
  int fd = -1;
  std::size_t index = 0;
  std::string output;
};

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the caller is gone: nothing to tell
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void run_child(const std::function<std::string(std::size_t)>& task, std::size_t index, int fd,
                            const std::vector<Running>& siblings) {
  for (const Running& r : siblings) ::close(r.fd);
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
  int code = 0;
  std::string out;
  try {
    out = task(index);
  } catch (const std::exception& e) {
    out = e.what();
    code = 1;
  } catch (...) {
    out = "unknown exception";
    code = 1;
  }
  write_all(fd, out);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(code);
}

std::string how_it_ended(int status, const std::string& output) {
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 1) return output;  // the task's exception
    return "the child process exited with status " + std::to_string(code) + (output.empty() ? "" : ": " + output);
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "the child process was killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "the child process ended with wait status " + std::to_string(status);
}

}  // namespace

void run_in_child_processes(std::size_t count, int jobs, const std::function<std::string(std::size_t)>& task,
                            const std::function<void(std::size_t, const ChildResult&)>& done) {
  const std::size_t workers = static_cast<std::size_t>(resolve_threads(jobs));
  std::vector<Running> running;
  std::exception_ptr failure;
  std::size_t next = 0;
  while (running.size() > 0 || (next < count && !failure)) {
    while (running.size() < workers && next < count && !failure) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) throw Error("pipe", "", std::strerror(errno));
      // Buffered output would be written twice, by the caller and by the child.
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      if (pid < 0) {
        const int e = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        throw Error("fork", "", std::strerror(e));
      }
      if (pid == 0) {
        ::close(fds[0]);
        run_child(task, next, fds[1], running);
      }
      ::close(fds[1]);
      running.push_back({pid, fds[0], next, {}});
      ++next;
    }
    std::vector<pollfd> polls;
    for (const Running& r : running) polls.push_back({r.fd, POLLIN, 0});
    if (::poll(polls.data(), polls.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw Error("poll", "", std::strerror(errno));
    }
    for (std::size_t k = polls.size(); k-- > 0;) {
      if (polls[k].revents == 0) continue;
      Running& r = running[k];
      char buf[65536];
      const ssize_t n = ::read(r.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        r.output.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      // End of the child's output: it has exited or is about to.
      ::close(r.fd);
      int status = 0;
      while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ChildResult result;
      result.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      result.output = result.ok ? r.output : how_it_ended(status, r.output);
      const std::size_t index = r.index;
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
      if (!failure) {
        try {
          done(index, result);
        } catch (...) {
          failure = std::current_exception();
        }
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace sop
