// A read-only memory map of a whole file. Readers hand out views into it and convert one tensor at a
// time, so even a many-gigabyte checkpoint costs address space, not memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sop::detail {

class MappedFile {
 public:
  // Maps `path` read-only. Throws sop::Error naming the file if it cannot be opened or mapped.
  // An empty file maps to size() == 0 and data() == nullptr.
  explicit MappedFile(const std::string& path);
  ~MappedFile();

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

  // Tells the kernel a byte range was consumed and its pages may leave this process's resident set
  // (they stay in the page cache and fault back in if touched again). Called after each tensor is
  // converted so that streaming a large checkpoint keeps the resident set bounded.
  void release(std::size_t offset, std::size_t length) const;
  // Hints that a byte range is about to be read front to back.
  void will_read(std::size_t offset, std::size_t length) const;
  // Copies [offset, offset + length) into dest with pread, which the kernel serves from the page
  // cache without mapping a page into this process (for a whole tensor copied once, cheaper than
  // reading the map). False (dest partly written) if the range is outside the file or a read fails;
  // the map is then still there to read. Safe to call from several threads at once.
  bool copy_out(std::size_t offset, std::size_t length, void* dest) const;

 private:
  void unmap() noexcept;

  std::string path_;
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;  // kept open for copy_out
};

}  // namespace sop::detail
