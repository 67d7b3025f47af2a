// Errors that name what was wrong and where: the file, and the tensor, key or field inside it.
#pragma once

#include <stdexcept>
#include <string>

namespace sop {

class Error : public std::runtime_error {
 public:
  // where: a file path (or "<synthetic>"); what: the tensor, key or field ("" if none).
  Error(const std::string& where, const std::string& what, const std::string& message)
      : std::runtime_error(compose(where, what, message)), where_(where), what_(what) {}

  const std::string& where() const { return where_; }
  const std::string& field() const { return what_; }

 private:
  static std::string compose(const std::string& where, const std::string& what, const std::string& message) {
    std::string s = where;
    if (!what.empty()) s += (s.empty() ? "" : ": ") + what;
    return s + (s.empty() ? "" : ": ") + message;
  }
  std::string where_;
  std::string what_;
};

}  // namespace sop
