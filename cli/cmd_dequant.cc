// sop dequant: a pack file back to weights (through the golden decode), as a safetensors checkpoint
// with the original tensor names, or as a GGUF llama.cpp can load (metadata and tokenizer from a
// source GGUF, tensor names mapped to llama.cpp's), for evaluation in other frameworks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/options.h"
#include "base/error.h"
#include "quantizer/io/gguf_reader.h"
#include "quantizer/io/gguf_writer.h"
#include "quantizer/io/llama_names.h"
#include "quantizer/io/safetensors_writer.h"
#include "quantizer/pack/pack_file.h"
#include "quantizer/pack/pack_model.h"

namespace sop::cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The GGUF whose metadata and tokenizer the output carries: --like, else the pack's source when that
// was a GGUF (and is still where the pack says).
std::string metadata_source(const std::string& like, const std::string& pack_path, const std::string& out_path) {
  if (!like.empty()) return like;
  const std::string source = PackFile::open(pack_path).info().source;
  if (is_gguf_file(source)) return source;
  throw Error(out_path, "--like",
              "a GGUF needs the model's metadata and tokenizer: the pack's source '" + source +
                  "' is not a GGUF file here, so pass --like SRC.gguf (the model's GGUF, e.g. from llama.cpp's converter)");
}

bool is_hf_q_or_k(const std::string& name) {
  return ends_with(name, ".self_attn.q_proj.weight") || ends_with(name, ".self_attn.k_proj.weight");
}

// A model whose Hugging Face q and k matrices come out in llama.cpp's rotary row order
// (llama_cpp_rotary_rows); everything else as the underlying model gives it.
class RotaryReordered : public ModelReader {
 public:
  RotaryReordered(const ModelReader& inner, int64_t heads, int64_t kv_heads)
      : inner_(inner), heads_(heads), kv_heads_(kv_heads) {}
  const std::string& path() const override { return inner_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return inner_.tensors(); }
  Tensor read(const std::string& name) const override {
    Tensor t = inner_.read(name);
    if (is_hf_q_or_k(name)) {
      const int64_t heads = ends_with(name, ".q_proj.weight") ? heads_ : kv_heads_;
      t.values = llama_cpp_rotary_rows(t.values, t.rows(), heads, inner_.path() + ": " + name);
    }
    return t;
  }

 private:
  const ModelReader& inner_;
  int64_t heads_, kv_heads_;
};

}  // namespace

int run_dequant(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string pack_path;
  std::string out_path;
  std::string dtype_text;
  std::string like;
  desc.add_options()
      ("pack", po::value<std::string>(&pack_path)->required(), "pack file written by sop quantize")
      ("out", po::value<std::string>(&out_path)->required(),
       "output file: .safetensors, or .gguf (GGUF v3 for llama.cpp)")
      ("dtype", po::value<std::string>(&dtype_text)->default_value("F32"),
       "stored type: F32 (exact), F16 or BF16 (rounded to nearest even); GGUF: F32 or F16 (1-D tensors stay F32)")
      ("like", po::value<std::string>(&like),
       "GGUF output: copy metadata and tokenizer from this GGUF (default: the pack's source, if a GGUF)")
      ("permute-qk", "GGUF output from a Hugging Face checkpoint in transformers' rotary order: reorder the rows "
                     "of q_proj and k_proj within each head as llama.cpp's converter does (heads from the source GGUF)")
      ("quiet,q", "no progress lines");
  po::variables_map vm;
  if (auto code = parse_options("dequant", "FILE.sop --out W.safetensors|W.gguf [--dtype F32|F16|BF16] [--like SRC.gguf] [--permute-qk]",
                                desc, args, vm, {"pack"})) {
    return *code;
  }
  const bool gguf = ends_with(out_path, ".gguf");
  DType dtype = DType::Unknown;
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    if (dtype_text == dtype_name(d)) dtype = d;
  }
  if (dtype == DType::Unknown || (gguf && dtype == DType::BF16)) {
    std::cerr << "sop dequant: --dtype must be " << (gguf ? "F32 or F16 for GGUF" : "F32, F16 or BF16") << ", not '"
              << dtype_text << "'\n";
    return 2;
  }
  if (!gguf && (!like.empty() || vm.count("permute-qk"))) {
    std::cerr << "sop dequant: --like and --permute-qk apply to GGUF output (--out ending in .gguf)\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto pack = open_pack_as_model(pack_path);  // validates every checksum and field first
  const bool quiet = vm.count("quiet") != 0;
  const WriteProgress progress = [&](std::size_t done, std::size_t total, const std::string& name) {
    if (!quiet) std::cerr << "  [dequant " << done << "/" << total << "] " << name << "\n";
  };
  uint64_t bytes = 0;
  if (gguf) {
    const std::string source_path = metadata_source(like, pack_path, out_path);
    const GgufReader source(source_path);
    GgufWriteOptions options;
    options.dtype = dtype;
    options.progress = progress;
    // Hugging Face names (a pack quantized from safetensors) become llama.cpp's; others stay.
    options.rename = [](const std::string& name) {
      const std::string mapped = llama_cpp_tensor_name(name);
      return mapped.empty() ? name : mapped;
    };
    for (const auto& [key, value] : source.metadata()) {
      // general.file_type describes the tensors' types, which are now F32 (0, ALL_F32) or F16 (1, MOSTLY_F16).
      if (key == "general.file_type") {
        options.metadata.emplace_back(key, GgufValue::unsigned_integer(GgufType::UInt32, dtype == DType::F16 ? 1 : 0));
      } else {
        options.metadata.emplace_back(key, value);
      }
    }
    // The source must describe this model: every tensor both hold has one shape.
    std::map<std::string, const TensorInfo*> in_source;
    for (const TensorInfo& t : source.tensors()) in_source[t.name] = &t;
    for (const TensorInfo& t : pack->tensors()) {
      const auto found = in_source.find(options.rename(t.name));
      if (found != in_source.end() && found->second->shape != t.shape) {
        throw Error(source_path, found->first,
                    "shape " + shape_text(found->second->shape) + " differs from the pack's " + t.name + " " +
                        shape_text(t.shape) + ": --like must be this model's GGUF");
      }
    }
    if (vm.count("permute-qk")) {
      const bool any = std::any_of(pack->tensors().begin(), pack->tensors().end(),
                                   [](const TensorInfo& t) { return is_hf_q_or_k(t.name); });
      if (!any) {
        throw Error(pack_path, "--permute-qk",
                    "the pack holds no Hugging Face q_proj/k_proj tensors (names from a GGUF are in llama.cpp's order already)");
      }
      const int64_t heads = static_cast<int64_t>(source.get_uint("llama.attention.head_count"));
      const int64_t kv_heads = source.has("llama.attention.head_count_kv")
                                   ? static_cast<int64_t>(source.get_uint("llama.attention.head_count_kv"))
                                   : heads;
      bytes = write_gguf(RotaryReordered(*pack, heads, kv_heads), out_path, options);
    } else {
      bytes = write_gguf(*pack, out_path, options);
    }
    std::cout << "metadata (" << options.metadata.size() << " keys) from " << source_path << "\n";
  } else {
    bytes = write_safetensors(*pack, out_path, dtype,
                              {{"format", "pt"}, {"source", pack_path}, {"produced_by", "sop dequant"}}, progress);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << out_path << ": " << pack->tensors().size() << " tensors, " << bytes << " bytes ("
            << dtype_name(dtype) << ") in " << std::setprecision(3) << seconds << " s\n";
  return 0;
}

}  // namespace sop::cli
