// The prebuilt verilated decode-unit variants of the system model behind RtlCore, each made by
// SOP_RTL_VARIANT (model/tlm/verilated_variant.h: a VerilatedCore over its class, the one driver). CMake
// verilates each variant with its own PREFIX and writes rtl_variants.inc: one SOP_RTL_VARIANT(prefix, lanes,
// code_bits, layers, fp16, signed, exp, man, subnormals, index_bits, traced, "verilator -G arguments") line
// per variant, and rtl_variant_headers.inc with their #include lines. Other parameter sets come from the
// RTL cache (model/tlm/rtl_cache.h), through the same header.
#include "model/tlm/verilated_variant.h"

#include "rtl_variant_headers.inc"

namespace sop::sysc {

const std::vector<RtlVariant>& rtl_variants() {
  static const std::vector<RtlVariant> variants = {
#include "rtl_variants.inc"
  };
  return variants;
}

}  // namespace sop::sysc
