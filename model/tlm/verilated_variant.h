// The RtlVariant of one Verilated class: its parameters and a factory for a VerilatedCore over it. The one
// way a variant is made, for the prebuilt variants (rtl_models.cc, from model/tlm/CMakeLists.txt) and for
// the library the RTL cache builds for any other parameter set (rtl_cache.cc generates a file that includes
// this header; the cache embeds it, with its includes, into the `sop` binary).
// Include it only from a target that verilates the unit: it needs verilated.h and the model's header.
#pragma once

#include <memory>

#include "model/tlm/rtl_core.h"
#include "model/tlm/verilated_core.h"

namespace sop::sysc {

template <class Model, bool Traced, int Lanes, int CodeBits, int TableBits, bool Fp16, bool ScaleSigned,
          int ScaleExpBits, int ScaleManBits>
std::unique_ptr<RtlCore> make_verilated_core(int exp_offset) {
  return std::make_unique<VerilatedCore<Model, Traced>>(
      rtl_port_widths(Lanes, CodeBits, TableBits, Fp16, ScaleSigned, ScaleExpBits, ScaleManBits, exp_offset));
}

}  // namespace sop::sysc

// An RtlVariant initializer. parameters: the verilator -G arguments the model was verilated with, space
// separated (find_rtl_variant compares them with rtl_verilator_parameters() of a config).
#define SOP_RTL_VARIANT(prefix, lanes, code_bits, layers, table_bits, fp16, ssign, sexp, sman, ssub, index_bits, traced, \
                        parameters)                                                                                     \
  ::sop::sysc::RtlVariant {                                                                                             \
    #prefix, lanes, code_bits, layers, table_bits, (fp16) != 0, (ssign) != 0, sexp, sman, (ssub) != 0, index_bits,       \
        (traced) != 0,                                                                                                  \
        &::sop::sysc::make_verilated_core<prefix, (traced) != 0, lanes, code_bits, table_bits, (fp16) != 0, (ssign) != 0, \
                                          sexp, sman>,                                                                  \
        parameters                                                                                                      \
  }
