// Writing output files so that a failure never leaves a partial file behind: write to a temporary
// file beside the target, flush, then rename over it.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace sop {

// Calls write(stream) on a temporary file next to `path` and renames it to `path` if write returns
// normally and the stream is still good. On any failure the temporary file is removed and a
// sop::Error naming `path` is thrown (or the writer's exception is rethrown).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace sop
