#include "model/tlm/rtl_cache.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "base/error.h"

extern char** environ;

namespace sop::sysc {

namespace {

namespace fs = std::filesystem;
using rtl_cache_detail::EmbeddedFile;
using rtl_cache_detail::kEmbeddedFileCount;
using rtl_cache_detail::kEmbeddedFiles;

#include "rtl_cache_build.inc"

// Bumped when the layout of an entry or of its key changes.
constexpr const char* kCacheFormat = "sop-rtl-cache 1";
constexpr const char* kLibraryName = "libsop_rtl.so";
constexpr const char* kEntrySymbol = "sop_rtl_variant";

std::vector<std::string> strings(const char* const* list) {
  std::vector<std::string> v;
  for (; *list != nullptr; ++list) v.emplace_back(*list);
  return v;
}

std::string join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// FNV-1a, 64 bits: the key's digest (the whole key is kept beside the entry and compared too).
struct Digest {
  uint64_t h = 14695981039346656037ull;
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void add(const std::string& s) { add(s.data(), s.size()); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

std::string digest(const std::string& s) {
  Digest d;
  d.add(s);
  return d.hex();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const void* data, std::size_t n) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!out) throw Error(p.string(), "", "cannot write (RTL cache)");
}
void write_file(const fs::path& p, const std::string& s) { write_file(p, s.data(), s.size()); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- programs ----------------------------------------------------------------------------------------

// An executable: a name with a slash as given, else the first match on PATH; "" when there is none.
std::string find_program(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  std::stringstream path(env("PATH"));
  for (std::string dir; std::getline(path, dir, ':');) {
    const std::string p = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Starts argv[0] (a path) with stdout and stderr into `log` (a file, or a pipe when log_fd >= 0).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, int log_fd = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (log_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Runs argv and returns its output (stdout and stderr); *ok tells whether it exited 0.
std::string capture(const std::vector<std::string>& argv, bool* ok) {
  int fds[2];
  *ok = false;
  if (pipe(fds) != 0) return "";
  const pid_t pid = spawn(argv, "", fds[1]);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (pid < 0) return "";
  *ok = wait_exit(pid) == 0;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string tail_lines(const std::string& s, int n) {
  std::size_t pos = s.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = s.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? s : s.substr(pos + 1);
}

// One step of a build: a command, its log, what it is for the messages.
struct Step {
  std::string what;
  std::vector<std::string> argv;
};

// Runs steps, up to `jobs` at a time, each logging into dir/logs/<n>.log and then into dir/build.log.
// Throws on the first failing step (after the running ones end), naming it and quoting its log's tail.
void run_steps(const std::vector<Step>& steps, int jobs, const fs::path& dir, const std::string& where) {
  fs::create_directories(dir / "logs");
  std::ofstream build_log(dir / "build.log", std::ios::app);
  std::map<pid_t, std::size_t> running;  // pid -> step
  std::vector<std::chrono::steady_clock::time_point> started(steps.size());
  std::size_t next = 0;
  std::string failed;
  auto log_of = [&](std::size_t i) { return (dir / "logs" / (std::to_string(i) + ".log")).string(); };
  while (next < steps.size() || !running.empty()) {
    while (failed.empty() && next < steps.size() && static_cast<int>(running.size()) < std::max(1, jobs)) {
      const pid_t pid = spawn(steps[next].argv, log_of(next));
      if (pid < 0) {
        failed = steps[next].what + ": cannot start " + steps[next].argv[0] + ": " + std::strerror(errno);
        break;
      }
      started[next] = std::chrono::steady_clock::now();
      running[pid] = next++;
    }
    if (running.empty()) break;
    // Polls our own children (waiting for any child could reap one that is not ours).
    pid_t pid = 0;
    int status = 0;
    for (;;) {
      for (const auto& [p, step] : running) {
        const pid_t r = waitpid(p, &status, WNOHANG);
        if (r == p || (r < 0 && errno != EINTR)) {
          pid = p;
          break;
        }
      }
      if (pid != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::size_t i = running.at(pid);
    running.erase(pid);
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    const std::string out = read_file(log_of(i));
    char took[32];
    std::snprintf(took, sizeof took, "%.2f s", seconds_since(started[i]));
    build_log << "$ " << join(steps[i].argv) << "\n" << out << (out.empty() || out.back() == '\n' ? "" : "\n") << "# "
              << steps[i].what << ": exit " << rc << ", " << took << "\n";
    if (rc != 0 && failed.empty()) {
      failed = steps[i].what + " failed (" + steps[i].argv[0] + ", log " + (dir / "build.log").string() + "):\n" +
               tail_lines(out, 20);
    }
  }
  if (!failed.empty()) throw Error(where, "decode_unit", "verilating the RTL for the cache: " + failed);
}

// ---- the key -----------------------------------------------------------------------------------------

struct Toolchain {
  std::string verilator, verilator_version, verilator_include;
  std::string cxx, cxx_version;
  std::vector<std::string> cxx_flags, link_flags, verilator_flags;
  int jobs = 1;
};

// Finds verilator and the compiler, or says what to install. Runs `verilator --version` and `CXX --version`
// (the key names them).
Toolchain find_toolchain(const std::string& where) {
  Toolchain t;
  const std::string want_v = env("SOP_VERILATOR").empty() ? "verilator" : env("SOP_VERILATOR");
  t.verilator = find_program(want_v);
  if (t.verilator.empty()) {
    throw Error(where, "decode_unit",
                "no prebuilt RTL for these parameters, and `" + want_v +
                    "` was not found to verilate them" +
                    (want_v.find('/') == std::string::npos ? " on PATH" : "") +
                    ": install Verilator (scripts/install-deps.sh, Debian package verilator), or point SOP_VERILATOR "
                    "at it; or run the TLM engine (--engine tlm)");
  }
  bool ok = false;
  t.verilator_version = first_line(capture({t.verilator, "--version"}, &ok));
  if (!ok) throw Error(where, "decode_unit", "`" + t.verilator + " --version` failed: " + t.verilator_version);
  const std::string want_cxx = env("SOP_RTL_CXX").empty() ? std::string(kBuildCxx[0]) : env("SOP_RTL_CXX");
  t.cxx = find_program(want_cxx);
  if (t.cxx.empty()) {
    throw Error(where, "decode_unit",
                "no prebuilt RTL for these parameters, and the C++ compiler `" + want_cxx +
                    "` (the one that built sop) was not found to compile them: install g++ "
                    "(scripts/install-deps.sh), or point SOP_RTL_CXX at a compiler");
  }
  t.cxx_version = first_line(capture({t.cxx, "--version"}, &ok));
  if (!ok) throw Error(where, "decode_unit", "`" + t.cxx + " --version` failed: " + t.cxx_version);
  t.cxx_flags = strings(kBuildCxxFlags);
  t.link_flags = strings(kBuildLinkFlags);
  t.verilator_flags = strings(kBuildVerilatorFlags);
  const std::string jobs = env("SOP_RTL_JOBS");
  t.jobs = jobs.empty() ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : std::atoi(jobs.c_str());
  return t;
}

// Verilator's include folder (verilated.h, verilated.cpp), asked only when building: another process start.
const std::string& verilator_include(Toolchain& t, const std::string& where) {
  if (!t.verilator_include.empty()) return t.verilator_include;
  bool ok = false;
  const std::string root = first_line(capture({t.verilator, "--getenv", "VERILATOR_ROOT"}, &ok));
  if (!ok || !fs::exists(root + "/include/verilated.cpp")) {
    throw Error(where, "decode_unit",
                "`" + t.verilator + " --getenv VERILATOR_ROOT` gave '" + root +
                    "', which holds no include/verilated.cpp: reinstall Verilator (scripts/install-deps.sh)");
  }
  t.verilator_include = root + "/include";
  return t.verilator_include;
}

// Without the include folders (the key leaves them out: the Verilator version stands for them).
std::vector<std::string> compile_flags(const Toolchain& t, bool traced) {
  std::vector<std::string> f = t.cxx_flags;
  const std::string tr = traced ? "1" : "0";
  for (const std::string& x :
       {std::string("-std=c++17"), std::string("-fPIC"), std::string("-fvisibility=hidden"),
        std::string("-fvisibility-inlines-hidden"), std::string("-pthread"), std::string("-DVM_COVERAGE=0"),
        std::string("-DVM_SC=0"), "-DVM_TRACE=" + tr, "-DVM_TRACE_VCD=" + tr, std::string("-DVM_TRACE_FST=0")}) {
    f.push_back(x);
  }
  return f;
}

std::string toolchain_key(const Toolchain& t, bool traced) {
  return "verilator: " + t.verilator + " | " + t.verilator_version + "\ncompiler: " + t.cxx + " | " + t.cxx_version +
         "\ncompile flags: " + join(compile_flags(t, traced)) + "\nlink flags: " + join(t.link_flags) + "\n";
}

// ---- entries: built in a temporary folder under a lock, renamed into place -----------------------------

class FileLock {
 public:
  explicit FileLock(const fs::path& path, const std::string& waiting_for) {
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(path.string(), "", std::string("cannot open the RTL cache's lock file: ") + std::strerror(errno));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::fprintf(stderr, "sop: waiting for another process %s (lock %s)\n", waiting_for.c_str(), path.c_str());
      while (flock(fd_, LOCK_EX) != 0) {
        if (errno != EINTR) throw Error(path.string(), "", std::string("cannot lock: ") + std::strerror(errno));
      }
    }
  }
  ~FileLock() {
    flock(fd_, LOCK_UN);
    close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

bool entry_valid(const fs::path& dir, const std::string& key, const char* product) {
  std::error_code ec;
  return fs::exists(dir / product, ec) && read_file(dir / "key.txt") == key;
}

fs::path temp_folder(const fs::path& cache, const std::string& name) {
  std::random_device rd;
  return cache / (".build-" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 1000000));
}

// Makes cache/name (valid for `key`, holding `product`) with build(tmp) if it is not there; true if it built.
bool ensure_entry(const fs::path& cache, const std::string& name, const std::string& key, const char* product,
                  const std::string& waiting_for, const std::function<void(const fs::path&)>& build) {
  const fs::path dir = cache / name;
  if (entry_valid(dir, key, product)) return false;
  FileLock lock(cache / (name + ".lock"), waiting_for);
  if (entry_valid(dir, key, product)) return false;  // another process built it meanwhile
  const fs::path tmp = temp_folder(cache, name);
  fs::create_directories(tmp);
  build(tmp);  // on failure the folder stays, with its log, for a look
  write_file(tmp / "key.txt", key);
  std::error_code ec;
  if (fs::exists(dir, ec)) fs::remove_all(dir, ec);  // a stale entry (a different key behind the same digest)
  fs::rename(tmp, dir, ec);
  if (ec) throw Error(dir.string(), "", "cannot move the RTL cache entry into place: " + ec.message());
  return true;
}

// Verilator's runtime (verilated.cpp, threads, VCD), compiled once per toolchain, linked into every model.
const char* const kRuntimeSources[] = {"verilated.cpp", "verilated_threads.cpp", "verilated_vcd_c.cpp"};

std::string runtime_key(const Toolchain& t) {
  return std::string(kCacheFormat) + "\nVerilator runtime\n" + toolchain_key(t, true);
}
std::string runtime_name(const Toolchain& t) { return "verilated-runtime-" + digest(runtime_key(t)); }

fs::path ensure_runtime(const fs::path& cache, Toolchain& t, const std::string& where) {
  const std::string key = runtime_key(t);
  const std::string name = runtime_name(t);
  ensure_entry(cache, name, key, "verilated.o", "compiling Verilator's runtime for the RTL cache", [&](const fs::path& tmp) {
    std::fprintf(stderr, "sop: compiling Verilator's runtime into the RTL cache (once per Verilator and compiler)\n");
    std::vector<Step> steps;
    for (const char* src : kRuntimeSources) {
      Step s{std::string("compiling ") + src, {t.cxx}};
      for (const auto& f : compile_flags(t, true)) s.argv.push_back(f);
      const std::string& inc = verilator_include(t, where);
      s.argv.insert(s.argv.end(), {"-I" + inc, "-I" + inc + "/vltstd", "-c", inc + "/" + src, "-o",
                                   (tmp / fs::path(src).replace_extension(".o")).string()});
      steps.push_back(std::move(s));
    }
    run_steps(steps, t.jobs, tmp, where);
    std::error_code ec;
    fs::remove_all(tmp / "logs", ec);  // build.log holds them all
  });
  return cache / name;
}

// ---- the model library -----------------------------------------------------------------------------

using ParamMap = std::map<std::string, std::string>;

// "-GLanes=16" -> Lanes: "16"; "-GFp16Entries=1'b0" -> Fp16Entries: "0".
ParamMap parameter_map(const std::vector<std::string>& args) {
  ParamMap m;
  for (const auto& a : args) {
    const std::size_t eq = a.find('=');
    if (a.rfind("-G", 0) != 0 || eq == std::string::npos) continue;
    std::string v = a.substr(eq + 1);
    const std::size_t tick = v.find("'b");
    if (tick != std::string::npos) v = v.substr(tick + 2);
    m[a.substr(2, eq - 2)] = v;
  }
  return m;
}

const std::string& param(const ParamMap& m, const char* name, const std::string& where) {
  const auto it = m.find(name);
  if (it == m.end()) throw Error(where, "decode_unit", std::string("the RTL parameters name no ") + name + " (RTL cache)");
  return it->second;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string w; in >> w;) v.push_back(w);
  return v;
}

// The file compiled into the model's library with the verilated sources: its RtlVariant, made as the
// prebuilt ones are (SOP_RTL_VARIANT), exported under a C name for dlsym.
std::string entry_source(const std::string& prefix, const ParamMap& p, bool traced, const std::string& params,
                         const std::string& where) {
  auto g = [&](const char* n) { return param(p, n, where); };
  std::ostringstream s;
  s << "// Generated by sop (model/tlm/rtl_cache.cc) for one parameter set of sop_decode_unit: its RtlVariant,\n"
       "// a VerilatedCore over the verilated class, as model/tlm/rtl_models.cc makes the prebuilt ones.\n"
       "#include \""
    << prefix
    << ".h\"\n"
       "#include \"model/tlm/verilated_variant.h\"\n\n"
       "extern \"C\" __attribute__((visibility(\"default\"))) const sop::sysc::RtlVariant* "
    << kEntrySymbol
    << "() {\n"
       "  static const sop::sysc::RtlVariant variant = SOP_RTL_VARIANT("
    << prefix << ", " << g("Lanes") << ", " << g("CodeBits") << ", " << g("ResidentLayers") << ", " << g("TableBits")
    << ", " << g("Fp16Entries")
    << ", " << g("ScaleHasSign") << ", " << g("ScaleExpBits") << ", " << g("ScaleManBits") << ", "
    << g("ScaleSubnormals") << ", " << g("IndexBits") << ", " << (traced ? 1 : 0) << ", \"" << params
    << "\");\n"
       "  return &variant;\n"
       "}\n";
  return s.str();
}

// A readable name for the parameter set (the digest tells sets apart): l16_c4_r4_hif_s4m3_i32_p1[_trace].
std::string short_name(const ParamMap& p, bool traced) {
  auto get = [&](const char* n) {
    const auto it = p.find(n);
    return it == p.end() ? std::string("x") : it->second;
  };
  // TableBits only when not the pair's 1, so the names of the pair configs stay as before.
  const std::string tables = get("TableBits") == "1" ? "" : "_t" + get("TableBits");
  return "l" + get("Lanes") + "_c" + get("CodeBits") + "_r" + get("ResidentLayers") + tables + "_" +
         (get("Fp16Entries") == "1" ? "fp16" : "hif") + "_" + (get("ScaleHasSign") == "1" ? "s" : "u") +
         get("ScaleExpBits") + "m" + get("ScaleManBits") + (get("ScaleSubnormals") == "1" ? "" : "n") + "_i" +
         get("IndexBits") + "_p" + get("PipeStages") + (traced ? "_trace" : "");
}

struct Loaded {
  void* handle = nullptr;
  const RtlVariant* variant = nullptr;
};

const RtlVariant* load_library(const fs::path& dir, const std::string& params, const std::string& where) {
  const std::string lib = (dir / kLibraryName).string();
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    throw Error(lib, "", std::string("cannot load the cached RTL (remove the folder to rebuild it): ") + dlerror());
  }
  using EntryFn = const RtlVariant* (*)();
  auto fn = reinterpret_cast<EntryFn>(dlsym(h, kEntrySymbol));
  const RtlVariant* v = fn != nullptr ? fn() : nullptr;
  if (v == nullptr || v->parameters == nullptr || std::string(v->parameters) != params) {
    throw Error(lib, "", "the cached RTL is not the one for " + where + " (remove the folder to rebuild it)");
  }
  return v;  // the library stays loaded for the life of the process
}

}  // namespace

std::vector<std::string> rtl_verilator_parameters(const hw::HwConfig& hw) {
  // Parameters the RTL declares `parameter bit NAME` (no range): verilator -G takes only 1-bit values there.
  static const std::vector<std::string> bits = [] {
    std::vector<std::string> names;
    const std::regex decl(R"(\bparameter\s+(bit|logic)\s+([A-Za-z_][A-Za-z0-9_]*))");
    for (int i = 0; i < kBuildRtlSourceCount && static_cast<std::size_t>(i) < kEmbeddedFileCount; ++i) {
      const std::string text(reinterpret_cast<const char*>(kEmbeddedFiles[i].data), kEmbeddedFiles[i].size);
      for (auto it = std::sregex_iterator(text.begin(), text.end(), decl); it != std::sregex_iterator(); ++it) {
        names.push_back((*it)[2].str());
      }
    }
    return names;
  }();
  std::vector<std::string> args;
  for (const auto& [name, value] : hw.rtl_parameters()) {
    const bool bit = std::find(bits.begin(), bits.end(), name) != bits.end();
    args.push_back("-G" + name + "=" + (bit ? "1'b" : "") + value);
  }
  return args;
}

bool same_rtl_parameters(const std::string& parameters, const std::vector<std::string>& args) {
  std::vector<std::string> a = split(parameters), b = args;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

std::string rtl_cache_dir() {
  if (!env("SOP_RTL_CACHE").empty()) return env("SOP_RTL_CACHE");
  if (!env("XDG_CACHE_HOME").empty()) return env("XDG_CACHE_HOME") + "/sop/rtl";
  if (!env("HOME").empty()) return env("HOME") + "/.cache/sop/rtl";
  throw Error("", "", "no folder for the RTL cache: set SOP_RTL_CACHE (or HOME, or XDG_CACHE_HOME)");
}

const RtlVariant& cached_rtl_variant(const hw::HwConfig& hw, bool traced) {
  static std::mutex mutex;
  static std::map<std::string, const RtlVariant*> loaded;
  const std::lock_guard<std::mutex> guard(mutex);
  const std::vector<std::string> args = rtl_verilator_parameters(hw);
  const std::string params = join(args);
  const std::string where = hw.source.empty() ? hw.name : hw.source;
  if (const auto it = loaded.find(params + (traced ? " traced" : "")); it != loaded.end()) return *it->second;

  const ParamMap pmap = parameter_map(args);
  const fs::path cache = rtl_cache_dir();
  std::error_code ec;
  fs::create_directories(cache, ec);
  if (ec) throw Error(cache.string(), "", "cannot create the RTL cache folder: " + ec.message());
  Toolchain t = find_toolchain(where);

  const std::string name = short_name(pmap, traced);
  const std::string prefix = "Vsop_" + name;
  const std::string entry = entry_source(prefix, pmap, traced, params, where);
  std::ostringstream key;
  key << kCacheFormat << "\nmodel " << prefix << "\nparameters: " << params << "\ntraced: " << (traced ? 1 : 0)
      << "\nverilator flags: " << join(t.verilator_flags) << "\n"
      << toolchain_key(t, traced) << "runtime: " << runtime_name(t) << "\n";
  for (std::size_t i = 0; i < kEmbeddedFileCount; ++i) {
    Digest d;
    d.add(kEmbeddedFiles[i].data, kEmbeddedFiles[i].size);
    key << "file " << kEmbeddedFiles[i].path << " " << d.hex() << "\n";
  }
  key << "file sop_rtl_entry.cc " << digest(entry) << "\n";
  const std::string dir_name = name + "-" + digest(key.str());
  const fs::path dir = cache / dir_name;

  const auto t0 = std::chrono::steady_clock::now();
  double runtime_s = 0, verilator_s = 0;
  const bool built = ensure_entry(
      cache, dir_name, key.str(), kLibraryName, "verilating the same RTL parameters", [&](const fs::path& tmp) {
        std::fprintf(stderr,
                     "sop: %s: no prebuilt RTL for these parameters (%s%s); verilating them into the RTL cache %s "
                     "(once: later runs reuse it)\n",
                     where.c_str(), params.c_str(), traced ? ", traced" : "", cache.c_str());
        const fs::path runtime = ensure_runtime(cache, t, where);
        const auto tv = std::chrono::steady_clock::now();
        runtime_s = std::chrono::duration<double>(tv - t0).count();
        std::vector<std::string> rtl;
        for (std::size_t i = 0; i < kEmbeddedFileCount; ++i) {
          const fs::path p = tmp / "src" / kEmbeddedFiles[i].path;
          write_file(p, kEmbeddedFiles[i].data, kEmbeddedFiles[i].size);
          if (static_cast<int>(i) < kBuildRtlSourceCount) rtl.push_back(p.string());
        }
        write_file(tmp / "src" / "sop_rtl_entry.cc", entry);
        const fs::path obj = tmp / "obj";
        std::vector<std::string> objects;
        Step v{"verilator", {t.verilator}};
        v.argv.insert(v.argv.end(), t.verilator_flags.begin(), t.verilator_flags.end());
        if (traced) v.argv.push_back("--trace");
        v.argv.insert(v.argv.end(), {"--prefix", prefix, "--Mdir", obj.string()});
        v.argv.insert(v.argv.end(), args.begin(), args.end());
        v.argv.insert(v.argv.end(), rtl.begin(), rtl.end());
        run_steps({v}, 1, tmp, where);
        verilator_s = seconds_since(tv);

        // The verilated sources and the entry file as one translation unit (a third of the time of one
        // compile per file, each parsing verilated.h again); one compile per file if that fails.
        std::vector<fs::path> sources;
        for (const auto& e : fs::directory_iterator(obj)) {
          if (e.path().extension() == ".cpp") sources.push_back(e.path());
        }
        std::sort(sources.begin(), sources.end());
        sources.push_back(tmp / "src" / "sop_rtl_entry.cc");
        std::string unity = "// Generated by sop (model/tlm/rtl_cache.cc): every source of the model library.\n";
        for (const auto& src : sources) unity += "#include \"" + src.string() + "\"\n";
        write_file(obj / "sop_rtl_all.cpp", unity);
        auto compile = [&](const fs::path& src) {
          Step c{"compiling " + src.filename().string(), {t.cxx}};
          for (const auto& f : compile_flags(t, traced)) c.argv.push_back(f);
          const std::string o = (obj / src.filename()).replace_extension(".o").string();
          const std::string& inc = verilator_include(t, where);
          c.argv.insert(c.argv.end(), {"-I" + inc, "-I" + inc + "/vltstd", "-I" + obj.string(),
                                       "-I" + (tmp / "src").string(), "-c", src.string(), "-o", o});
          objects.push_back(o);
          return c;
        };
        try {
          run_steps({compile(obj / "sop_rtl_all.cpp")}, 1, tmp, where);
        } catch (const Error&) {
          std::fprintf(stderr, "sop: the model's sources do not compile as one file; compiling them one by one\n");
          objects.clear();
          std::vector<Step> compiles;
          for (const auto& src : sources) compiles.push_back(compile(src));
          run_steps(compiles, t.jobs, tmp, where);
        }
        Step link{"linking " + std::string(kLibraryName), {t.cxx, "-shared", "-o", (tmp / kLibraryName).string()}};
        link.argv.insert(link.argv.end(), objects.begin(), objects.end());
        for (const char* src : kRuntimeSources) {
          link.argv.push_back((runtime / fs::path(src).replace_extension(".o")).string());
        }
        link.argv.insert(link.argv.end(), t.link_flags.begin(), t.link_flags.end());
        link.argv.push_back("-Wl,-z,defs");
        run_steps({link}, 1, tmp, where);
        for (const auto& o : objects) fs::remove(o, ec);
        fs::remove_all(tmp / "logs", ec);  // build.log holds them all
      });
  if (built) {
    const double total = seconds_since(t0);
    std::fprintf(stderr, "sop: verilated %s in %.1f s (Verilator's runtime %.1f s, verilator %.1f s, compile and link %.1f s): %s\n",
                 where.c_str(), total, runtime_s, verilator_s, total - runtime_s - verilator_s, dir.c_str());
  } else {
    std::fprintf(stderr, "sop: %s: RTL reused from the cache %s\n", where.c_str(), dir.c_str());
  }
  const RtlVariant* v = load_library(dir, params, where);
  loaded[params + (traced ? " traced" : "")] = v;
  return *v;
}

}  // namespace sop::sysc
