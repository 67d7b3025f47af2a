#include "base/atomic_file.h"

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "base/error.h"

namespace sop {

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path, "", "cannot create the temporary file " + temp);
    write(out);
    out.flush();
    if (!out) throw Error(path, "", "write failed (disk full?)");
    out.close();
    if (std::rename(temp.c_str(), path.c_str()) != 0) throw Error(path, "", "cannot rename " + temp + " into place");
  } catch (...) {
    std::remove(temp.c_str());
    throw;
  }
}

}  // namespace sop
