// Helpers for the model-reader tests: a scratch directory, and tiny hand-built safetensors and GGUF
// files (built byte by byte here, so corrupt variants are easy to make).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"

namespace sop::testing {

// A fresh directory under the test temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sop_io_test_XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const char* made = ::mkdtemp(buffer.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

inline std::string le_u64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

inline std::string le_u32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A safetensors file from a literal JSON header and a data section.
inline std::string safetensors_bytes(const std::string& header_json, const std::string& data) {
  return le_u64(header_json.size()) + header_json + data;
}

// Builds a GGUF file piece by piece. Values are appended in call order; finish() pads the tensor
// descriptions to `alignment` and appends the data section.
class GgufBuilder {
 public:
  GgufBuilder& header(uint32_t version, uint64_t tensor_count, uint64_t metadata_count, const char* magic = "GGUF") {
    bytes_ += std::string(magic, 4) + le_u32(version) + le_u64(tensor_count) + le_u64(metadata_count);
    return *this;
  }
  GgufBuilder& string(const std::string& s) {
    bytes_ += le_u64(s.size()) + s;
    return *this;
  }
  GgufBuilder& u8(uint8_t v) {
    bytes_ += static_cast<char>(v);
    return *this;
  }
  GgufBuilder& u16(uint16_t v) {
    bytes_ += le_u32(v).substr(0, 2);
    return *this;
  }
  GgufBuilder& u32(uint32_t v) {
    bytes_ += le_u32(v);
    return *this;
  }
  GgufBuilder& u64(uint64_t v) {
    bytes_ += le_u64(v);
    return *this;
  }
  GgufBuilder& f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return u32(bits);
  }
  GgufBuilder& f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return u64(bits);
  }
  // A key and its value type; the caller appends the value.
  GgufBuilder& key(const std::string& k, uint32_t type) { return string(k).u32(type); }
  GgufBuilder& kv_u32(const std::string& k, uint32_t v) { return key(k, 4).u32(v); }
  GgufBuilder& kv_string(const std::string& k, const std::string& v) { return key(k, 8).string(v); }
  // dims innermost first, as GGUF stores them.
  GgufBuilder& tensor(const std::string& name, std::initializer_list<uint64_t> dims, uint32_t type, uint64_t offset) {
    string(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  GgufBuilder& raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  std::string finish(const std::string& data, std::size_t alignment = 32) {
    std::string out = bytes_;
    if (!data.empty()) {
      out.append((alignment - out.size() % alignment) % alignment, '\0');
      out += data;
    }
    return out;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Runs `action`, requiring a sop::Error whose message contains every one of `needles`.
inline void expect_error(const std::function<void()>& action, const std::vector<std::string>& needles) {
  try {
    action();
    ADD_FAILURE() << "expected sop::Error, nothing was thrown";
  } catch (const sop::Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(message.find(needle), std::string::npos) << "message: " << message << "\nmissing: " << needle;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected sop::Error, got another exception: " << e.what();
  }
}

}  // namespace sop::testing
