// The RTL engine on any hardware config (model/tlm/rtl_cache.h): a config with no prebuilt variant is
// verilated on first use into the RTL cache (here a fresh one, SOP_RTL_CACHE in the test's scratch folder)
// and reused afterwards; every shipped config runs on both engines with the same cycles and no mismatch;
// concurrent first uses build once; a missing verilator or compiler is named with what to install.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/hw/hw_config.h"
#include "model/tlm/rtl_core.h"
#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShapes = "--shapes 'llama-small?layers=1'";

std::string hw_path(const std::string& name) { return std::string(SOP_SOURCE_DIR) + "/configs/hw/" + name + ".yaml"; }

// Sets an environment variable for the commands a test runs, and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The folders of a cache, by name (entries, and any temporary build folder left behind).
std::vector<std::string> cache_folders(const fs::path& cache) {
  std::vector<std::string> v;
  if (!fs::exists(cache)) return v;
  for (const auto& e : fs::directory_iterator(cache)) {
    if (e.is_directory()) v.push_back(e.path().filename().string());
  }
  std::sort(v.begin(), v.end());
  return v;
}

// A run's JSON: every weight checked, no mismatch, complete.
void expect_clean_run(const nlohmann::json& run, const std::string& what) {
  const auto& sb = run["scoreboard"];
  EXPECT_TRUE(sb["values_checked"].get<bool>()) << what;
  EXPECT_TRUE(sb["complete"].get<bool>()) << what;
  EXPECT_EQ(sb["mismatches"], 0) << what;
  EXPECT_EQ(sb["checked"], run["weights"]) << what;
  EXPECT_GT(run["weights"].get<double>(), 0) << what;
}

// `--engine both` on a config: both engines clean, the same cycles and stalls (the command exits 1 otherwise).
void expect_engines_agree(const CommandResult& r, const std::string& json_path, const std::string& what) {
  ASSERT_EQ(r.exit_code, 0) << what << "\n" << r.err << r.out;
  const auto j = nlohmann::json::parse(read_text(json_path));
  ASSERT_EQ(j["runs"].size(), 2u) << what;
  EXPECT_EQ(j["runs"][0]["engine"], "tlm");
  EXPECT_EQ(j["runs"][1]["engine"], "rtl");
  for (const auto& run : j["runs"]) expect_clean_run(run, what + " " + run["engine"].get<std::string>());
  EXPECT_EQ(j["runs"][0]["cycles"], j["runs"][1]["cycles"]) << what;
  EXPECT_EQ(j["runs"][0]["stall_cycles"], j["runs"][1]["stall_cycles"]) << what;
}

bool has_prebuilt_variant(const std::string& path, bool traced) {
  const std::vector<std::string> args = sysc::rtl_verilator_parameters(hw::load_hw_config(path));
  for (const auto& v : sysc::rtl_variants()) {
    if (v.traced == traced && sysc::same_rtl_parameters(v.parameters, args)) return true;
  }
  return false;
}

TEST(RtlCache, PrebuiltVariantsAreFoundByTheirConfigsParameters) {
  // The prebuilt variants carry the -G arguments CMake verilated them with (read back from verilate()'s
  // record); find_rtl_variant matches them against rtl_verilator_parameters(), from HwConfig::rtl_parameters().
  // If the two mappings drifted apart the shipped configs below would fall through to the cache.
  for (const auto& v : sysc::rtl_variants()) EXPECT_TRUE(contains(v.parameters, "-GLanes=")) << v.name;
  EXPECT_TRUE(has_prebuilt_variant(hw_path("default"), false));
  EXPECT_TRUE(has_prebuilt_variant(hw_path("default"), true));
  EXPECT_TRUE(has_prebuilt_variant(hw_path("atoms64"), false));
  EXPECT_TRUE(has_prebuilt_variant(hw_path("atoms64"), true));
  EXPECT_TRUE(has_prebuilt_variant(hw_path("small"), false));
  EXPECT_TRUE(has_prebuilt_variant(hw_path("tables8"), false));  // TableBits = 3
  EXPECT_FALSE(has_prebuilt_variant(hw_path("wide"), false));
  EXPECT_FALSE(has_prebuilt_variant(hw_path("default-fp16"), false));
  // Parameters the RTL declares `bit` as 1-bit literals (verilator refuses 32-bit values there).
  const std::vector<std::string> args = sysc::rtl_verilator_parameters(hw::load_hw_config(hw_path("default-fp16")));
  EXPECT_NE(std::find(args.begin(), args.end(), "-GFp16Entries=1'b1"), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), "-GLanes=8"), args.end());
  // tables_per_layer reaches the key as TableBits: the pair's 1, or log2 of the tables.
  EXPECT_NE(std::find(args.begin(), args.end(), "-GTableBits=1"), args.end());
  const std::vector<std::string> t8 = sysc::rtl_verilator_parameters(hw::load_hw_config(hw_path("tables8")));
  EXPECT_NE(std::find(t8.begin(), t8.end(), "-GTableBits=3"), t8.end());
}

TEST(RtlCache, FreshCacheVerilatesOnFirstUseReusesThenRunsEveryShippedConfig) {
  ScratchDir dir;
  const fs::path cache = dir.path() / "rtl-cache";
  ScopedEnv env("SOP_RTL_CACHE", cache.string());

  // 1. Two processes ask for wide.yaml's RTL at once: one verilates (Verilator's runtime too), the other
  // waits for it and reuses the entry; both runs agree with the TLM engine.
  {
    const std::string sop = SOP_EXECUTABLE;
    auto cmd = [&](const std::string& tag) {
      return "'" + sop + "' simulate " + kShapes + " --hw '" + hw_path("wide") + "' --engine both --json '" +
             dir.file(tag + ".json") + "' >'" + dir.file(tag + ".out") + "' 2>'" + dir.file(tag + ".err") + "'";
    };
    const std::string both = "(" + cmd("a") + "; echo $? >'" + dir.file("a.rc") + "') & (" + cmd("b") + "; echo $? >'" +
                             dir.file("b.rc") + "') & wait";
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(std::system(both.c_str()), 0);
    std::printf("wide.yaml, two processes at once on a fresh cache: %.1f s\n", seconds_since(t0));
    int verilated = 0;
    for (const std::string tag : {"a", "b"}) {
      CommandResult r;
      r.exit_code = std::stoi(read_text(dir.file(tag + ".rc")));
      r.out = read_text(dir.file(tag + ".out"));
      r.err = read_text(dir.file(tag + ".err"));
      expect_engines_agree(r, dir.file(tag + ".json"), "wide.yaml, process " + tag);
      if (contains(r.err, "verilating them into the RTL cache")) {
        ++verilated;
        EXPECT_TRUE(contains(r.err, "sop: verilated " + hw_path("wide") + " in ")) << r.err;
        EXPECT_TRUE(contains(r.err, "compiling Verilator's runtime")) << r.err;
      } else {
        EXPECT_TRUE(contains(r.err, "RTL reused from the cache")) << r.err;
      }
      std::printf("process %s:\n%s", tag.c_str(), r.err.c_str());
    }
    EXPECT_EQ(verilated, 1);
  }
  // One entry for the model, one for Verilator's runtime, and no temporary build folder left.
  std::vector<std::string> folders = cache_folders(cache);
  ASSERT_EQ(folders.size(), 2u) << ::testing::PrintToString(folders);
  EXPECT_TRUE(contains(folders[0], "l16_c4_r4_hif_s4m3_i32_p1-")) << folders[0];
  EXPECT_TRUE(contains(folders[1], "verilated-runtime-")) << folders[1];
  const fs::path wide_entry = cache / folders[0];
  EXPECT_TRUE(fs::exists(wide_entry / "libsop_rtl.so"));
  // Built from the sources embedded in `sop`: no command or file of the build names the source tree.
  const std::string log = read_text(wide_entry / "build.log");
  EXPECT_TRUE(contains(log, "-GLanes=16")) << log;
  EXPECT_FALSE(contains(log, SOP_SOURCE_DIR)) << log;
  EXPECT_FALSE(contains(read_text(wide_entry / "key.txt"), SOP_SOURCE_DIR));

  // 2. default-fp16.yaml on a cache that holds Verilator's runtime already: only the model is verilated.
  double first_fp16 = 0;
  {
    const auto t0 = std::chrono::steady_clock::now();
    const CommandResult r = run_sop("simulate " + kShapes + " --hw '" + hw_path("default-fp16") +
                                        "' --engine both --json '" + dir.file("fp16.json") + "'",
                                    dir);
    first_fp16 = seconds_since(t0);
    std::printf("default-fp16.yaml, first use: %.1f s\n%s", first_fp16, r.err.c_str());
    expect_engines_agree(r, dir.file("fp16.json"), "default-fp16.yaml");
    EXPECT_TRUE(contains(r.err, "verilating them into the RTL cache")) << r.err;
    EXPECT_FALSE(contains(r.err, "compiling Verilator's runtime")) << r.err;
  }

  // 3. Second runs reuse the entries, say so, and rebuild nothing.
  const auto wide_lib_time = fs::last_write_time(wide_entry / "libsop_rtl.so");
  for (const std::string name : {"wide", "default-fp16"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const CommandResult r = run_sop("simulate " + kShapes + " --hw '" + hw_path(name) + "' --engine both --json '" +
                                        dir.file(name + "-again.json") + "'",
                                    dir);
    const double s = seconds_since(t0);
    std::printf("%s.yaml, reusing the cache: %.2f s\n", name.c_str(), s);
    expect_engines_agree(r, dir.file(name + "-again.json"), name + ".yaml, again");
    EXPECT_TRUE(contains(r.err, "sop: " + hw_path(name) + ": RTL reused from the cache ")) << r.err;
    EXPECT_FALSE(contains(r.err, "verilating")) << r.err;
    if (name == "default-fp16") {
      EXPECT_LT(s, first_fp16) << "reusing the cache is not faster than verilating";
    }
  }
  EXPECT_EQ(fs::last_write_time(wide_entry / "libsop_rtl.so"), wide_lib_time);
  EXPECT_EQ(cache_folders(cache).size(), 3u);

  // 4. Every config shipped in configs/hw on each engine alone: no mismatch, the same cycles. Those with a
  // prebuilt variant never touch the cache; the others come from it.
  std::vector<fs::path> configs;
  for (const auto& e : fs::directory_iterator(fs::path(SOP_SOURCE_DIR) / "configs" / "hw")) {
    if (e.path().extension() == ".yaml") configs.push_back(e.path());
  }
  std::sort(configs.begin(), configs.end());
  ASSERT_GE(configs.size(), 5u);
  for (const auto& cfg : configs) {
    const std::string name = cfg.stem().string();
    SCOPED_TRACE(cfg.string());
    nlohmann::json runs[2];
    int k = 0;
    for (const std::string engine : {"tlm", "rtl"}) {
      const std::string json_path = dir.file(name + "-" + engine + ".json");
      const CommandResult r = run_sop(
          "simulate " + kShapes + " --hw '" + cfg.string() + "' --engine " + engine + " --json '" + json_path + "'", dir);
      ASSERT_EQ(r.exit_code, 0) << engine << "\n" << r.err << r.out;
      runs[k] = nlohmann::json::parse(read_text(json_path))["runs"][0];
      EXPECT_EQ(runs[k]["engine"], engine);
      expect_clean_run(runs[k], name + " " + engine);
      if (engine == "tlm" || has_prebuilt_variant(cfg.string(), false)) {
        EXPECT_FALSE(contains(r.err, "RTL cache")) << engine << ": " << r.err;
      } else {
        EXPECT_TRUE(contains(r.err, "RTL reused from the cache") || contains(r.err, "sop: verilated ")) << r.err;
      }
      ++k;
    }
    EXPECT_EQ(runs[0]["cycles"], runs[1]["cycles"]);
    EXPECT_EQ(runs[0]["stall_cycles"], runs[1]["stall_cycles"]);
  }

  // 5. A waveform of a config with no prebuilt traced variant: the traced model is verilated too. A small
  // pack (8192 weights) keeps the VCD small.
  {
    const std::string pack = dir.file("tiny.sop"), vcd = dir.file("wide.vcd");
    CommandResult r = run_sop("quantize --model 'synthetic:gaussian?rows=32&cols=256' --recipe '" +
                                  std::string(SOP_SOURCE_DIR) + "/configs/quant/sop-4.5.yaml' --out '" + pack + "'",
                              dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_sop("simulate --pack '" + pack + "' --hw '" + hw_path("wide") + "' --engine both --trace '" + vcd +
                    "' --json '" + dir.file("traced.json") + "'",
                dir);
    expect_engines_agree(r, dir.file("traced.json"), "wide.yaml, traced");
    EXPECT_TRUE(contains(r.err, "-GLanes=16")) << r.err;
    EXPECT_TRUE(contains(r.err, ", traced)")) << r.err;
    const std::string wave = read_text(vcd);
    EXPECT_TRUE(contains(wave, "$enddefinitions")) << wave.substr(0, 500);
    EXPECT_TRUE(contains(wave, "clk_i"));
    bool traced_entry = false;
    for (const auto& f : cache_folders(cache)) traced_entry |= contains(f, "l16_c4_r4_hif_s4m3_i32_p1_trace-");
    EXPECT_TRUE(traced_entry) << ::testing::PrintToString(cache_folders(cache));
  }
  for (const auto& f : cache_folders(cache)) EXPECT_FALSE(contains(f, ".build-")) << f;
}

TEST(RtlCache, MissingVerilatorIsNamedWithWhatToInstall) {
  ScratchDir dir;
  ScopedEnv cache("SOP_RTL_CACHE", dir.file("rtl-cache"));
  const std::string want = hw_path("wide") + ": decode_unit: no prebuilt RTL for these parameters, and `";
  {
    // verilator pointed elsewhere
    ScopedEnv v("SOP_VERILATOR", dir.file("no-such-dir/verilator"));
    const CommandResult r = run_sop("simulate " + kShapes + " --hw '" + hw_path("wide") + "' --engine rtl", dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(contains(r.err, want + dir.file("no-such-dir/verilator") + "` was not found to verilate them")) << r.err;
    EXPECT_TRUE(contains(r.err, "scripts/install-deps.sh")) << r.err;
    EXPECT_TRUE(contains(r.err, "SOP_VERILATOR")) << r.err;
  }
  {
    // no verilator on PATH (sh and sop are run by their full paths)
    ScopedEnv path("PATH", dir.file("empty-bin"));
    const CommandResult r = run_sop("simulate " + kShapes + " --hw '" + hw_path("wide") + "' --engine both", dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(contains(r.err, want + "verilator` was not found to verilate them on PATH")) << r.err;
    EXPECT_TRUE(contains(r.err, "scripts/install-deps.sh")) << r.err;
  }
  {
    // the compiler pointed elsewhere
    ScopedEnv cxx("SOP_RTL_CXX", dir.file("no-such-dir/g++"));
    const CommandResult r = run_sop("simulate " + kShapes + " --hw '" + hw_path("default-fp16") + "' --engine rtl", dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(contains(r.err, hw_path("default-fp16") + ": decode_unit: no prebuilt RTL for these parameters, and the "
                                                           "C++ compiler `" + dir.file("no-such-dir/g++") + "`"))
        << r.err;
    EXPECT_TRUE(contains(r.err, "install g++ (scripts/install-deps.sh)")) << r.err;
  }
  // Nothing was built; a config with a prebuilt variant needs neither.
  for (const auto& f : cache_folders(dir.path() / "rtl-cache")) ADD_FAILURE() << "built " << f;
  ScopedEnv v("SOP_VERILATOR", dir.file("no-such-dir/verilator"));
  const CommandResult r = run_sop("simulate " + kShapes + " --hw '" + hw_path("default") + "' --engine rtl", dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace sop::testing
