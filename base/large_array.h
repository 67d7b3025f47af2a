// Sizing the large per-weight arrays (a tensor's values, its codes and reconstruction, a pack
// section) so that filling them costs as few page faults as the kernel allows.
#pragma once

#include <cstddef>
#include <vector>

namespace sop {

// Asks for transparent huge pages over [data, data + bytes) (Linux madvise MADV_HUGEPAGE, where the
// system leaves it to the program): one fault per 2 MiB instead of per 4 KiB when the range is first
// touched. A hint; nothing changes but the timing where it is refused or unavailable.
void advise_huge_pages(void* data, std::size_t bytes);

// v resized to n elements. Storage that holds n is kept (the old values stay in it: for arrays the
// caller overwrites whole); otherwise v's storage is dropped rather than grown (which would copy
// it), new storage is reserved, advised to huge pages, and only then touched.
template <class T>
void resize_for_overwrite(std::vector<T>& v, std::size_t n) {
  if (v.capacity() < n) {
    v = std::vector<T>();
    v.reserve(n);
    advise_huge_pages(v.data(), n * sizeof(T));
  }
  v.resize(n);
}

}  // namespace sop
