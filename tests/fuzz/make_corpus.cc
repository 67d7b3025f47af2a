// Writes the synthetic seed files of the fuzz corpora: small valid inputs of every binary reader,
// made with the project's own writers where it has them (synthetic safetensors, packs from
// `sop quantize`'s code path, activation statistics JSON) and byte by byte where it does not (GGUF,
// imatrix, a few safetensors with metadata and unusual dtypes). The YAML seeds are the repository's
// configs, copied by scripts/fuzz.sh --seeds. Usage: sop_fuzz_make_corpus SOURCE_DIR OUT_DIR
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "quantizer/pack/quantize_model.h"
#include "quantizer/recipe.h"
#include "quantizer/sop/activation_stats.h"
#include "quantizer/synthetic.h"

namespace fs = std::filesystem;

namespace {

std::string out_dir;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(out_dir + "/" + target);
  std::ofstream out(out_dir + "/" + target + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + target + "/" + name);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string le(uint64_t v, int bytes) {
  std::string s(static_cast<std::size_t>(bytes), '\0');
  for (int i = 0; i < bytes; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::string safetensors(const std::string& header, const std::string& data) {
  return le(header.size(), 8) + header + data;
}

std::string gguf_string(const std::string& s) { return le(s.size(), 8) + s; }

// A GGUF v3 file: metadata of every scalar type and a string and integer array, an F32 [2, 4]
// tensor, an F16 [4] tensor and a Q4_0 [32] tensor (one block of 18 bytes).
std::string gguf_seed(uint32_t version) {
  std::string b = "GGUF" + le(version, 4) + le(3, 8) + le(9, 8);
  b += gguf_string("general.architecture") + le(8, 4) + gguf_string("llama");
  b += gguf_string("general.alignment") + le(4, 4) + le(32, 4);
  b += gguf_string("llama.block_count") + le(4, 4) + le(1, 4);
  b += gguf_string("u8") + le(0, 4) + le(7, 1);
  b += gguf_string("i64") + le(11, 4) + le(static_cast<uint64_t>(-5), 8);
  b += gguf_string("f32") + le(6, 4) + le(0x3f800000, 4);
  b += gguf_string("flag") + le(7, 4) + le(1, 1);
  b += gguf_string("tokenizer.ggml.tokens") + le(9, 4) + le(8, 4) + le(3, 8) + gguf_string("<unk>") +
       gguf_string("<s>") + gguf_string("a");
  b += gguf_string("tokenizer.ggml.scores") + le(9, 4) + le(6, 4) + le(3, 8) + le(0, 4) + le(0x3f800000, 4) +
       le(0x40000000, 4);
  b += gguf_string("blk.0.attn_q.weight") + le(2, 4) + le(4, 8) + le(2, 8) + le(0, 4) + le(0, 8);
  b += gguf_string("output_norm.weight") + le(1, 4) + le(4, 8) + le(1, 4) + le(32, 8);
  b += gguf_string("token_embd.weight") + le(1, 4) + le(32, 8) + le(2, 4) + le(64, 8);
  b.append((32 - b.size() % 32) % 32, '\0');
  std::string data = f32_bytes({0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f, 0.125f, 3.0f});
  data.append(32 - data.size(), '\0');
  data += le(0x3c00, 2) + le(0xbc00, 2) + le(0x3800, 2) + le(0x4000, 2);  // 1, -1, 0.5, 2 in FP16
  data.append(64 - data.size(), '\0');
  data += le(0x2e66, 2) + std::string(16, '\x5a');  // Q4_0: FP16 scale, 16 bytes of nibbles
  return b + data;
}

// llama.cpp's legacy imatrix: int32 count; per entry int32 name length, name, int32 ncall, int32 nval, floats.
std::string imatrix_seed(const std::vector<std::pair<std::string, std::vector<float>>>& entries, int32_t ncall) {
  std::string b = le(entries.size(), 4);
  for (const auto& [name, values] : entries) {
    b += le(name.size(), 4) + name + le(static_cast<uint32_t>(ncall), 4) + le(values.size(), 4) + f32_bytes(values);
  }
  return b;
}

void pack_seed(const std::string& source_dir, const std::string& spec, const std::string& recipe_file,
               const std::string& name, const std::vector<std::string>& keep = {}) {
  const auto model = sop::open_synthetic(spec);
  sop::Recipe recipe = sop::load_recipe(source_dir + "/configs/quant/" + recipe_file);
  recipe.threads = 1;
  recipe.activation_stats.clear();
  recipe.keep_full_precision = keep;
  sop::QuantizeRequest request;
  request.model_path = spec;
  request.out_path = out_dir + "/pack/" + name;
  request.threads = 1;
  request.created_by = "sop_fuzz_make_corpus";
  fs::create_directories(out_dir + "/pack");
  sop::quantize_model_to_pack(*model, recipe, request);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SOURCE_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string source_dir = argv[1];
  out_dir = argv[2];
  try {
    // safetensors: the project's writer (F32, F16, BF16), and hand-made ones with metadata, an empty
    // tensor, integer and F64 dtypes.
    fs::create_directories(out_dir + "/safetensors");
    sop::write_synthetic_safetensors("synthetic:gaussian?rows=4&cols=8", out_dir + "/safetensors/gaussian-f32.safetensors",
                                     sop::DType::F32);
    sop::write_synthetic_safetensors("synthetic:llm?dim=8&hidden=16&layers=1", out_dir + "/safetensors/llm-f16.safetensors",
                                     sop::DType::F16);
    sop::write_synthetic_safetensors("synthetic:laplace?rows=2&cols=16", out_dir + "/safetensors/laplace-bf16.safetensors",
                                     sop::DType::BF16);
    put("safetensors", "metadata.safetensors",
        safetensors("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                    "\"e\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[16,16]}}",
                    f32_bytes({1, 2, 3, 4})));
    put("safetensors", "dtypes.safetensors",
        safetensors("{\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]},"
                    "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[16,18]}}",
                    le(7, 4) + le(static_cast<uint32_t>(-3), 4) + le(0x3ff0000000000000ull, 8) + std::string("\x01\x00", 2)));

    // Sharded index (the target writes the two shards it names).
    put("safetensors_index", "index.json",
        "{\"metadata\":{\"total_size\":32},\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
        "\"b.weight\":\"model-00002-of-00002.safetensors\"}}\n");
    put("safetensors_index", "one-shard.json", "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\"}}");

    put("gguf", "v3.gguf", gguf_seed(3));
    put("gguf", "v2.gguf", gguf_seed(2));

    // Packs: a budget recipe over a small Llama-shaped model (several layouts, v_proj kept in FP32) and a
    // single-option recipe over one matrix.
    pack_seed(source_dir, "synthetic:llm?dim=32&hidden=64&layers=1", "sop-4.5.yaml", "llm-sop-4.5.soppack", {"v_proj"});
    pack_seed(source_dir, "synthetic:gaussian?rows=4&cols=64", "e2m3-ue4m4.yaml", "gaussian-e2m3.soppack");

    sop::ActivationStats stats;
    stats.channels["model.layers.0.self_attn.q_proj.weight"] = {0.5f, 1.0f, 2.0f, 0.0f};
    stats.channels["w"] = {3.0f};
    fs::create_directories(out_dir + "/activation_json");
    sop::save_activation_stats_json(stats, out_dir + "/activation_json/stats.json");
    put("activation_json", "empty.json", "{\"format\":\"sop-activation-stats\",\"version\":1,\"tensors\":{}}\n");

    put("imatrix", "two.dat", imatrix_seed({{"blk.0.attn_q.weight", {1.0f, 2.0f, 0.5f, 4.0f}}, {"output.weight", {8.0f}}}, 10));
    put("imatrix", "ncall0.dat", imatrix_seed({{"w", {1.0f, 0.0f}}}, 0));

    put("tech_logic_json", "logic_area_osu018.json", read_file(source_dir + "/configs/tech/logic_area_osu018.json"));

    for (const char* spec : {"llm", "gaussian?rows=8&cols=8&seed=3", "llm?dim=16&hidden=32&layers=2&outliers=2",
                             "student-t?rows=2&cols=4&dof=3", "laplace?scale=0.5&rows=1&cols=2", "7b?layers=1"}) {
      std::string name = spec;
      for (char& c : name) {
        if (c == '?' || c == '&' || c == '=') c = '_';
      }
      put("synthetic_spec", name + ".txt", spec);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sop_fuzz_make_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
