// Reader for GGUF (llama.cpp's checkpoint format), versions 2 and 3, little-endian.
//
// Layout: "GGUF", version (u32), tensor count (u64), metadata count (u64); metadata key/value pairs
// (key string, value type u32, value); tensor descriptions (name, rank u32, dims u64 innermost first,
// ggml type u32, data offset u64); padding to general.alignment (default 32); the data section.
// Strings are a u64 length and UTF-8 bytes.
//
// Tensors are listed with shapes outermost first (a GGUF [in, out] "ne" becomes [out, in], the same
// as safetensors). F32, F16, BF16 and F64 tensors are read, and the block types Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q4_K, Q5_K, Q6_K and IQ4_NL are dequantized to FP32 by ggml's block definitions
// (quantizer/io/ggml_types.h). Other quantized types (Q2_K, IQ2_XXS, MXFP4, ...) are listed with
// DType::Quantized and their ggml type name, and read() refuses them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "quantizer/model_reader.h"

namespace sop {

enum class GgufType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

// "uint32", "string", "array", ... as the GGUF specification names them.
const char* gguf_type_name(GgufType type);

// One metadata value: a scalar, a string, or an array of values of one element type.
class GgufValue {
 public:
  // Construction, for the parser and for tests. `type` must match the constructor used.
  static GgufValue unsigned_integer(GgufType type, uint64_t value);  // UInt8..UInt64, Bool
  static GgufValue signed_integer(GgufType type, int64_t value);     // Int8..Int64
  static GgufValue floating(GgufType type, double value);            // Float32, Float64
  static GgufValue string(std::string value);
  static GgufValue array(GgufType element_type, std::vector<GgufValue> items);

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::Array; }
  bool is_string() const { return type_ == GgufType::String; }
  bool is_integer() const;  // any of the eight integer types (not bool)
  bool is_float() const { return type_ == GgufType::Float32 || type_ == GgufType::Float64; }

  // Typed access; each throws sop::Error (naming `key` when given) if the value does not fit.
  // as_uint accepts any non-negative integer, as_int any integer that fits int64, as_float any number.
  const std::string& as_string(const std::string& key = "") const;
  uint64_t as_uint(const std::string& key = "") const;
  int64_t as_int(const std::string& key = "") const;
  double as_float(const std::string& key = "") const;
  bool as_bool(const std::string& key = "") const;

  // Arrays.
  GgufType element_type() const { return element_type_; }
  const std::vector<GgufValue>& items(const std::string& key = "") const;

  // For listings: scalars in full, strings quoted, arrays as "[string x 512] "<unk>", "<s>", ..."
  // with at most `max_items` elements shown.
  std::string to_display(std::size_t max_items = 5) const;

 private:
  // Kept small (32 bytes) because a metadata array holds one GgufValue per element: a uint8 array
  // used to cost over 100x its size in the file. Scalars live in `bits_`; a string's text or an
  // array's items, immutable once read, behind one shared pointer.
  struct Payload;
  GgufType type_ = GgufType::UInt8;
  GgufType element_type_ = GgufType::UInt8;  // arrays only
  uint64_t bits_ = 0;  // UInt*, Bool: the value; Int*: its two's complement; Float*: the double's bits
  std::shared_ptr<const Payload> payload_;  // String, Array
  uint64_t unsigned_value() const { return bits_; }
  int64_t signed_value() const { return static_cast<int64_t>(bits_); }
  double float_value() const;
};

class GgufReader : public ModelReader {
 public:
  // Maps and parses the file's header; throws sop::Error naming the file and the field on any
  // inconsistency (bad magic, unsupported version, lengths or offsets beyond the file, misalignment).
  explicit GgufReader(const std::string& path);

  const std::string& path() const override { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  // Safe to call from several threads at once.
  Tensor read(const std::string& name) const override;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  bool has(const std::string& key) const { return metadata_index_.count(key) != 0; }
  // Throws sop::Error naming the file and key if absent.
  const GgufValue& get(const std::string& key) const;
  // Typed getters: throw sop::Error naming the file and key if absent or of another type.
  std::string get_string(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::vector<GgufValue>& get_array(const std::string& key) const;
  // A string array (the tokenizer's tokens, for example).
  std::vector<std::string> get_string_array(const std::string& key) const;

  // ggml's number for a tensor's stored type (0 = F32, 1 = F16, 2 = Q4_0, ...).
  uint32_t ggml_type(const std::string& tensor_name) const;

 private:
  struct Location {
    uint32_t ggml_type = 0;
    uint64_t offset = 0;  // from the start of the file
    uint64_t bytes = 0;
  };

  detail::MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, std::size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::vector<Location> locations_;  // parallel to tensors_
  std::unordered_map<std::string, std::size_t> tensor_index_;
};

}  // namespace sop
