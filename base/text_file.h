// Reading a whole text file (a config, a JSON record) with a size bound, so a huge or wrong file is
// refused with its name instead of exhausting memory.
#pragma once

#include <cstdint>
#include <string>

namespace sop {

// Reads a whole file of at most `max_bytes` (configs are small: a larger file is refused, not read).
// Throws sop::Error(path, "", "cannot open the <what>") and friends.
std::string read_text_file(const std::string& path, const std::string& what, uint64_t max_bytes = 16u << 20);

}  // namespace sop
