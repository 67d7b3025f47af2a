// The RTL cache: the verilated sop_decode_unit for a hardware config that has no prebuilt variant
// (model/tlm/CMakeLists.txt), verilated on first use into a cache folder and loaded from it (dlopen) ever
// after. docs/simulate.md ("The RTL cache") describes the folder, the key and how to clear it.
//
// An entry is one shared library built from the RTL sources, the file list and the driver headers embedded
// in `sop` at build time (so a built `sop` needs no source tree): verilator with the flags of the prebuilt
// variants and the config's -G arguments, then this build's compiler and flags; the library holds a generated
// file that makes its RtlVariant through SOP_RTL_VARIANT (verilated_variant.h), a VerilatedCore like the
// prebuilt ones. Verilator's runtime is compiled once into an entry of its own and linked into each library.
// An entry is built in a temporary folder and renamed into place under a lock file, so processes verilating
// the same parameters at once build it once and never see a partial entry.
//
// Environment: SOP_RTL_CACHE (the folder), SOP_VERILATOR (the verilator executable), SOP_RTL_CXX (the
// compiler; default: the one that built `sop`), SOP_RTL_JOBS (parallel compiles; default: hardware threads).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/hw/hw_config.h"
#include "model/tlm/rtl_core.h"

namespace sop::sysc {

// rtl_verilator_parameters, same_rtl_parameters and cached_rtl_variant: rtl_core.h.

// The cache folder: $SOP_RTL_CACHE, else $XDG_CACHE_HOME/sop/rtl, else $HOME/.cache/sop/rtl.
std::string rtl_cache_dir();

namespace rtl_cache_detail {

// The files embedded at build time (model/tlm/embed_rtl_sources.cmake): the RTL sources in compile order
// (rtl/<name>), the file list, then the headers (under their path in the tree).
struct EmbeddedFile {
  const char* path;
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace rtl_cache_detail

}  // namespace sop::sysc
