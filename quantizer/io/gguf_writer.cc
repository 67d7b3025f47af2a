#include "quantizer/io/gguf_writer.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "base/atomic_file.h"
#include "base/checked_math.h"
#include "base/error.h"
#include "base/half.h"

namespace sop {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "GGUF is written little-endian; this writer copies host floats and integers directly");

constexpr uint32_t kGgmlF32 = 0;  // ggml type numbers (quantizer/io/ggml_types.h)
constexpr uint32_t kGgmlF16 = 1;
constexpr uint64_t kDefaultAlignment = 32;

// The header is built in memory (metadata and tensor descriptions: a vocabulary of a few MB at most).
class HeaderBytes {
 public:
  void u8(uint64_t v) { put(v, 1); }
  void u16(uint64_t v) { put(v, 2); }
  void u32(uint64_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void string(const std::string& s) {
    u64(s.size());
    bytes_ += s;
  }
  void value(const GgufValue& v, const std::string& key) {
    switch (v.type()) {
      case GgufType::UInt8: u8(v.as_uint(key)); break;
      case GgufType::UInt16: u16(v.as_uint(key)); break;
      case GgufType::UInt32: u32(v.as_uint(key)); break;
      case GgufType::UInt64: u64(v.as_uint(key)); break;
      case GgufType::Int8: u8(static_cast<uint64_t>(v.as_int(key))); break;
      case GgufType::Int16: u16(static_cast<uint64_t>(v.as_int(key))); break;
      case GgufType::Int32: u32(static_cast<uint64_t>(v.as_int(key))); break;
      case GgufType::Int64: u64(static_cast<uint64_t>(v.as_int(key))); break;
      case GgufType::Bool: u8(v.as_bool(key) ? 1 : 0); break;
      case GgufType::Float32: {
        // Read from a float32, so the double holds it exactly and narrowing gives the same bits.
        const float f = static_cast<float>(v.as_float(key));
        uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        u32(bits);
        break;
      }
      case GgufType::Float64: {
        const double d = v.as_float(key);
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        u64(bits);
        break;
      }
      case GgufType::String: string(v.as_string(key)); break;
      case GgufType::Array:
        u32(static_cast<uint32_t>(v.element_type()));
        u64(v.items(key).size());
        // Elements carry no type of their own; a nested array writes its element type and length.
        for (const GgufValue& item : v.items(key)) value(item, key);
        break;
    }
  }
  const std::string& bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  void pad_to(uint64_t alignment) { bytes_.append((alignment - bytes_.size() % alignment) % alignment, '\0'); }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_ += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  std::string bytes_;
};

uint64_t alignment_of(const GgufWriteOptions& options, const std::string& out_path) {
  for (const auto& [key, value] : options.metadata) {
    if (key != "general.alignment") continue;
    if (!value.is_integer()) throw Error(out_path, key, std::string("is ") + gguf_type_name(value.type()) + ", not an integer");
    const uint64_t a = value.as_uint(key);
    if (a == 0 || (a & (a - 1)) != 0) throw Error(out_path, key, std::to_string(a) + " is not a power of two");
    return a;
  }
  return kDefaultAlignment;
}

}  // namespace

uint64_t write_gguf(const ModelReader& model, const std::string& out_path, const GgufWriteOptions& options) {
  if (options.dtype != DType::F32 && options.dtype != DType::F16) {
    throw Error(out_path, "dtype", std::string("cannot write ") + dtype_name(options.dtype) + " to GGUF (F32 or F16)");
  }
  const uint64_t alignment = alignment_of(options, out_path);
  const auto& infos = model.tensors();

  HeaderBytes header;
  header.u32(0x46554747u);  // "GGUF" read as a little-endian u32
  header.u32(3);
  header.u64(infos.size());
  header.u64(options.metadata.size());
  std::set<std::string> keys;
  for (const auto& [key, value] : options.metadata) {
    if (!keys.insert(key).second) throw Error(out_path, key, "metadata key given twice");
    header.string(key);
    header.u32(static_cast<uint32_t>(value.type()));
    header.value(value, key);
  }

  // Every tensor's type and place, decided before any data is read.
  std::vector<uint32_t> types(infos.size());
  std::vector<uint64_t> offsets(infos.size());
  std::set<std::string> names;
  uint64_t data_bytes = 0;
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const TensorInfo& info = infos[i];
    const std::string name = options.rename ? options.rename(info.name) : info.name;
    if (!names.insert(name).second) {
      throw Error(model.path(), info.name, "is written as '" + name + "', a name another tensor already has in " + out_path);
    }
    if (info.shape.size() > 4) throw Error(model.path(), info.name, "has more than GGUF's 4 dimensions");
    types[i] = options.dtype == DType::F16 && info.shape.size() >= 2 ? kGgmlF16 : kGgmlF32;
    uint64_t count = 0, bytes = 0, end = 0, aligned = 0;
    if (!detail::checked_element_count(info.shape.data(), info.shape.size(), &count) ||
        !detail::checked_mul(count, types[i] == kGgmlF16 ? 2 : 4, &bytes) ||
        !detail::checked_align_up(data_bytes, alignment, &aligned) || !detail::checked_add(aligned, bytes, &end)) {
      throw Error(model.path(), info.name, "size overflows 64 bits");
    }
    offsets[i] = aligned;
    data_bytes = end;
    header.string(name);
    header.u32(info.shape.size());
    for (std::size_t d = info.shape.size(); d-- > 0;) header.u64(static_cast<uint64_t>(info.shape[d]));  // innermost first
    header.u32(types[i]);
    header.u64(offsets[i]);
  }
  header.pad_to(alignment);

  AtomicOutputFile out(out_path);
  std::setvbuf(out.file(), nullptr, _IOFBF, 1 << 20);
  out.write(header.bytes().data(), header.size());
  uint64_t written = 0;  // bytes of the data section so far
  const std::string zeros(alignment, '\0');
  std::vector<uint16_t> narrow;
  for (std::size_t i = 0; i < infos.size(); ++i) {
    out.write(zeros.data(), offsets[i] - written);
    written = offsets[i];
    const Tensor tensor = model.read(infos[i].name);
    if (tensor.shape != infos[i].shape || static_cast<int64_t>(tensor.values.size()) != infos[i].element_count()) {
      throw Error(model.path(), infos[i].name, "read() returned a shape other than tensors() listed");
    }
    if (types[i] == kGgmlF32) {
      out.write(tensor.values.data(), tensor.values.size() * sizeof(float));
      written += tensor.values.size() * sizeof(float);
    } else {
      narrow.resize(tensor.values.size());
      for (std::size_t k = 0; k < narrow.size(); ++k) {
        narrow[k] = fp32_to_fp16(tensor.values[k]);
        // FP16 tops out at 65504: a larger weight would become Inf, which llama.cpp would then compute with.
        if ((narrow[k] & 0x7C00u) == 0x7C00u) {
          throw Error(model.path(), infos[i].name,
                      "value " + std::to_string(tensor.values[k]) + " at element " + std::to_string(k) +
                          " does not fit F16; write F32");
        }
      }
      out.write(narrow.data(), narrow.size() * sizeof(uint16_t));
      written += narrow.size() * sizeof(uint16_t);
    }
    if (options.progress) options.progress(i + 1, infos.size(), infos[i].name);
  }
  out.commit();
  return header.size() + written;
}

}  // namespace sop
