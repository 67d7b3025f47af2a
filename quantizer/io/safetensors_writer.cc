#include "quantizer/io/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/checked_math.h"
#include "base/half.h"

namespace sop {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this writer copies host floats directly");

uint64_t element_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    default: return 0;
  }
}

void write_values(AtomicOutputFile& out, const std::vector<float>& values, DType dtype) {
  if (dtype == DType::F32) {
    out.write(values.data(), values.size() * sizeof(float));
    return;
  }
  constexpr std::size_t kChunk = 1 << 16;
  std::vector<uint16_t> narrow(kChunk);
  for (std::size_t start = 0; start < values.size(); start += kChunk) {
    const std::size_t count = std::min(kChunk, values.size() - start);
    for (std::size_t i = 0; i < count; ++i) {
      narrow[i] = dtype == DType::F16 ? fp32_to_fp16(values[start + i]) : fp32_to_bf16(values[start + i]);
    }
    out.write(narrow.data(), count * sizeof(uint16_t));
  }
}

}  // namespace

uint64_t write_safetensors(const ModelReader& model, const std::string& out_path, DType dtype,
                           const std::vector<std::pair<std::string, std::string>>& metadata,
                           const WriteProgress& progress) {
  const uint64_t bytes_per_element = element_size(dtype);
  if (bytes_per_element == 0) {
    throw Error(out_path, "dtype", std::string("cannot write ") + dtype_name(dtype) + " (F32, F16 or BF16)");
  }
  // The header needs every offset up front; tensors() gives the shapes without reading any data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const TensorInfo& info : model.tensors()) {
    uint64_t count = 0;
    uint64_t bytes = 0;
    uint64_t end = 0;
    if (!detail::checked_element_count(info.shape.data(), info.shape.size(), &count) ||
        !detail::checked_mul(count, bytes_per_element, &bytes) || !detail::checked_add(offset, bytes, &end)) {
      throw Error(model.path(), info.name, "size overflows 64 bits");
    }
    header[info.name] = {{"dtype", dtype_name(dtype)}, {"shape", info.shape}, {"data_offsets", nlohmann::ordered_json::array({offset, end})}};
    offset = end;
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as other writers do.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  // This process's temporary beside out_path, fsynced and renamed into place when complete; removed
  // on any failure (base/atomic_file.h).
  AtomicOutputFile out(out_path);
  std::setvbuf(out.file(), nullptr, _IOFBF, 1 << 20);
  uint8_t length_bytes[8];
  uint64_t length = header_text.size();
  for (uint8_t& b : length_bytes) {
    b = static_cast<uint8_t>(length & 0xFF);
    length >>= 8;
  }
  out.write(length_bytes, sizeof length_bytes);
  out.write(header_text.data(), header_text.size());
  const auto& infos = model.tensors();
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const Tensor tensor = model.read(infos[i].name);
    if (tensor.shape != infos[i].shape || static_cast<int64_t>(tensor.values.size()) != infos[i].element_count()) {
      throw Error(model.path(), infos[i].name, "read() returned a shape other than tensors() listed");
    }
    write_values(out, tensor.values, dtype);
    if (progress) progress(i + 1, infos.size(), infos[i].name);
  }
  out.commit();
  return 8 + header_text.size() + offset;
}

}  // namespace sop
