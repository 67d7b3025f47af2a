#include "quantizer/io/gguf_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "base/error.h"
#include "base/checked_math.h"
#include "quantizer/io/ggml_types.h"
#include "quantizer/io/tensor_decode.h"

namespace sop {

namespace {

using detail::GgmlType;
using detail::find_ggml_type;

constexpr uint32_t kMaxRank = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;       // arrays of arrays are legal; bound the recursion
// Metadata array elements in the whole file, across all keys (each costs sizeof(GgufValue) = 32 bytes
// in memory, so at most 128 MiB). Real files hold a vocabulary or two: 256 k tokens, scores, types, merges.
constexpr uint64_t kMaxMetadataElements = uint64_t{1} << 22;
// The GGUF specification's bound on a key's length.
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kDefaultAlignment = 32;

// Bounds-checked little-endian reads from the mapping. Every failure names the field being read.
class Cursor {
 public:
  explicit Cursor(const detail::MappedFile& file) : file_(file) {}

  uint64_t position() const { return position_; }
  uint64_t remaining() const { return file_.size() - position_; }

  void need(uint64_t bytes, const std::string& field) const {
    if (bytes > remaining()) {
      throw Error(file_.path(), field,
                  "needs " + std::to_string(bytes) + " bytes at offset " + std::to_string(position_) +
                      " but the file ends at " + std::to_string(file_.size()) + " (truncated?)");
    }
  }

  uint64_t read_uint(unsigned bytes, const std::string& field) {
    need(bytes, field);
    uint64_t value = 0;
    for (unsigned i = bytes; i-- > 0;) value = (value << 8) | file_.data()[position_ + i];
    position_ += bytes;
    return value;
  }
  uint32_t read_u32(const std::string& field) { return static_cast<uint32_t>(read_uint(4, field)); }
  uint64_t read_u64(const std::string& field) { return read_uint(8, field); }

  std::string read_string(const std::string& field) {
    const uint64_t length = read_u64(field + " (string length)");
    if (length > remaining()) {
      throw Error(file_.path(), field,
                  "string length " + std::to_string(length) + " at offset " + std::to_string(position_ - 8) +
                      " runs beyond the end of the file (" + std::to_string(file_.size()) + " bytes)");
    }
    std::string text(reinterpret_cast<const char*>(file_.data() + position_), static_cast<std::size_t>(length));
    position_ += length;
    return text;
  }

 private:
  const detail::MappedFile& file_;
  uint64_t position_ = 0;
};

bool is_known_value_type(uint32_t type) { return type <= static_cast<uint32_t>(GgufType::Float64); }

// Smallest encoding of one array element, to reject counts the file cannot possibly hold before
// allocating anything.
uint64_t minimum_encoded_size(GgufType type) {
  switch (type) {
    case GgufType::UInt8: case GgufType::Int8: case GgufType::Bool: return 1;
    case GgufType::UInt16: case GgufType::Int16: return 2;
    case GgufType::UInt32: case GgufType::Int32: case GgufType::Float32: return 4;
    case GgufType::UInt64: case GgufType::Int64: case GgufType::Float64: return 8;
    case GgufType::String: return 8;
    case GgufType::Array: return 12;
  }
  return 1;
}

float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

double double_from_bits(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

int64_t sign_extend(uint64_t raw, unsigned bytes) {
  const unsigned shift = 64 - 8 * bytes;
  return static_cast<int64_t>(raw << shift) >> shift;
}

// `elements_left` counts down the file's metadata element budget (kMaxMetadataElements).
GgufValue read_value(Cursor& cursor, GgufType type, const std::string& field, const std::string& file,
                     int depth, uint64_t& elements_left) {
  switch (type) {
    case GgufType::UInt8: return GgufValue::unsigned_integer(type, cursor.read_uint(1, field));
    case GgufType::UInt16: return GgufValue::unsigned_integer(type, cursor.read_uint(2, field));
    case GgufType::UInt32: return GgufValue::unsigned_integer(type, cursor.read_uint(4, field));
    case GgufType::UInt64: return GgufValue::unsigned_integer(type, cursor.read_uint(8, field));
    case GgufType::Bool: {
      const uint64_t raw = cursor.read_uint(1, field);
      if (raw > 1) throw Error(file, field, "bool value is " + std::to_string(raw) + ", not 0 or 1");
      return GgufValue::unsigned_integer(type, raw);
    }
    case GgufType::Int8: return GgufValue::signed_integer(type, sign_extend(cursor.read_uint(1, field), 1));
    case GgufType::Int16: return GgufValue::signed_integer(type, sign_extend(cursor.read_uint(2, field), 2));
    case GgufType::Int32: return GgufValue::signed_integer(type, sign_extend(cursor.read_uint(4, field), 4));
    case GgufType::Int64: return GgufValue::signed_integer(type, sign_extend(cursor.read_uint(8, field), 8));
    case GgufType::Float32:
      return GgufValue::floating(type, float_from_bits(static_cast<uint32_t>(cursor.read_uint(4, field))));
    case GgufType::Float64: return GgufValue::floating(type, double_from_bits(cursor.read_uint(8, field)));
    case GgufType::String: return GgufValue::string(cursor.read_string(field));
    case GgufType::Array: {
      if (depth >= kMaxArrayNesting) throw Error(file, field, "arrays nested too deeply");
      const uint32_t element_type = cursor.read_u32(field + " (array element type)");
      if (!is_known_value_type(element_type)) {
        throw Error(file, field, "unknown array element type " + std::to_string(element_type));
      }
      const auto element = static_cast<GgufType>(element_type);
      const uint64_t count = cursor.read_u64(field + " (array length)");
      uint64_t minimum_bytes = 0;
      if (!detail::checked_mul(count, minimum_encoded_size(element), &minimum_bytes) ||
          minimum_bytes > cursor.remaining()) {
        throw Error(file, field,
                    "array of " + std::to_string(count) + " " + gguf_type_name(element) +
                        " values runs beyond the end of the file");
      }
      if (count > elements_left) {
        throw Error(file, field,
                    "array of " + std::to_string(count) + " values exceeds the limit of " +
                        std::to_string(kMaxMetadataElements) + " metadata array elements per file");
      }
      elements_left -= count;
      // count is now bounded by the limit and by the file's size, so reserving it exactly is safe.
      std::vector<GgufValue> items;
      items.reserve(static_cast<std::size_t>(count));
      // Elements share the array's field name: building "key[i]" for each element made a long key
      // with a long array quadratic.
      for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(cursor, element, field, file, depth + 1, elements_left));
      return GgufValue::array(element, std::move(items));
    }
  }
  throw Error(file, field, "unknown value type " + std::to_string(static_cast<uint32_t>(type)));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::UInt8: return "uint8";
    case GgufType::Int8: return "int8";
    case GgufType::UInt16: return "uint16";
    case GgufType::Int16: return "int16";
    case GgufType::UInt32: return "uint32";
    case GgufType::Int32: return "int32";
    case GgufType::Float32: return "float32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::UInt64: return "uint64";
    case GgufType::Int64: return "int64";
    case GgufType::Float64: return "float64";
  }
  return "unknown";
}

// ---- GgufValue ------------------------------------------------------------------------------------

struct GgufValue::Payload {
  std::string text;              // String
  std::vector<GgufValue> items;  // Array
};

GgufValue GgufValue::unsigned_integer(GgufType type, uint64_t value) {
  GgufValue v;
  v.type_ = type;
  v.bits_ = value;
  return v;
}

GgufValue GgufValue::signed_integer(GgufType type, int64_t value) {
  GgufValue v;
  v.type_ = type;
  v.bits_ = static_cast<uint64_t>(value);
  return v;
}

GgufValue GgufValue::floating(GgufType type, double value) {
  GgufValue v;
  v.type_ = type;
  std::memcpy(&v.bits_, &value, sizeof value);
  return v;
}

double GgufValue::float_value() const {
  double d;
  std::memcpy(&d, &bits_, sizeof d);
  return d;
}

GgufValue GgufValue::string(std::string value) {
  GgufValue v;
  v.type_ = GgufType::String;
  v.payload_ = std::make_shared<const Payload>(Payload{std::move(value), {}});
  return v;
}

GgufValue GgufValue::array(GgufType element_type, std::vector<GgufValue> items) {
  GgufValue v;
  v.type_ = GgufType::Array;
  v.element_type_ = element_type;
  v.payload_ = std::make_shared<const Payload>(Payload{{}, std::move(items)});
  return v;
}

bool GgufValue::is_integer() const {
  switch (type_) {
    case GgufType::UInt8: case GgufType::UInt16: case GgufType::UInt32: case GgufType::UInt64:
    case GgufType::Int8: case GgufType::Int16: case GgufType::Int32: case GgufType::Int64:
      return true;
    default:
      return false;
  }
}

namespace {
bool is_unsigned_type(GgufType t) {
  return t == GgufType::UInt8 || t == GgufType::UInt16 || t == GgufType::UInt32 || t == GgufType::UInt64;
}
[[noreturn]] void throw_wrong_type(const std::string& key, GgufType actual, const char* wanted) {
  throw Error("", key.empty() ? "metadata value" : key,
              std::string("is ") + gguf_type_name(actual) + ", not " + wanted);
}
}  // namespace

const std::string& GgufValue::as_string(const std::string& key) const {
  if (type_ != GgufType::String) throw_wrong_type(key, type_, "a string");
  return payload_->text;
}

uint64_t GgufValue::as_uint(const std::string& key) const {
  if (is_unsigned_type(type_)) return unsigned_value();
  if (is_integer()) {
    if (signed_value() < 0) throw_wrong_type(key, type_, "a non-negative integer (it is negative)");
    return static_cast<uint64_t>(signed_value());
  }
  throw_wrong_type(key, type_, "an integer");
}

int64_t GgufValue::as_int(const std::string& key) const {
  if (is_unsigned_type(type_)) {
    if (unsigned_value() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw_wrong_type(key, type_, "an integer that fits int64");
    }
    return static_cast<int64_t>(unsigned_value());
  }
  if (is_integer()) return signed_value();
  throw_wrong_type(key, type_, "an integer");
}

double GgufValue::as_float(const std::string& key) const {
  if (is_float()) return float_value();
  if (is_unsigned_type(type_)) return static_cast<double>(unsigned_value());
  if (is_integer()) return static_cast<double>(signed_value());
  throw_wrong_type(key, type_, "a number");
}

bool GgufValue::as_bool(const std::string& key) const {
  if (type_ != GgufType::Bool) throw_wrong_type(key, type_, "a bool");
  return unsigned_value() != 0;
}

const std::vector<GgufValue>& GgufValue::items(const std::string& key) const {
  if (type_ != GgufType::Array) throw_wrong_type(key, type_, "an array");
  return payload_->items;
}

std::string GgufValue::to_display(std::size_t max_items) const {
  switch (type_) {
    case GgufType::String: {
      std::string quoted = "\"";
      for (char c : payload_->text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
          quoted += '\\';
          quoted += c;
        } else if (c == '\n') {
          quoted += "\\n";
        } else if (byte < 0x20 || byte == 0x7F) {
          static const char hex[] = "0123456789abcdef";
          quoted += "\\x";
          quoted += hex[byte >> 4];
          quoted += hex[byte & 15];
        } else {
          quoted += c;
        }
      }
      return quoted + "\"";
    }
    case GgufType::Bool: return unsigned_value() ? "true" : "false";
    case GgufType::Float32:
    case GgufType::Float64: {
      char text[32];
      std::snprintf(text, sizeof text, "%.9g", float_value());
      return text;
    }
    case GgufType::Array: {
      std::string text = std::string("[") + gguf_type_name(element_type_) + " x " + std::to_string(payload_->items.size()) + "]";
      const std::size_t shown = std::min(payload_->items.size(), max_items);
      for (std::size_t i = 0; i < shown; ++i) text += (i ? ", " : " ") + payload_->items[i].to_display(max_items);
      if (shown < payload_->items.size()) text += ", ...";
      return text;
    }
    default:
      return is_unsigned_type(type_) ? std::to_string(unsigned_value()) : std::to_string(signed_value());
  }
}

// ---- GgufReader -----------------------------------------------------------------------------------

GgufReader::GgufReader(const std::string& path) : file_(path) {
  Cursor cursor(file_);
  cursor.need(4, "magic");
  if (std::memcmp(file_.data(), "GGUF", 4) != 0) {
    throw Error(path, "magic", "not a GGUF file (the first four bytes are not \"GGUF\")");
  }
  cursor.read_u32("magic");
  version_ = cursor.read_u32("version");
  if (version_ != 2 && version_ != 3) {
    std::string message = "unsupported GGUF version " + std::to_string(version_) + " (versions 2 and 3 are read)";
    if ((version_ & 0xFFFFu) == 0 && version_ != 0) message += "; a big-endian GGUF?";
    throw Error(path, "version", message);
  }
  const uint64_t tensor_count = cursor.read_u64("tensor count");
  const uint64_t metadata_count = cursor.read_u64("metadata count");
  // A key/value pair takes at least 13 bytes and a tensor description at least 24; reject counts the
  // file cannot hold before reserving anything.
  uint64_t minimum_bytes = 0;
  if (!detail::checked_mul(metadata_count, 13, &minimum_bytes) || minimum_bytes > cursor.remaining()) {
    throw Error(path, "metadata count", std::to_string(metadata_count) + " entries cannot fit in the file");
  }
  if (!detail::checked_mul(tensor_count, 24, &minimum_bytes) || minimum_bytes > cursor.remaining()) {
    throw Error(path, "tensor count", std::to_string(tensor_count) + " tensors cannot fit in the file");
  }

  metadata_.reserve(static_cast<std::size_t>(metadata_count));
  uint64_t elements_left = kMaxMetadataElements;
  for (uint64_t i = 0; i < metadata_count; ++i) {
    const std::string where = "metadata[" + std::to_string(i) + "]";
    std::string key = cursor.read_string(where + " key");
    if (key.size() > kMaxKeyBytes) {
      throw Error(path, where + " key", "is " + std::to_string(key.size()) + " bytes, over GGUF's limit of " +
                                            std::to_string(kMaxKeyBytes));
    }
    const std::string field = "metadata '" + key + "'";
    const uint32_t type = cursor.read_u32(field + " (value type)");
    if (!is_known_value_type(type)) throw Error(path, field, "unknown value type " + std::to_string(type));
    GgufValue value = read_value(cursor, static_cast<GgufType>(type), field, path, 0, elements_left);
    if (!metadata_index_.emplace(key, metadata_.size()).second) throw Error(path, field, "duplicate key");
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (has("general.alignment")) {
    const GgufValue& value = get("general.alignment");
    if (!value.is_integer()) {
      throw Error(path, "general.alignment", std::string("is ") + gguf_type_name(value.type()) + ", not an integer");
    }
    const uint64_t alignment = value.as_uint("general.alignment");
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      throw Error(path, "general.alignment", std::to_string(alignment) + " is not a power of two");
    }
    alignment_ = alignment;
  } else {
    alignment_ = kDefaultAlignment;
  }

  tensors_.reserve(static_cast<std::size_t>(tensor_count));
  locations_.reserve(static_cast<std::size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo info;
    info.name = cursor.read_string("tensor[" + std::to_string(i) + "] name");
    const std::string field = "tensor '" + info.name + "'";
    const uint32_t rank = cursor.read_u32(field + " (rank)");
    if (rank > kMaxRank) {
      throw Error(path, info.name, "rank " + std::to_string(rank) + " exceeds GGUF's maximum of 4");
    }
    std::vector<int64_t> ne(rank);  // innermost first, as stored
    for (uint32_t d = 0; d < rank; ++d) {
      const uint64_t dim = cursor.read_u64(field + " (dimension " + std::to_string(d) + ")");
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw Error(path, info.name, "dimension " + std::to_string(d) + " = " + std::to_string(dim) + " overflows");
      }
      // As in the safetensors reader: no larger dimension fits a pack file.
      if (dim > detail::kMaxTensorDimension) {
        throw Error(path, info.name, "dimension " + std::to_string(d) + " = " + std::to_string(dim) +
                                         " exceeds the limit of 2^48 per dimension");
      }
      ne[d] = static_cast<int64_t>(dim);
    }
    info.shape.assign(ne.rbegin(), ne.rend());
    const uint32_t type_id = cursor.read_u32(field + " (type)");
    const uint64_t offset = cursor.read_u64(field + " (offset)");
    const GgmlType* type = find_ggml_type(type_id);
    if (type == nullptr) throw Error(path, info.name, "unknown ggml tensor type " + std::to_string(type_id));
    info.dtype = type->dtype;
    info.dtype_label = type->name;

    uint64_t count = 0;
    if (!detail::checked_element_count(info.shape.data(), info.shape.size(), &count)) {
      throw Error(path, info.name, "shape " + shape_text(info.shape) + " overflows a 64-bit element count");
    }
    if (type->block_elements > 1 && (rank == 0 || static_cast<uint64_t>(ne[0]) % type->block_elements != 0)) {
      throw Error(path, info.name,
                  std::string("row length is not a multiple of the ") + type->name + " block of " +
                      std::to_string(type->block_elements));
    }
    uint64_t bytes = 0;
    if (!detail::checked_mul(count / type->block_elements, type->block_bytes, &bytes)) {
      throw Error(path, info.name, "shape " + shape_text(info.shape) + " overflows a 64-bit byte count");
    }
    if (offset % alignment_ != 0) {
      throw Error(path, info.name,
                  "data offset " + std::to_string(offset) + " is not a multiple of the alignment " +
                      std::to_string(alignment_));
    }
    if (!tensor_index_.emplace(info.name, tensors_.size()).second) throw Error(path, info.name, "duplicate tensor name");
    tensors_.push_back(std::move(info));
    locations_.push_back(Location{type_id, offset, bytes});
  }

  uint64_t data_start = 0;
  if (!detail::checked_align_up(cursor.position(), alignment_, &data_start)) {
    throw Error(path, "data section", "start offset overflows");
  }
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    Location& where = locations_[i];
    uint64_t begin = 0;
    uint64_t end = 0;
    if (!detail::checked_add(data_start, where.offset, &begin) || !detail::checked_add(begin, where.bytes, &end) ||
        end > file_.size()) {
      throw Error(path, tensors_[i].name,
                  "data [offset " + std::to_string(where.offset) + ", " + std::to_string(where.bytes) +
                      " bytes] runs beyond the end of the file (data section starts at " + std::to_string(data_start) +
                      ", file is " + std::to_string(file_.size()) + " bytes)");
    }
    where.offset = begin;
  }
  // GGUF stores no byte sizes: a tensor's size follows from its type and shape. A size that does not
  // match the data (a wrong type or shape, or a tensor cut short) shows as one tensor running into the
  // next, or (checked above) past the end of the file.
  std::vector<std::size_t> by_offset(tensors_.size());
  for (std::size_t i = 0; i < by_offset.size(); ++i) by_offset[i] = i;
  std::sort(by_offset.begin(), by_offset.end(),
            [&](std::size_t a, std::size_t b) { return locations_[a].offset < locations_[b].offset; });
  for (std::size_t k = 0; k + 1 < by_offset.size(); ++k) {
    const Location& here = locations_[by_offset[k]];
    const Location& next = locations_[by_offset[k + 1]];
    if (here.bytes != 0 && here.offset + here.bytes > next.offset) {
      const TensorInfo& info = tensors_[by_offset[k]];
      throw Error(path, info.name,
                  info.dtype_label + " " + shape_text(info.shape) + " needs " + std::to_string(here.bytes) +
                      " bytes from file offset " + std::to_string(here.offset) + ", but tensor '" +
                      tensors_[by_offset[k + 1]].name + "' starts at " + std::to_string(next.offset) +
                      ": the type or shape does not match the data");
    }
  }
}

const GgufValue& GgufReader::get(const std::string& key) const {
  const auto found = metadata_index_.find(key);
  if (found == metadata_index_.end()) throw Error(path(), key, "no such metadata key");
  return metadata_[found->second].second;
}

namespace {
// GgufValue's typed access knows the key but not the file; add it.
template <class Access>
auto with_file(const std::string& file, const std::string& key, Access access) -> decltype(access()) {
  try {
    return access();
  } catch (const Error& e) {
    if (!e.where().empty()) throw;
    std::string message = e.what();
    const std::string prefix = e.field() + ": ";  // the value named the key; Error adds it again
    if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
    throw Error(file, key, message);
  }
}
}  // namespace

std::string GgufReader::get_string(const std::string& key) const {
  return with_file(path(), key, [&] { return get(key).as_string(key); });
}
uint64_t GgufReader::get_uint(const std::string& key) const {
  return with_file(path(), key, [&] { return get(key).as_uint(key); });
}
int64_t GgufReader::get_int(const std::string& key) const {
  return with_file(path(), key, [&] { return get(key).as_int(key); });
}
double GgufReader::get_float(const std::string& key) const {
  return with_file(path(), key, [&] { return get(key).as_float(key); });
}
bool GgufReader::get_bool(const std::string& key) const {
  return with_file(path(), key, [&] { return get(key).as_bool(key); });
}
const std::vector<GgufValue>& GgufReader::get_array(const std::string& key) const {
  return with_file(path(), key, [&]() -> const std::vector<GgufValue>& { return get(key).items(key); });
}

std::vector<std::string> GgufReader::get_string_array(const std::string& key) const {
  const GgufValue& value = get(key);
  if (!value.is_array() || value.element_type() != GgufType::String) {
    throw Error(path(), key, std::string("is ") + gguf_type_name(value.type()) + ", not an array of strings");
  }
  std::vector<std::string> strings;
  strings.reserve(value.items().size());
  for (const auto& item : value.items()) strings.push_back(item.as_string(key));
  return strings;
}

uint32_t GgufReader::ggml_type(const std::string& tensor_name) const {
  const auto found = tensor_index_.find(tensor_name);
  if (found == tensor_index_.end()) throw Error(path(), tensor_name, "no such tensor");
  return locations_[found->second].ggml_type;
}

Tensor GgufReader::read(const std::string& name) const {
  const auto found = tensor_index_.find(name);
  if (found == tensor_index_.end()) throw Error(path(), name, "no such tensor");
  const TensorInfo& info = tensors_[found->second];
  const Location& where = locations_[found->second];
  const GgmlType* type = find_ggml_type(where.ggml_type);  // known: the constructor checked it
  const bool block_type = type->dequantize != nullptr;
  if (!block_type && !detail::is_convertible_float(info.dtype)) detail::throw_unreadable_dtype(path(), info);
  Tensor tensor;
  tensor.name = info.name;
  tensor.shape = info.shape;
  file_.will_read(where.offset, where.bytes);
  if (block_type) {
    // The constructor checked that the element count is a whole number of blocks and that their
    // bytes lie inside the file.
    detail::allocate_fp32(info, path(), tensor.values);
    type->dequantize(file_.data() + where.offset, where.bytes / type->block_bytes, tensor.values.data());
    detail::reject_non_finite(tensor.values, info, path());  // an FP16 scale can be Inf or NaN
  } else {
    detail::decode_to_fp32(file_.data() + where.offset, info, path(), tensor.values);
  }
  file_.release(where.offset, where.bytes);
  return tensor;
}

}  // namespace sop
