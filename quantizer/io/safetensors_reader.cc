#include "quantizer/io/safetensors_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/checked_math.h"
#include "quantizer/io/tensor_decode.h"
#include "quantizer/io/untrusted_json.h"

namespace sop {

namespace {

using Json = nlohmann::ordered_json;

struct SafetensorsDtype {
  const char* label;
  DType dtype;
  uint64_t bytes;
};

// Every dtype the safetensors format defines with a whole number of bytes per element. Types the
// reader does not convert are still listed so that tensors() describes the whole file.
constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"F32", DType::F32, 4},          {"F16", DType::F16, 2},          {"BF16", DType::BF16, 2},
    {"F64", DType::F64, 8},          {"I8", DType::I8, 1},            {"I16", DType::I16, 2},
    {"I32", DType::I32, 4},          {"I64", DType::I64, 8},          {"U8", DType::U8, 1},
    {"U16", DType::Unknown, 2},      {"U32", DType::Unknown, 4},      {"U64", DType::Unknown, 8},
    {"BOOL", DType::Bool, 1},        {"F8_E4M3", DType::Quantized, 1}, {"F8_E5M2", DType::Quantized, 1},
    {"F8_E8M0", DType::Quantized, 1},
};

const SafetensorsDtype* find_dtype(const std::string& label) {
  for (const auto& d : kSafetensorsDtypes) {
    if (label == d.label) return &d;
  }
  return nullptr;
}

uint64_t load_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Reads a JSON number that must be a non-negative integer; `what` names it for the message.
uint64_t json_unsigned(const Json& value, const std::string& file, const std::string& tensor,
                       const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    throw Error(file, tensor, what + " is negative (" + json_excerpt(value) + ")");
  }
  if (value.is_number_float()) {
    throw Error(file, tensor, what + " is not an integer or overflows 64 bits (" + json_excerpt(value) + ")");
  }
  throw Error(file, tensor, what + " is not a number (" + json_excerpt(value) + ")");
}

// True if a '/'-separated path has a ".." component: a shard must stay inside the index's folder.
bool has_parent_component(const std::string& path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    if (path.compare(start, end - start, "..") == 0) return true;
    start = end + 1;
  }
  return false;
}

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::unique_ptr<SafetensorsReader> SafetensorsReader::open_file(const std::string& path) {
  std::unique_ptr<SafetensorsReader> reader(new SafetensorsReader(path));
  reader->add_shard(path);
  return reader;
}

std::unique_ptr<SafetensorsReader> SafetensorsReader::open_index(const std::string& index_path) {
  std::unique_ptr<SafetensorsReader> reader(new SafetensorsReader(index_path));
  const detail::MappedFile index_file(index_path);
  const auto* index_begin = reinterpret_cast<const char*>(index_file.data());
  const Json index = parse_untrusted_json<Json>(index_begin, index_begin + index_file.size(), index_path, "", "index");
  if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object()) {
    throw Error(index_path, "weight_map", "missing, or not an object mapping tensor names to shard files");
  }
  const Json& weight_map = index.at("weight_map");
  // Shards in the order the index first names them; HF writes them as model-0000k-of-0000n.
  std::vector<std::string> shard_names;
  for (const auto& entry : weight_map.items()) {
    if (!entry.value().is_string()) {
      throw Error(index_path, "weight_map." + entry.key(), "shard file name is not a string");
    }
    const std::string shard = entry.value().get<std::string>();
    if (shard.empty() || shard.front() == '/' || has_parent_component(shard)) {
      throw Error(index_path, "weight_map." + entry.key(),
                  "shard file '" + shard + "' must be a path inside the index's directory (relative, without '..')");
    }
    if (std::find(shard_names.begin(), shard_names.end(), shard) == shard_names.end()) {
      shard_names.push_back(shard);
    }
  }
  if (shard_names.empty()) throw Error(index_path, "weight_map", "lists no tensors");
  const std::string directory = directory_of(index_path);
  for (const auto& shard : shard_names) {
    // A shard's own errors name the shard; the index that listed it is named too, so a missing or
    // broken shard can be traced to the entry that sent the reader there.
    try {
      reader->add_shard(directory + "/" + shard);
    } catch (const Error& e) {
      throw Error(index_path, "weight_map shard '" + shard + "'", e.what());
    }
  }
  // Every tensor the index promises must be in the shard it names.
  for (const auto& entry : weight_map.items()) {
    const std::string expected_shard = directory + "/" + entry.value().get<std::string>();
    const auto found = reader->index_by_name_.find(entry.key());
    if (found == reader->index_by_name_.end()) {
      throw Error(index_path, entry.key(), "listed in weight_map but not found in shard " + expected_shard);
    }
    const std::string& actual_shard = reader->shards_[reader->locations_[found->second].shard].path();
    if (actual_shard != expected_shard) {
      throw Error(index_path, entry.key(),
                  "weight_map names shard " + expected_shard + " but the tensor is in " + actual_shard);
    }
  }
  return reader;
}

void SafetensorsReader::add_shard(const std::string& shard_path) {
  detail::MappedFile file(shard_path);
  const uint64_t file_size = file.size();
  if (file_size < 8) {
    throw Error(shard_path, "header",
                "truncated: the file is " + std::to_string(file_size) +
                    " bytes, too short for the 8-byte header length");
  }
  const uint64_t header_size = load_u64_le(file.data());
  if (header_size > file_size - 8) {
    throw Error(shard_path, "header",
                "header length " + std::to_string(header_size) + " runs beyond the end of the file (" +
                    std::to_string(file_size) + " bytes): truncated or not a safetensors file");
  }
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;

  const auto* header_begin = reinterpret_cast<const char*>(file.data() + 8);
  const Json header = parse_untrusted_json<Json>(header_begin, header_begin + header_size, shard_path, "header",
                                                 "JSON header");
  if (!header.is_object()) throw Error(shard_path, "header", "JSON header is not an object");

  const std::size_t shard_index = shards_.size();
  struct Pending {
    TensorInfo info;
    Location location;
  };
  std::vector<Pending> pending;
  for (const auto& entry : header.items()) {
    const std::string& name = entry.key();
    const Json& spec = entry.value();
    if (name == "__metadata__") {
      if (!spec.is_object()) throw Error(shard_path, name, "is not an object");
      for (const auto& m : spec.items()) {
        metadata_.emplace_back(m.key(), m.value().is_string() ? m.value().get<std::string>() : m.value().dump());
      }
      continue;
    }
    if (!spec.is_object()) throw Error(shard_path, name, "tensor entry is not an object");
    if (!spec.contains("dtype") || !spec["dtype"].is_string()) {
      throw Error(shard_path, name, "missing or non-string \"dtype\"");
    }
    if (!spec.contains("shape") || !spec["shape"].is_array()) {
      throw Error(shard_path, name, "missing or non-array \"shape\"");
    }
    if (!spec.contains("data_offsets") || !spec["data_offsets"].is_array() || spec["data_offsets"].size() != 2) {
      throw Error(shard_path, name, "\"data_offsets\" must be an array [begin, end]");
    }
    const std::string label = spec["dtype"].get<std::string>();
    const SafetensorsDtype* dtype = find_dtype(label);
    if (dtype == nullptr) throw Error(shard_path, name, "unknown dtype \"" + label + "\"");

    TensorInfo info;
    info.name = name;
    info.dtype = dtype->dtype;
    info.dtype_label = label;
    const Json& shape = spec["shape"];
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const uint64_t dim = json_unsigned(shape[i], shard_path, name, "shape[" + std::to_string(i) + "]");
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw Error(shard_path, name, "shape[" + std::to_string(i) + "] = " + std::to_string(dim) + " overflows");
      }
      // The pack format holds no larger dimension; refusing here keeps `sop quantize` from writing a
      // pack (even of an empty tensor such as [0, 2^63-1]) that `sop inspect` then refuses.
      if (dim > detail::kMaxTensorDimension) {
        throw Error(shard_path, name, "shape[" + std::to_string(i) + "] = " + std::to_string(dim) +
                                          " exceeds the limit of 2^48 per dimension");
      }
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t count = 0;
    uint64_t expected_bytes = 0;
    if (!detail::checked_element_count(info.shape.data(), info.shape.size(), &count) ||
        !detail::checked_mul(count, dtype->bytes, &expected_bytes)) {
      throw Error(shard_path, name, "shape " + json_excerpt(shape) + " overflows a 64-bit element or byte count");
    }
    const uint64_t begin = json_unsigned(spec["data_offsets"][0], shard_path, name, "data_offsets[0]");
    const uint64_t end = json_unsigned(spec["data_offsets"][1], shard_path, name, "data_offsets[1]");
    const std::string offsets_text = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
    if (end < begin) throw Error(shard_path, name, offsets_text + " end before begin");
    if (end > data_size) {
      throw Error(shard_path, name,
                  offsets_text + " beyond the data section (" + std::to_string(data_size) + " bytes): truncated file?");
    }
    if (end - begin != expected_bytes) {
      throw Error(shard_path, name,
                  offsets_text + " span " + std::to_string(end - begin) + " bytes but shape " + json_excerpt(shape) +
                      " of " + label + " needs " + std::to_string(expected_bytes));
    }
    if (index_by_name_.count(name)) {
      throw Error(shard_path, name, "tensor also appears in an earlier shard");
    }
    pending.push_back({std::move(info), Location{shard_index, data_start + begin, expected_bytes}});
  }
  // File order is data order; the header's key order breaks ties between empty tensors.
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.location.offset < b.location.offset; });
  for (auto& p : pending) {
    index_by_name_.emplace(p.info.name, tensors_.size());
    tensors_.push_back(std::move(p.info));
    locations_.push_back(p.location);
  }
  shards_.push_back(std::move(file));
}

Tensor SafetensorsReader::read(const std::string& name) const {
  Tensor tensor;
  read_into(name, tensor, 1);
  return tensor;
}

void SafetensorsReader::read_into(const std::string& name, Tensor& out, int threads) const {
  const auto found = index_by_name_.find(name);
  if (found == index_by_name_.end()) throw Error(path_, name, "no such tensor");
  const TensorInfo& info = tensors_[found->second];
  const Location& where = locations_[found->second];
  const detail::MappedFile& file = shards_[where.shard];
  if (!detail::is_convertible_float(info.dtype)) detail::throw_unreadable_dtype(file.path(), info);

  out.name = info.name;
  out.shape = info.shape;
  if (info.dtype == DType::F32) {
    // Copied by pread: nothing of the map is touched (release() would find nothing to drop).
    detail::decode_to_fp32(file.data() + where.offset, info, file.path(), out.values, threads, &file);
    return;
  }
  file.will_read(where.offset, where.bytes);
  detail::decode_to_fp32(file.data() + where.offset, info, file.path(), out.values, threads);
  file.release(where.offset, where.bytes);
}

}  // namespace sop
