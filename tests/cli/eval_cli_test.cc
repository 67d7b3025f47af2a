// `sop eval`, `sop formats`, `sop demo` and `--help` through the real binary.
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"

namespace sop::testing {
namespace {

TEST(EvalCli, WritesTheDocumentedJson) {
  ScratchDir dir;
  const std::string json_path = dir.file("eval.json");
  const CommandResult r =
      run_sop("eval --model 'synthetic:gaussian?rows=64&cols=128' --format E2M3sUE4M4,E4M3-POT --json '" + json_path + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_text(json_path));
  EXPECT_EQ(j["model"], "synthetic:gaussian?rows=64&cols=128");
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& row : j["results"]) {
    for (const char* key : {"tensor", "format", "bpw", "sqnr_db", "rel_mse", "cosine"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    // SQNR and relative MSE are two views of one number.
    EXPECT_NEAR(row["sqnr_db"].get<double>(), -10 * std::log10(row["rel_mse"].get<double>()), 1e-9);
  }
  EXPECT_EQ(j["results"][0]["format"], "E2M3sUE4M4");
  // 64 x 128 weights: 6 bits each, 8 blocks of 16 per row with an 8-bit scale, one FP32 factor.
  EXPECT_DOUBLE_EQ(j["results"][0]["bpw"].get<double>(), (64.0 * 128 * 6 + 64 * 8 * 8 + 32) / (64.0 * 128));
  EXPECT_DOUBLE_EQ(j["results"][1]["bpw"].get<double>(), (64.0 * 128 * 8 + 8) / (64.0 * 128));
  EXPECT_NE(r.out.find("E2M3sUE4M4"), std::string::npos);
}

// llama.cpp's Q4_0 file of stories260K against its F32 original, with the original as GGUF (same
// names) and as safetensors (Hugging Face names, mapped); the per-tensor SQNRs must agree.
TEST(EvalCli, QuantizedGgufAgainstItsReference) {
  SOP_REQUIRE_MODEL(q4, "stories260K-Q4_0.gguf");
  SOP_REQUIRE_MODEL(f32, "stories260K.gguf");
  SOP_REQUIRE_MODEL(st, "stories260K.safetensors");
  ScratchDir dir;
  std::map<std::string, double> sqnr_by_tensor;
  for (const std::string& reference : {f32, st}) {
    const std::string json_path = dir.file("ref.json");
    const CommandResult r = run_sop("eval --model '" + q4 + "' --reference '" + reference + "' --json '" + json_path + "'", dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(read_text(json_path));
    EXPECT_EQ(j["reference"], reference);
    // 2-D tensors: token_embd, output and 7 matrices in each of 5 layers.
    ASSERT_EQ(j["results"].size(), 37u);
    std::map<std::string, nlohmann::json> summary;
    for (const auto& s : j["summary"]) summary[s["format"].get<std::string>()] = s;
    ASSERT_EQ(summary.size(), 3u) << j["summary"].dump();
    EXPECT_EQ(summary["Q4_0"]["tensors"], 31);
    EXPECT_DOUBLE_EQ(summary["Q4_0"]["bpw"].get<double>(), 4.5);   // 18 bytes per 32 weights
    EXPECT_DOUBLE_EQ(summary["Q8_0"]["bpw"].get<double>(), 8.5);   // 34 bytes per 32
    EXPECT_DOUBLE_EQ(summary["F16"]["bpw"].get<double>(), 16.0);
    EXPECT_GT(summary["Q4_0"]["mean_sqnr_db"].get<double>(), 20);  // 20.4 to 22.8 dB per tensor
    EXPECT_LT(summary["Q4_0"]["mean_sqnr_db"].get<double>(), 23);
    EXPECT_GT(summary["Q8_0"]["mean_sqnr_db"].get<double>(), 38);
    for (const auto& row : j["results"]) {
      const std::string name = row["tensor"];
      const double sqnr = row["sqnr_db"];
      if (sqnr_by_tensor.count(name)) {
        EXPECT_DOUBLE_EQ(sqnr, sqnr_by_tensor[name]) << name << " against " << reference;
      } else {
        sqnr_by_tensor[name] = sqnr;
      }
    }
    EXPECT_NE(r.out.find("blk.0.attn_q.weight"), std::string::npos);
  }
  // sop info lists every tensor's stored type.
  const CommandResult info = run_sop("info '" + q4 + "'", dir);
  ASSERT_EQ(info.exit_code, 0) << info.err;
  for (const char* type : {"Q4_0", "Q8_0", "F16", "F32"}) EXPECT_NE(info.out.find(type), std::string::npos) << type;
  // A reference without the tensor, or of another shape, is an error naming both.
  const CommandResult r = run_sop("eval --model '" + q4 + "' --reference 'synthetic:gaussian?rows=64&cols=64'", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("output.weight"), std::string::npos) << r.err;
  const CommandResult both = run_sop("eval --model '" + q4 + "' --reference '" + f32 + "' --format Q4_0", dir);
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("--reference"), std::string::npos) << both.err;
}

// --downstream --text: the shipped held-out story, cut into llama-perplexity's chunks; llama.cpp's
// Q4_0 file against its original, and sop's own formats against the original.
TEST(EvalCli, DownstreamOnAGivenText) {
  SOP_REQUIRE_MODEL(q4, "stories260K-Q4_0.gguf");
  SOP_REQUIRE_MODEL(f32, "stories260K.gguf");
  ScratchDir dir;
  const std::string text = std::string(SOP_SOURCE_DIR) + "/tests/data/heldout-story.txt";
  const std::string json_path = dir.file("d.json");
  CommandResult r = run_sop("eval --model '" + q4 + "' --reference '" + f32 + "' --summary-only --downstream --text '" + text +
                                "' --ctx 128 --json '" + json_path + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(read_text(json_path));
  // 1514 tokens: 11 chunks of 128, positions 64..126 (63) of each scored.
  EXPECT_EQ(j["downstream"]["positions"], 11 * 63);
  EXPECT_GT(j["downstream"]["kl_divergence"].get<double>(), 0.01);
  EXPECT_LT(j["downstream"]["kl_divergence"].get<double>(), 0.3);
  EXPECT_GT(j["downstream"]["kl_standard_error"].get<double>(), 0);
  EXPECT_GT(j["downstream"]["quantized_ppl"].get<double>(), j["downstream"]["reference_ppl"].get<double>());
  r = run_sop("eval --model '" + f32 + "' --format Q4_0,E2M3sUE4M4 --summary-only --downstream --text '" + text +
                  "' --ctx 64 --chunks 3 --json '" + json_path + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(read_text(json_path));
  ASSERT_EQ(j["downstream"].size(), 2u);
  EXPECT_EQ(j["downstream"][0]["positions"], 3 * 31);  // positions 32..62 of 3 chunks of 64
  EXPECT_EQ(j["downstream"][1]["format"], "E2M3sUE4M4");
  // FP6 moves the predictions less than 4-bit Q4_0.
  EXPECT_LT(j["downstream"][1]["kl_divergence"].get<double>(), j["downstream"][0]["kl_divergence"].get<double>());
  r = run_sop("eval --model '" + f32 + "' --format Q4_0 --downstream --text '" + text + "' --ctx 100000", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("heldout-story.txt: --ctx"), std::string::npos) << r.err;
}

TEST(EvalCli, UnknownFormatFailsWithoutOutput) {
  ScratchDir dir;
  const std::string json_path = dir.file("eval.json");
  const CommandResult r = run_sop("eval --model synthetic:gaussian --format E2M3sBOGUS --json '" + json_path + "'", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("E2M3sBOGUS"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(json_path));
}

TEST(EvalCli, MissingModelAndBadOptionsFailClearly) {
  ScratchDir dir;
  CommandResult r = run_sop("eval --model /nonexistent/model.safetensors", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/model.safetensors"), std::string::npos) << r.err;
  r = run_sop("eval", dir);  // --model is required
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("model"), std::string::npos) << r.err;
  r = run_sop("eval --model synthetic:gaussian --no-such-option", dir);
  EXPECT_EQ(r.exit_code, 2);
  r = run_sop("no-such-command", dir);
  EXPECT_EQ(r.exit_code, 2);
}

TEST(EvalCli, TruncatedCheckpointFailsNamingTheFile) {
  SOP_REQUIRE_MODEL(model, "stories260K.safetensors");
  ScratchDir dir;
  const std::string truncated = dir.file("truncated.safetensors");
  {
    const std::string bytes = read_text(model);
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const std::string json_path = dir.file("eval.json");
  const CommandResult r = run_sop("eval --model '" + truncated + "' --json '" + json_path + "'", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated.safetensors"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(json_path));
}

TEST(EvalCli, EveryCommandHasHelp) {
  ScratchDir dir;
  const CommandResult top = run_sop("--help", dir);
  ASSERT_EQ(top.exit_code, 0);
  for (const char* cmd : {"eval", "formats", "demo", "bench", "info"}) {
    EXPECT_NE(top.out.find(cmd), std::string::npos) << cmd;
    const CommandResult r = run_sop(std::string(cmd) + " --help", dir);
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("usage: sop"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST(EvalCli, FormatsListsTheHeadlineFormats) {
  ScratchDir dir;
  const CommandResult r = run_sop("formats", dir);
  ASSERT_EQ(r.exit_code, 0);
  for (const char* name : {"UE4M4", "E2M3", "E8M0", "E2M3sUE4M4", "E4M3-POT"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  }
}

TEST(DemoCli, RunsThePipelineOnTheDefaultModel) {
  ScratchDir dir;
  const CommandResult r = run_sop("demo --out '" + dir.file("demo") + "'", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("FP6 block-scaled wins"), std::string::npos) << r.out;
  const auto eval = nlohmann::json::parse(read_text(dir.file("demo/eval.json")));
  EXPECT_EQ(eval["model"], "synthetic:llm");
  // The SOP recipe's pack: bpw within its 4.5 budget.
  EXPECT_TRUE(std::filesystem::exists(dir.file("demo/model.sop")));
  EXPECT_LE(eval["summary"][2]["bpw"].get<double>(), 4.5 + 1e-9);
  // Both engines decoded every weight of the pack and the scoreboard found no mismatch.
  const auto sim = nlohmann::json::parse(read_text(dir.file("demo/simulate.json")));
  ASSERT_EQ(sim.size(), 2u);
  for (const auto& run : sim) {
    EXPECT_EQ(run["mismatches"], 0) << run["engine"];
    EXPECT_EQ(run["checked"], run["weights"]) << run["engine"];
    EXPECT_GT(run["weights"].get<uint64_t>(), 3000000u);
  }
  const auto est = nlohmann::json::parse(read_text(dir.file("demo/estimate.json")));
  EXPECT_GT(est["estimate"]["pj_per_weight"].get<double>(), 0.0);
  const std::string html = read_text(dir.file("demo/sweep/report.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace sop::testing
