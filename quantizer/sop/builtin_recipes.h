// The recipes of configs/quant/ that the built-in SOP budget formats are made from, embedded in the
// program at build time (quantizer/CMakeLists.txt) so that `sop` needs no source tree at run time.
#pragma once

#include <vector>

namespace sop {

struct BuiltinRecipe {
  const char* path;  // as in the source tree, "configs/quant/sop-4.5.yaml"
  const char* text;  // the file's YAML
};

const std::vector<BuiltinRecipe>& builtin_recipes();

}  // namespace sop
