#include "base/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

namespace sop::detail {

namespace {

// Closes a descriptor on every path out of the constructor; the mapping outlives it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::size_t page_size() {
  const long size = ::sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

// madvise needs a page-aligned start; widen [offset, offset+length) to whole pages inside the map.
void advise(const uint8_t* base, std::size_t map_size, std::size_t offset, std::size_t length, int advice) {
  if (base == nullptr || length == 0 || offset >= map_size) return;
  if (length > map_size - offset) length = map_size - offset;
  const std::size_t page = page_size();
  const std::size_t begin = offset / page * page;
  const std::size_t end = offset + length;
  // The advice is only a hint: a failure changes performance, never results, so it is ignored.
  (void)::madvise(const_cast<uint8_t*>(base) + begin, end - begin, advice);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error(path, "", std::string("cannot stat: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error(path, "", "is a directory, not a file");
  if (st.st_size < 0) throw Error(path, "", "negative file size");
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ == 0) return;
  void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (mapped == MAP_FAILED) {
    size_ = 0;
    throw Error(path, "", std::string("cannot memory-map: ") + std::strerror(errno));
  }
  data_ = static_cast<const uint8_t*>(mapped);
  fd_ = fd.release();
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), data_(other.data_), size_(other.size_), fd_(other.fd_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.fd_ = -1;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    fd_ = other.fd_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.fd_ = -1;
  }
  return *this;
}

void MappedFile::unmap() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

bool MappedFile::copy_out(std::size_t offset, std::size_t length, void* dest) const {
  if (fd_ < 0 || offset > size_ || length > size_ - offset) return false;
  auto* out = static_cast<uint8_t*>(dest);
  while (length > 0) {
    const ssize_t got = ::pread(fd_, out, length, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // an error, or the file shrank under us
    out += got;
    offset += static_cast<std::size_t>(got);
    length -= static_cast<std::size_t>(got);
  }
  return true;
}

void MappedFile::release(std::size_t offset, std::size_t length) const {
  advise(data_, size_, offset, length, MADV_DONTNEED);
}

void MappedFile::will_read(std::size_t offset, std::size_t length) const {
  advise(data_, size_, offset, length, MADV_SEQUENTIAL);
}

}  // namespace sop::detail
