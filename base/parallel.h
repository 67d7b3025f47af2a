// Splitting a loop over rows between threads. No pool: quantization work items are large (whole
// row chunks of a matrix), so starting a thread per chunk costs nothing measurable.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace sop {

inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls body(begin, end) on disjoint ranges covering [0, count), from up to `threads` threads.
// The first exception thrown by any range is rethrown on the calling thread.
template <class Body>
void parallel_for_ranges(int64_t count, int threads, int64_t min_per_thread, Body&& body) {
  const int64_t max_workers = std::max<int64_t>(1, count / std::max<int64_t>(1, min_per_thread));
  const int workers = static_cast<int>(std::min<int64_t>(resolve_threads(threads), max_workers));
  if (workers <= 1) {
    body(int64_t{0}, count);
    return;
  }
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers));
  for (int t = 0; t < workers; ++t) {
    const int64_t begin = count * t / workers;
    const int64_t end = count * (t + 1) / workers;
    pool.emplace_back([&, begin, end] {
      try {
        body(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace sop
