// Shared helpers for tests: where the real models are, skipping visibly when they are absent, and the
// message an error carries.
#pragma once

#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "base/error.h"

namespace sop::testing {

// ../shared/models beside the checkout, or $SOP_MODELS_DIR.
inline std::string models_dir() {
  if (const char* env = std::getenv("SOP_MODELS_DIR")) return env;
  return SOP_MODELS_DIR_DEFAULT;
}

inline std::string model_path(const std::string& file) { return models_dir() + "/" + file; }

inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The message a call throws as sop::Error, or "" when it does not throw: lets a test compare whole
// messages (file, key path, line) with EXPECT_EQ.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ::sop::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace sop::testing

// Skips the current test, with a message that names the missing file, when a real model is absent.
#define SOP_REQUIRE_MODEL(path_var, file)                                                   \
  const std::string path_var = ::sop::testing::model_path(file);                           \
  if (!::sop::testing::file_exists(path_var)) {                                            \
    GTEST_SKIP() << "real model not found: " << path_var << " (set SOP_MODELS_DIR)";        \
  }
