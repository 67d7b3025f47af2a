#include "base/large_array.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace sop {

void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  if (data == nullptr || bytes < 2 * kHugePage) return;  // small arrays gain nothing
  // madvise needs a page-aligned start: the whole pages inside the range.
  const long page = ::sysconf(_SC_PAGESIZE);
  const auto page_size = static_cast<uintptr_t>(page > 0 ? page : 4096);
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page_size - 1) / page_size * page_size;
  const auto end = reinterpret_cast<uintptr_t>(data) + bytes;
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace sop
