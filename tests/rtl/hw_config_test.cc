// Hardware configuration loading: the committed configs load, and every kind of mistake is rejected with
// an error naming the file and the key.
#include "model/hw/hw_config.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "sim/area.h"

namespace sop::sim {
namespace {

using hw::HwConfig;
using hw::load_hw_config;
using hw::parse_hw_config;

std::string error_of(const std::string& yaml) {
  try {
    parse_hw_config(yaml, "test.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HwConfig, CommittedConfigsLoad) {
  for (const char* name : {"default", "default-fp16", "small", "atoms64", "wide", "hbm3"}) {
    const HwConfig c = load_hw_config(std::string(SOP_SOURCE_DIR) + "/configs/hw/" + name + ".yaml");
    EXPECT_EQ(c.name, name);
    EXPECT_GT(c.lut_bits(), 0);
  }
  const HwConfig d = load_hw_config(std::string(SOP_SOURCE_DIR) + "/configs/hw/default.yaml");
  EXPECT_EQ(d.decode_unit.lanes, 8);
  EXPECT_EQ(d.lut_bits(), 2L * 2 * 16 * 11);
  EXPECT_EQ(d.decode_config().scale.bits(), 8);
  const HwConfig f = load_hw_config(std::string(SOP_SOURCE_DIR) + "/configs/hw/default-fp16.yaml");
  EXPECT_EQ(f.lut_bits(), 2L * 2 * 16 * 16);
  const HwConfig a = load_hw_config(std::string(SOP_SOURCE_DIR) + "/configs/hw/atoms64.yaml");
  EXPECT_EQ(a.code_bits(), 6);
}

TEST(HwConfig, DefaultsFillMissingKeys) {
  const HwConfig c = parse_hw_config("decode_unit: {lanes: 4}\n", "x.yaml");
  EXPECT_EQ(c.decode_unit.lanes, 4);
  EXPECT_EQ(c.decode_unit.lut.entries_per_table, 16);
  EXPECT_EQ(c.decode_unit.lut.resident_layers, 2);
  EXPECT_EQ(c.decode_unit.pipeline_stages, 1);
}

TEST(HwConfig, PipelineStagesReachTheRtlParameters) {
  // The key becomes PipeStages, for verilator -G (the RTL engine and its cache) and yosys chparam alike.
  auto stages_of = [](const HwConfig& c) {
    for (const auto& [k, v] : c.rtl_parameters()) {
      if (k == "PipeStages") return v;
    }
    return std::string("(none)");
  };
  EXPECT_EQ(stages_of(parse_hw_config("decode_unit: {}\n", "x.yaml")), "1");
  const HwConfig c = parse_hw_config("decode_unit: {lanes: 64, pipeline_stages: 3}\n", "x.yaml");
  EXPECT_EQ(c.decode_unit.pipeline_stages, 3);
  EXPECT_EQ(stages_of(c), "3");
}

TEST(HwConfig, TablesPerLayerReachTheRtlParametersAndTheLutSize) {
  // tables_per_layer becomes TableBits = log2 (verilator -G, yosys chparam, the RTL cache's key).
  for (const auto& [tables, bits] : {std::pair<int, const char*>{2, "1"}, {4, "2"}, {8, "3"}, {16, "4"}}) {
    const HwConfig c =
        parse_hw_config("decode_unit: {lut: {tables_per_layer: " + std::to_string(tables) + "}}\n", "x.yaml");
    std::string got = "(none)";
    for (const auto& [k, v] : c.rtl_parameters()) {
      if (k == "TableBits") got = v;
    }
    EXPECT_EQ(got, bits) << tables;
    EXPECT_EQ(c.lut_bits(), 2L * tables * 16 * 11) << tables;
    EXPECT_EQ(unit_formats(c).tables_per_slot, tables);
  }
}

TEST(HwConfig, RejectsMistakesNamingFileAndKey) {
  struct Case {
    const char* yaml;
    const char* must_contain;
  } cases[] = {
      {"decode_unit: {lanes: 8, lane: 4}\n", "test.yaml: decode_unit.lane: unknown key"},
      {"decode_unit: {lanes: eight}\n", "test.yaml: decode_unit.lanes: expected an integer, got 'eight'"},
      {"decode_unit: {lanes: 0}\n", "decode_unit.lanes: 0 is out of range"},
      {"decode_unit: {lanes: 8.5}\n", "decode_unit.lanes: expected an integer"},
      {"decode_unit: {lut: {entries_per_table: 32}}\n", "decode_unit.lut.entries_per_table: must be 16"},
      {"decode_unit: {lut: {tables_per_layer: 3}}\n", "test.yaml: decode_unit.lut.tables_per_layer: must be a power of two, 2..16"},
      {"decode_unit: {lut: {tables_per_layer: 12}}\n", "test.yaml: decode_unit.lut.tables_per_layer: must be a power of two"},
      {"decode_unit: {lut: {tables_per_layer: 32}}\n", "test.yaml: decode_unit.lut.tables_per_layer: 32 is out of range"},
      {"decode_unit: {lut: {tables_per_layer: 1}}\n", "test.yaml: decode_unit.lut.tables_per_layer: 1 is out of range"},
      {"decode_unit: {lut: {entry_format: bf16}}\n", "decode_unit.lut.entry_format: must be hif or fp16"},
      {"decode_unit: {lut: {banks: 2}}\n", "decode_unit.lut.banks: only 1"},
      {"decode_unit: {lut: 4}\n", "decode_unit.lut: expected a mapping"},
      {"decode_unit: {scale: {signed: maybe}}\n", "decode_unit.scale.signed: expected true or false"},
      {"decode_unit: {scale: {exp_bits: 9}}\n", "decode_unit.scale.exp_bits"},
      {"decode_unit: {index_bits: 40}\n", "decode_unit.index_bits: 40 is out of range"},
      {"decode_unit: {lanes: 8, index_bits: 8}\n", "test.yaml: decode_unit.index_bits: 8 is too narrow for 8 lanes (at least 10)"},
      {"decode_unit: {pipeline_stages: 0}\n", "test.yaml: decode_unit.pipeline_stages: 0 is out of range"},
      {"decode_unit: {pipeline_stages: 4}\n", "test.yaml: decode_unit.pipeline_stages: 4 is out of range"},
      {"decode_unit: {pipeline_stages: two}\n", "test.yaml: decode_unit.pipeline_stages: expected an integer"},
      {"clock_mhz: fast\ndecode_unit: {}\n", "test.yaml: clock_mhz: expected a number"},
      {"clock_mhz: 0\ndecode_unit: {}\n", "test.yaml: clock_mhz: 0 is out of range [0.001, 1e+06] (line 1)"},
      {"clock_mhz: .inf\ndecode_unit: {}\n", "test.yaml: clock_mhz: must be a finite number, got '.inf' (line 1)"},
      {"decode_unit: {}\ndram: {bandwidth_gb_s: .nan}\n", "test.yaml: dram.bandwidth_gb_s: must be a finite number"},
      {"schema_version: 2\ndecode_unit: {}\n", "test.yaml: schema_version: version 2 is not supported"},
      {"decode_unit: {}\n[a, b]: 1\n", "test.yaml: <top level>: a key is not a plain string (line 2)"},
      {"decode_unit:\n  lanes: 8\n  lut: {entries: 4}\n", "test.yaml: decode_unit.lut.entries: unknown key (known here: entries_per_table"},
      {"decode_unit: {}\ndram: {bandwidth: 3}\n", "dram.bandwidth: unknown key"},
      {"decode_unit: {}\ndram: {burst_bytes: 0}\n", "dram.burst_bytes: 0 is out of range"},
      {"decode_unit: {}\ndram: {burst_bytes: 8192}\n", "decode_unit.fetch.request_bytes: smaller than one DRAM burst"},
      {"decode_unit: {fetch: {request_bytes: 32}}\n", "decode_unit.fetch.request_bytes: smaller than one DRAM burst"},
      {"decode_unit: {fetch: {outstanding: many}}\n", "decode_unit.fetch.outstanding: expected an integer"},
      {"decode_unit: {fetch: {depth: 2}}\n", "decode_unit.fetch.depth: unknown key"},
      {"decode_unit: {}\nconsumer: {weights_per_cycle: -1}\n", "consumer.weights_per_cycle: -1 is out of range [0, "},
      {"decode_unit: {lanes: 16}\nconsumer: {buffer_weights: 8}\n", "consumer.buffer_weights: 8 cannot hold one beat"},
      {"decode_unit: {}\nconsumer: {rate: 8}\n", "consumer.rate: unknown key"},
      {"decode_unit: {}\npolicy: {prefetch_next_layer: sometimes}\n", "policy.prefetch_next_layer: expected true or false"},
      {"decode_unit: {}\npolicy: {prefetch: true}\n", "policy.prefetch: unknown key"},
      {"lanes: 8\n", "test.yaml: lanes: unknown key"},
      {"name: x\n", "test.yaml: decode_unit: missing"},
      {"decode_unit: [1, 2\n", "test.yaml: not valid YAML"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(c.yaml);
    EXPECT_NE(e.find(c.must_contain), std::string::npos) << c.yaml << " gave: " << e;
  }
}

TEST(HwConfig, SystemModelSections) {
  const HwConfig c = parse_hw_config(
      "decode_unit: {lanes: 8, fetch: {request_bytes: 2048, outstanding: 2}}\n"
      "dram: {bandwidth_gb_s: 4, latency_ns: 100, burst_bytes: 64}\n"
      "consumer: {weights_per_cycle: 6, buffer_weights: 32}\npolicy: {prefetch_next_layer: false}\n",
      "x.yaml");
  EXPECT_EQ(c.decode_unit.fetch.request_bytes, 2048);
  EXPECT_EQ(c.decode_unit.fetch.outstanding, 2);
  EXPECT_EQ(c.dram.burst_bytes, 64);
  EXPECT_DOUBLE_EQ(c.consumer.weights_per_cycle, 6.0);
  EXPECT_EQ(c.consumer.buffer_weights, 32);
  EXPECT_FALSE(c.policy.prefetch_next_layer);
  const HwConfig d = parse_hw_config("decode_unit: {}\n", "x.yaml");
  EXPECT_EQ(d.decode_unit.fetch.request_bytes, 4096);
  EXPECT_DOUBLE_EQ(d.consumer.weights_per_cycle, 0.0);
  EXPECT_TRUE(d.policy.prefetch_next_layer);
}

TEST(HwConfig, MissingFileIsNamed) {
  try {
    load_hw_config("/nonexistent/hw.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/hw.yaml"), std::string::npos);
  }
}

TEST(HwConfig, AreaScriptCarriesTheRtlParameters) {
  const HwConfig c = parse_hw_config(
      "decode_unit: {lanes: 4, pipeline_stages: 2, lut: {entries_per_table: 64, entry_format: fp16}}\n", "x.yaml");
  const std::string s = area_script(c, default_rtl_dir(), "/lib.lib", "/stat.txt");
  for (const char* p : {"-chparam Lanes 4", "-chparam CodeBits 6", "-chparam Fp16Entries 1", "-chparam PipeStages 2",
                        "stat -liberty /lib.lib",
                        "select -assert-none t:$dlatch"}) {
    EXPECT_NE(s.find(p), std::string::npos) << p;
  }
}

// ---- the RTL file list (rtl/sop_decode_unit.f) as `sop area` reads it --------------------------------

// A scratch rtl/ directory holding the given files, removed with the object.
using Files = std::vector<std::pair<std::string, std::string>>;  // name, text

class ScratchRtlDir {
 public:
  explicit ScratchRtlDir(const Files& files) {
    char tmpl[] = "/tmp/sop-rtl-list-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    for (const auto& [name, text] : files) {
      std::ofstream(dir_ + "/" + name) << text;
      names_.push_back(name);
    }
  }
  ~ScratchRtlDir() {
    for (const auto& name : names_) std::remove((dir_ + "/" + name).c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::string> names_;
};

std::string area_script_error(const std::string& rtl_dir) {
  try {
    area_script(parse_hw_config("decode_unit: {}\n", "x.yaml"), rtl_dir, "/lib.lib", "/stat.txt");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RtlFileList, AreaScriptReadsTheSourcesInListedOrder) {
  // Not the real names, in an order no hard-coded list would have: the script must follow the file.
  const ScratchRtlDir rtl(Files{{"sop_decode_unit.f", "// the sources\n# in compile order\n\n  top.sv  // last\npkg.sv"},
                           {"top.sv", ""},
                           {"pkg.sv", ""}});
  const std::string s = area_script(parse_hw_config("decode_unit: {}\n", "x.yaml"), rtl.path(), "/lib.lib", "/stat.txt");
  EXPECT_NE(s.find("read_verilog -sv " + rtl.path() + "/top.sv " + rtl.path() + "/pkg.sv\n"), std::string::npos) << s;
}

TEST(RtlFileList, TheSourceTreeListsEveryRtlModule) {
  const std::string s = area_script(parse_hw_config("decode_unit: {}\n", "x.yaml"), default_rtl_dir(), "/lib.lib", "/stat.txt");
  const std::string rtl = default_rtl_dir();
  EXPECT_NE(s.find("read_verilog -sv " + rtl + "/sop_decode_pkg.sv " + rtl + "/sop_lut.sv " + rtl +
                   "/sop_lane_mul.sv " + rtl + "/sop_decode_unit.sv\n"),
            std::string::npos)
      << s;
}

TEST(RtlFileList, MissingListIsRefusedNamingIt) {
  const ScratchRtlDir rtl(Files{{"sop_decode_unit.sv", ""}});
  const std::string e = area_script_error(rtl.path());
  EXPECT_NE(e.find(rtl.path() + "/sop_decode_unit.f"), std::string::npos) << e;
  EXPECT_NE(e.find("not found"), std::string::npos) << e;
}

TEST(RtlFileList, EmptyListIsRefusedNamingIt) {
  for (const char* text : {"", "// only comments\n#\n   \n"}) {
    const ScratchRtlDir rtl(Files{{"sop_decode_unit.f", text}});
    const std::string e = area_script_error(rtl.path());
    EXPECT_NE(e.find(rtl.path() + "/sop_decode_unit.f"), std::string::npos) << e;
    EXPECT_NE(e.find("names no source"), std::string::npos) << e;
  }
}

TEST(RtlFileList, ListedSourceThatIsMissingIsNamed) {
  const ScratchRtlDir rtl(Files{{"sop_decode_unit.f", "pkg.sv\ngone.sv\n"}, {"pkg.sv", ""}});
  const std::string e = area_script_error(rtl.path());
  EXPECT_NE(e.find(rtl.path() + "/gone.sv"), std::string::npos) << e;
}

TEST(RtlFileList, SynthesizeAreaRefusesAMissingListBeforeRunningYosys) {
  const ScratchRtlDir rtl(Files{{"liberty.lib", "library (x) {}\n"}});
  AreaOptions options;
  options.rtl_dir = rtl.path();
  options.liberty = rtl.path() + "/liberty.lib";
  options.yosys = "false";  // a yosys run would fail with a different message
  try {
    synthesize_area(parse_hw_config("decode_unit: {}\n", "x.yaml"), options);
    FAIL() << "an rtl directory without sop_decode_unit.f was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(rtl.path() + "/sop_decode_unit.f"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sop::sim

namespace sop::sim {
namespace {

TEST(MemoryPresets, BuiltInTextIsTheCommittedFile) {
  std::ifstream f(std::string(SOP_SOURCE_DIR) + "/configs/tech/memory.yaml");
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, hw::memory_presets_text());
}

TEST(MemoryPresets, FillTheDramKeysAndKeysBesideOverride) {
  // HBM3: 6.4 Gb/s x 1024 bits / 8 = 819.2 GB/s over 32 pseudo-channels of 25.6 GB/s.
  const HwConfig c = parse_hw_config("decode_unit: {lanes: 8}\ndram: {preset: hbm3}\n", "x.yaml");
  EXPECT_EQ(c.dram.preset, "hbm3");
  EXPECT_EQ(c.dram.channels, 32);
  EXPECT_DOUBLE_EQ(c.dram.bandwidth_gb_s, 819.2);
  EXPECT_DOUBLE_EQ(c.dram.channel_gb_s(), 25.6);
  EXPECT_GT(c.dram.energy_pj_per_bit, 0);
  EXPECT_NE(c.dram.energy_source.find("O'Connor"), std::string::npos);
  // DDR4-3200: 3200 MT/s x 64 bits / 8.
  const HwConfig d = parse_hw_config("decode_unit: {lanes: 8}\ndram: {preset: ddr4-3200, latency_ns: 55}\n", "x.yaml");
  EXPECT_DOUBLE_EQ(d.dram.bandwidth_gb_s, 25.6);
  EXPECT_DOUBLE_EQ(d.dram.latency_ns, 55);
  // LPDDR5-6400 x64: 4 channels of 6400 MT/s x 16 bits / 8 = 12.8 GB/s.
  const HwConfig l = parse_hw_config("decode_unit: {lanes: 8}\ndram: {preset: lpddr5-6400-x64}\n", "x.yaml");
  EXPECT_DOUBLE_EQ(l.dram.channel_gb_s(), 12.8);
  // Every preset names where its energy comes from.
  for (const auto& [name, row] : hw::memory_presets()) {
    EXPECT_FALSE(row.energy_source.empty()) << name;
    EXPECT_GT(row.energy_pj_per_bit, 0) << name;
  }
}

TEST(MemoryPresets, MistakesNameTheKey) {
  EXPECT_NE(error_of("decode_unit: {lanes: 8}\ndram: {preset: hbm9}\n").find("dram.preset"), std::string::npos);
  EXPECT_NE(error_of("decode_unit: {lanes: 8}\ndram: {preset: hbm9}\n").find("known: ddr3-narrow"), std::string::npos);
  EXPECT_NE(error_of("decode_unit: {lanes: 8}\ndram: {energy_pj_per_bit: 3}\n").find("dram.energy_source"),
            std::string::npos);
  EXPECT_NE(error_of("decode_unit: {lanes: 8}\ndram: {channels: 0}\n").find("dram.channels"), std::string::npos);
  EXPECT_NE(error_of("decode_unit: {lanes: 8}\ndram: {queue_depth: 0}\n").find("dram.queue_depth"), std::string::npos);
  EXPECT_NE(error_of("units: 0\ndecode_unit: {lanes: 8}\n").find("units"), std::string::npos);
  EXPECT_NE(error_of("decode_unit: {lanes: 8, lut: {sharing: some}}\n").find("decode_unit.lut.sharing"),
            std::string::npos);
  const HwConfig c = parse_hw_config("units: 4\ndecode_unit: {lanes: 8, lut: {sharing: shared}}\n", "x.yaml");
  EXPECT_EQ(c.units, 4);
  EXPECT_TRUE(c.decode_unit.lut.shared);
}

}  // namespace
}  // namespace sop::sim
