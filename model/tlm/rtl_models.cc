// The verilated decode-unit variants of the system model behind RtlCore, each driven by the one driver
// VerilatedCore (model/tlm/verilated_core.h). CMake verilates each variant with its own PREFIX and writes
// rtl_variants.inc: one SOP_RTL_VARIANT(prefix, lanes, code_bits, layers, fp16, signed, exp, man,
// subnormals, index_bits, traced) line per variant, and rtl_variant_headers.inc with their #include lines.
#include "model/tlm/rtl_core.h"
#include "model/tlm/verilated_core.h"

#include "rtl_variant_headers.inc"

namespace sop::sysc {

const std::vector<RtlVariant>& rtl_variants() {
#define SOP_RTL_VARIANT(prefix, lanes, code_bits, layers, fp16, ssign, sexp, sman, ssub, index_bits, traced)       \
  RtlVariant{#prefix, lanes, code_bits, layers, fp16 != 0, ssign != 0, sexp, sman, ssub != 0, index_bits, traced != 0, \
             [](int exp_offset) -> std::unique_ptr<RtlCore> {                                                         \
               return std::make_unique<VerilatedCore<prefix, traced != 0>>(                                           \
                   rtl_port_widths(lanes, code_bits, fp16 != 0, ssign != 0, sexp, sman, exp_offset));                      \
             }},
  static const std::vector<RtlVariant> variants = {
#include "rtl_variants.inc"
  };
#undef SOP_RTL_VARIANT
  return variants;
}

}  // namespace sop::sysc
