#include "base/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <streambuf>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

namespace sop {

namespace {

std::string errno_text() { return std::strerror(errno); }

// The host name as it appears in temporary names: no dots (the name is split on them) or slashes.
const std::string& host_label() {
  static const std::string label = [] {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return std::string("localhost");
    std::string s = buffer;
    for (char& c : s) {
      if (c == '.' || c == '/') c = '-';
    }
    return s;
  }();
  return label;
}

// Splits `path` into its folder ("." when none) and file name.
void split(const std::string& path, std::string& folder, std::string& name) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    folder = ".";
    name = path;
  } else {
    folder = slash == 0 ? "/" : path.substr(0, slash);
    name = path.substr(slash + 1);
  }
}

// A decimal PID > 0, or -1.
long parse_pid(const std::string& text) {
  if (text.empty() || text.size() > 10) return -1;
  long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v > 0 && v <= 0x7fffffffL ? v : -1;
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH; }

// Whether `suffix` (what follows TARGET in a folder entry) names a stale temporary of TARGET.
bool is_stale(const std::string& suffix, const std::string& entry_path) {
  static const std::string tmp = ".tmp.";
  if (suffix.compare(0, tmp.size(), tmp) == 0) {
    const std::string rest = suffix.substr(tmp.size());
    const long legacy_pid = parse_pid(rest);  // TARGET.tmp.PID
    if (legacy_pid > 0) return legacy_pid != ::getpid() && !process_alive(legacy_pid);
    // TARGET.tmp.HOST.PID.N
    const std::size_t last = rest.rfind('.');
    if (last == std::string::npos || last == 0) return false;
    const std::size_t before = rest.rfind('.', last - 1);
    if (before == std::string::npos || before == 0) return false;
    const std::string counter = rest.substr(last + 1);
    if (counter.empty() || counter.find_first_not_of("0123456789") != std::string::npos) return false;
    const long pid = parse_pid(rest.substr(before + 1, last - before - 1));
    if (pid < 0 || rest.substr(0, before) != host_label()) return false;
    return pid != ::getpid() && !process_alive(pid);
  }
  // The earlier `sop sweep` quantized into TARGET.q<PID> and renamed that itself: the name, and the
  // pack writer's temporaries of it (TARGET.q<PID>.tmp.HOST.PID.N, TARGET.q<PID>.tmp.PID), are stale
  // once that PID is not alive. TARGET.q<PID> names no host, so it is taken as this host's (as
  // TARGET.tmp.PID is); a temporary inside it that names another host is kept.
  static const std::string q = ".q";
  if (suffix.compare(0, q.size(), q) == 0) {
    const std::size_t dot = suffix.find('.', q.size());
    const long pid = parse_pid(suffix.substr(q.size(), dot == std::string::npos ? std::string::npos : dot - q.size()));
    if (pid < 0) return false;
    if (dot != std::string::npos) {
      const std::string inner = suffix.substr(dot);
      if (inner.compare(0, tmp.size(), tmp) != 0) return false;
      const std::string rest = inner.substr(tmp.size());
      if (parse_pid(rest) < 0 && rest.compare(0, host_label().size() + 1, host_label() + ".") != 0) return false;
    }
    return pid != ::getpid() && !process_alive(pid);
  }
  // The earlier writers' names: TARGET.partial (safetensors) and TARGET.partial-XXXXXX (packs).
  const bool unowned = suffix == ".partial" || (suffix.size() == 15 && suffix.compare(0, 9, ".partial-") == 0);
  if (!unowned) return false;
  struct stat st {};
  if (::lstat(entry_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  return std::time(nullptr) - st.st_mtime > kUnownedTemporaryStaleSeconds;
}

// Creates this process's temporary for `path` (exclusively, mode 0666 less the umask, as ofstream
// would) after removing stale ones.
std::FILE* create_temporary(const std::string& path, std::string& temp) {
  remove_stale_temporaries(path);
  temp = temporary_path_for(path);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(path, "", "cannot create the temporary file " + temp + ": " + errno_text());
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    const std::string why = errno_text();
    ::close(fd);
    std::remove(temp.c_str());
    throw Error(path, "", "cannot open the temporary file " + temp + ": " + why);
  }
  return f;
}

// An ostream's buffer over a stdio stream (which buffers itself).
class StdioBuffer : public std::streambuf {
 public:
  explicit StdioBuffer(std::FILE* f) : file_(f) {}

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    return std::fputc(c, file_) == EOF ? traits_type::eof() : c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    return static_cast<std::streamsize>(std::fwrite(s, 1, static_cast<std::size_t>(n), file_));
  }
  int sync() override { return std::fflush(file_) == 0 ? 0 : -1; }

 private:
  std::FILE* file_;
};

}  // namespace

std::string temporary_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return path + ".tmp." + host_label() + "." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

std::vector<std::string> remove_stale_temporaries(const std::string& path) {
  std::string folder, name;
  split(path, folder, name);
  std::vector<std::string> removed;
  if (name.empty()) return removed;
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return removed;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string entry_name = entry->d_name;
    if (entry_name.size() <= name.size() || entry_name.compare(0, name.size(), name) != 0) continue;
    const std::string entry_path = folder == "/" ? "/" + entry_name : folder + "/" + entry_name;
    if (is_stale(entry_name.substr(name.size()), entry_path) && ::unlink(entry_path.c_str()) == 0) {
      removed.push_back(entry_path);
    }
  }
  ::closedir(dir);
  return removed;
}

void sync_folder_of(const std::string& path) {
  std::string folder, name;
  split(path, folder, name);
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(path, "", "cannot open its folder to sync it: " + errno_text());
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0 && saved != EINVAL && saved != ENOTSUP) {
    throw Error(path, "", std::string("cannot sync its folder: ") + std::strerror(saved));
  }
}

AtomicOutputFile::AtomicOutputFile(std::string path) : path_(std::move(path)) {
  file_ = create_temporary(path_, temp_);
}

AtomicOutputFile::~AtomicOutputFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicOutputFile::write(const void* data, std::size_t bytes) {
  if (committed_ || file_ == nullptr) throw Error(path_, "", "write after the file was committed");
  if (bytes != 0 && std::fwrite(data, 1, bytes, file_) != bytes) {
    throw Error(path_, "", "write failed: " + errno_text());
  }
}

void AtomicOutputFile::start_writeback() {
  if (committed_ || file_ == nullptr) return;
  if (std::fflush(file_) != 0) throw Error(path_, "", "write failed (disk full?): " + errno_text());
#if defined(__linux__)
  (void)::sync_file_range(::fileno(file_), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
}

void AtomicOutputFile::commit() {
  if (committed_) return;
  if (file_ == nullptr) throw Error(path_, "", "commit after a failed commit");
  if (std::fflush(file_) != 0 || std::ferror(file_) != 0) throw Error(path_, "", "write failed (disk full?): " + errno_text());
  if (::fsync(::fileno(file_)) != 0) throw Error(path_, "", "cannot sync the temporary file " + temp_ + ": " + errno_text());
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) throw Error(path_, "", "cannot close the temporary file " + temp_ + ": " + errno_text());
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    throw Error(path_, "", "cannot rename " + temp_ + " into place: " + errno_text());
  }
  committed_ = true;  // the target is complete; a failed folder sync below leaves it, reporting failure
  sync_folder_of(path_);
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  AtomicOutputFile out(path);
  StdioBuffer buffer(out.file());
  std::ostream stream(&buffer);
  write(stream);
  stream.flush();
  if (!stream) throw Error(path, "", "write failed (disk full?)");
  out.commit();
}

}  // namespace sop
