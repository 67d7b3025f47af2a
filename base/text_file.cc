#include "base/text_file.h"

#include <fstream>

#include "base/error.h"

namespace sop {

std::string read_text_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open the " + what);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(path, "", "cannot read the " + what);
  if (static_cast<uint64_t>(size) > max_bytes) {
    throw Error(path, "", "the " + what + " is " + std::to_string(size) + " bytes, more than the " +
                              std::to_string(max_bytes) + " a file of this kind may have");
  }
  in.seekg(0, std::ios::beg);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (size > 0 && !in.read(text.data(), size)) throw Error(path, "", "cannot read the " + what);
  return text;
}

}  // namespace sop
