// base/atomic_file: complete content or nothing, and stale temporaries of killed runs removed (issue 16).
#include "base/atomic_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"

namespace sop {
namespace {

namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sop_atomic_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    target_ = dir_ + "/out.json";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  static void write_raw(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    return names;
  }
  // A PID that was alive a moment ago and is not now: a child that exited and was reaped.
  static long dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
  }
  // "TARGET.tmp.HOST." as this process names its temporaries.
  std::string own_prefix() const {
    const std::string t = temporary_path_for(target_);
    const std::string pid = "." + std::to_string(::getpid()) + ".";
    return t.substr(0, t.rfind(pid) + 1);
  }

  std::string dir_;
  std::string target_;
};

TEST_F(AtomicFile, TheContentIsCompleteAndNoTemporaryIsLeft) {
  std::string big(3 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  write_file_atomically(target_, [&](std::ostream& os) { os << big << "end\n"; });
  EXPECT_EQ(read(target_), big + "end\n");
  EXPECT_EQ(entries(), std::set<std::string>{"out.json"});

  // Replacing: the old content stays whole until the new one is complete.
  write_file_atomically(target_, [&](std::ostream& os) { os << "second\n"; });
  EXPECT_EQ(read(target_), "second\n");
  EXPECT_EQ(entries(), std::set<std::string>{"out.json"});
}

TEST_F(AtomicFile, AFailingWriterLeavesTheOldFileAndNoTemporary) {
  write_raw(target_, "old\n");
  EXPECT_THROW(write_file_atomically(target_,
                                     [&](std::ostream& os) {
                                       os << "half of it";
                                       throw std::runtime_error("interrupted");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read(target_), "old\n");
  EXPECT_EQ(entries(), std::set<std::string>{"out.json"});

  {
    AtomicOutputFile out(dir_ + "/never.bin");
    out.write("abc", 3);
    EXPECT_TRUE(fs::exists(out.temp_path()));
  }  // not committed
  EXPECT_EQ(entries(), std::set<std::string>{"out.json"});

  try {
    write_file_atomically(dir_ + "/no/such/folder/x.json", [](std::ostream& os) { os << "x"; });
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/no/such/folder/x.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot create the temporary file"), std::string::npos) << e.what();
  }
}

TEST_F(AtomicFile, StaleTemporariesOfDeadProcessesAreRemoved) {
  const long dead = dead_pid();
  const std::string prefix = own_prefix();
  const std::string stale_new = prefix + std::to_string(dead) + ".0";          // TARGET.tmp.HOST.PID.N
  const std::string stale_legacy = target_ + ".tmp." + std::to_string(dead);  // TARGET.tmp.PID
  write_raw(stale_new, "{\"trunc");
  write_raw(stale_legacy, "{\"trunc");
  write_file_atomically(target_, [](std::ostream& os) { os << "{}\n"; });
  EXPECT_FALSE(fs::exists(stale_new));
  EXPECT_FALSE(fs::exists(stale_legacy));
  EXPECT_EQ(read(target_), "{}\n");
  EXPECT_EQ(entries(), std::set<std::string>{"out.json"});
}

// An earlier `sop sweep` quantized each pack into PACK.q<PID> and renamed it itself; a killed one left
// that file or the pack writer's temporary of it, which nothing removed (issue 16). Now a dead PID's
// are removed with the pack's own temporaries, and a live one's, or another host's, are kept.
TEST_F(AtomicFile, AnEarlierSweepsPackTemporariesAreRemovedWhenTheirProcessIsGone) {
  const long dead = dead_pid();
  const std::string q_dead = target_ + ".q" + std::to_string(dead);
  const std::string host = own_prefix().substr(target_.size() + 5);  // "HOST."
  const std::string stale[] = {
      q_dead,                                                  // PACK.q<PID>, renamed never
      q_dead + ".tmp." + host + std::to_string(dead) + ".0",  // the pack writer's temporary of it
      q_dead + ".tmp." + std::to_string(dead),                 // same, earlier form
  };
  const std::string kept[] = {
      target_ + ".q" + std::to_string(::getppid()),                              // a live process's
      q_dead + ".tmp.some-other-node." + std::to_string(dead) + ".0",            // another host's
      target_ + ".q" + std::to_string(::getpid()),                               // this process's
      target_ + ".qx1",                                                          // not a PID
      q_dead + ".bak",                                                           // not a temporary
  };
  for (const std::string& f : stale) write_raw(f, "partial");
  for (const std::string& f : kept) write_raw(f, "partial");
  const std::vector<std::string> removed = remove_stale_temporaries(target_);
  EXPECT_EQ(std::set<std::string>(removed.begin(), removed.end()), std::set<std::string>(std::begin(stale), std::end(stale)));
  for (const std::string& f : stale) EXPECT_FALSE(fs::exists(f)) << f;
  for (const std::string& f : kept) EXPECT_TRUE(fs::exists(f)) << f;
}

TEST_F(AtomicFile, TemporariesOfLiveProcessesOtherHostsAndOtherTargetsAreKept) {
  const long dead = dead_pid();
  const std::string prefix = own_prefix();
  const std::string kept[] = {
      prefix + std::to_string(::getpid()) + ".12345",                  // this process's own (another writer)
      prefix + std::to_string(::getppid()) + ".0",                     // a live process (the test's parent)
      target_ + ".tmp." + std::to_string(::getppid()),                 // same, earlier form
      target_ + ".tmp.some-other-node." + std::to_string(dead) + ".0",  // another host: cannot tell
      dir_ + "/other.json.tmp." + std::to_string(dead),                // another target
      target_ + ".tmp.notapid",                                        // not a temporary of ours
  };
  for (const std::string& k : kept) write_raw(k, "partial");
  EXPECT_TRUE(remove_stale_temporaries(target_).empty());
  write_file_atomically(target_, [](std::ostream& os) { os << "done\n"; });
  for (const std::string& k : kept) EXPECT_TRUE(fs::exists(k)) << k;
  EXPECT_EQ(read(target_), "done\n");

  // The live process's own temporaries work side by side: two open at once for one target.
  AtomicOutputFile a(target_);
  AtomicOutputFile b(target_);
  EXPECT_NE(a.temp_path(), b.temp_path());
  a.write("first\n", 6);
  b.write("second\n", 7);
  a.commit();
  EXPECT_EQ(read(target_), "first\n");
  b.commit();
  EXPECT_EQ(read(target_), "second\n");
  EXPECT_FALSE(fs::exists(a.temp_path()));
  EXPECT_FALSE(fs::exists(b.temp_path()));
}

TEST_F(AtomicFile, EarlierWritersPartialFilesAreRemovedOnceOld) {
  const std::string old_pack = target_ + ".partial-Ab12Cd";  // the pack writer's mkstemp name
  const std::string old_safetensors = target_ + ".partial";   // the safetensors writer's
  const std::string fresh = target_ + ".partial-Zz99Yy";      // may still be being written
  for (const std::string& p : {old_pack, old_safetensors, fresh}) write_raw(p, "partial");
  const struct timeval two_hours_ago[2] = {{::time(nullptr) - 7200, 0}, {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimes(old_pack.c_str(), two_hours_ago), 0);
  ASSERT_EQ(::utimes(old_safetensors.c_str(), two_hours_ago), 0);
  const auto removed = remove_stale_temporaries(target_);
  EXPECT_EQ(std::set<std::string>(removed.begin(), removed.end()), (std::set<std::string>{old_pack, old_safetensors}));
  EXPECT_TRUE(fs::exists(fresh));
}

}  // namespace
}  // namespace sop
