// Reader for Hugging Face safetensors checkpoints: one file, or shards listed by a
// model.safetensors.index.json. The files are memory-mapped; read() converts one tensor.
//
// Layout of a file: 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the header),
// an optional "__metadata__" object of strings, then the data section.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "quantizer/model_reader.h"

namespace sop {

class SafetensorsReader : public ModelReader {
 public:
  // A single .safetensors file.
  static std::unique_ptr<SafetensorsReader> open_file(const std::string& path);
  // A sharded checkpoint: the index names each tensor's shard, relative to the index's directory.
  static std::unique_ptr<SafetensorsReader> open_index(const std::string& index_path);

  const std::string& path() const override { return path_; }
  // Shard by shard (in the order the index first names them), each in data-offset order.
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  // Safe to call from several threads at once.
  Tensor read(const std::string& name) const override;
  void read_into(const std::string& name, Tensor& out, int threads) const override;

  std::size_t shard_count() const { return shards_.size(); }
  const std::string& shard_path(std::size_t shard) const { return shards_.at(shard).path(); }
  // The "__metadata__" entries of every shard (string values as written, others as JSON text).
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

 private:
  explicit SafetensorsReader(std::string path) : path_(std::move(path)) {}
  void add_shard(const std::string& shard_path);

  struct Location {
    std::size_t shard = 0;
    uint64_t offset = 0;  // from the start of the shard file
    uint64_t bytes = 0;
  };

  std::string path_;
  std::vector<detail::MappedFile> shards_;
  std::vector<TensorInfo> tensors_;
  std::vector<Location> locations_;  // parallel to tensors_
  std::unordered_map<std::string, std::size_t> index_by_name_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace sop
