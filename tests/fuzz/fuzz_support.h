// Shared by the libFuzzer targets in tests/fuzz: a private scratch folder for readers that take a
// path, and the rule every target enforces: a reader may refuse its input only with a sop::Error that
// says something; any other exception escaping it is a finding (the target aborts, libFuzzer saves the
// input as crash-*). Sanitizer reports, timeouts and out-of-memory are findings by libFuzzer itself.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>
#include <vector>

#include <unistd.h>

#include "base/error.h"

namespace sop::fuzz {

// A failure of the harness itself, not of the reader: reported as such and the process ends with
// _Exit, so libFuzzer neither runs its exit hook nor saves the input as a crash-* "finding" (an
// abort here used to look like one). scripts/fuzz.sh prints the line and fails the run.
[[noreturn]] inline void harness_error(const std::string& what) {
  std::fprintf(stderr, "\n==sop-fuzz== HARNESS ERROR (not a finding of the reader): %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(70);
}

// A folder of this process's own under TMPDIR (or /tmp), made on first use and removed at exit.
// scripts/fuzz.sh points TMPDIR at a folder of its build folder per target (build-fuzz/tmp/TARGET),
// which no other program cleans up: a scratch folder in a shared /tmp was removed under a running
// fuzzer by someone clearing the leftovers of earlier runs (a finding aborts the process, so its
// atexit never runs), and the next write failed.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/sop_fuzz_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
      harness_error("cannot make a scratch folder " + pattern + ": " + std::strerror(errno));
    }
    std::string made = buffer.data();
    static std::string to_remove;
    to_remove = made;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(to_remove, ignored);
    });
    return made;
  }();
  return dir;
}

// Writes `bytes` to `name` inside the scratch folder (replacing the last input) and returns its path.
// A failure says why (errno), and whether the scratch folder is gone.
inline std::string write_scratch(const std::string& name, const uint8_t* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    const int error = errno;
    std::error_code ignored;
    const bool folder_gone = !std::filesystem::is_directory(scratch_dir(), ignored);
    harness_error("cannot write " + path + " (" + std::to_string(size) + " bytes): " +
                  (error != 0 ? std::strerror(error) : "unknown error") +
                  (folder_gone ? "; the scratch folder " + scratch_dir() +
                                     " no longer exists (removed by another process while this one ran)"
                               : ""));
  }
  return path;
}

inline std::string write_scratch(const std::string& name, const std::string& bytes) {
  return write_scratch(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

[[noreturn]] inline void finding(const char* kind, const std::string& what) {
  std::fprintf(stderr, "\n==sop-fuzz== FINDING: %s: %s\n", kind, what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs `read` on one input. A sop::Error is the documented refusal: it must carry a message and, when
// `must_name` is not empty, name it (the file or source name the reader was given). Anything else
// escaping is a finding.
template <class Read>
void expect_only_sop_errors(const std::string& must_name, Read&& read) {
  try {
    read();
  } catch (const sop::Error& e) {
    const std::string message = e.what();
    if (message.empty()) finding("sop::Error without a message", "");
    if (!must_name.empty() && message.find(must_name) == std::string::npos) {
      finding("sop::Error does not name the file", message);
    }
  } catch (const std::exception& e) {
    finding((std::string("escaped ") + typeid(e).name()).c_str(), e.what());
  } catch (...) {
    finding("escaped an exception that is not a std::exception", "");
  }
}

}  // namespace sop::fuzz
