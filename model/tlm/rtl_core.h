// The verilated sop_decode_unit behind one C++ interface, whatever its parameters; VerilatedCore
// (model/tlm/verilated_core.h) implements it once, for the system model and the regression alike. The RTL
// is verilated (--cc) at build time once per parameter set listed in model/tlm/CMakeLists.txt, with and
// without --trace; rtl_variants() lists them and find_rtl_variant() picks the one a hardware config needs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/golden/decode.h"

namespace sop::hw {
struct HwConfig;
}

namespace sop::sysc {

// Pin-level access, one clock cycle at a time: drive the inputs, eval_low() (clock low, the
// combinational outputs settle), sample the handshakes, then rise() (the clock edge).
class RtlCore {
 public:
  virtual ~RtlCore() = default;
  virtual void reset() = 0;
  // table: which of the slot's 2^TableBits tables the entry goes to.
  virtual void set_load(bool valid, uint32_t slot, uint32_t table, uint32_t index, uint32_t entry) = 0;
  // A beat: per lane its code, its block's table within the slot (< 2^TableBits) and its block's scale code.
  virtual void set_beat(bool valid, const uint8_t* codes, const uint8_t* tables, const uint32_t* scales, uint32_t slot,
                        bool first) = 0;
  virtual void set_residual(bool valid, uint32_t index, uint32_t entry) = 0;
  virtual void set_out_ready(bool ready) = 0;
  virtual void eval_low() = 0;
  virtual bool load_ready() const = 0;
  virtual bool in_ready() const = 0;
  virtual bool res_ready() const = 0;
  virtual bool out_valid() const = 0;
  // The output beat: lanes products (mant sign-extended, exp_field as the pins carry it).
  virtual void read_out(golden::Product* lanes_out) const = 0;
  virtual void rise() = 0;
  // Cycles skipped without clocking (nothing changes): keeps the waveform's time axis in cycles.
  virtual void idle(uint64_t cycles) = 0;
  virtual void final() = 0;
  // Traced builds only: opens a VCD file; every later half cycle is dumped into it.
  virtual bool open_trace(const std::string& path) = 0;
};

struct RtlVariant {
  const char* name;
  int lanes;
  int code_bits;
  int resident_layers;
  int table_bits;
  bool fp16_entries;
  bool scale_signed;
  int scale_exp_bits;
  int scale_man_bits;
  bool scale_subnormals;
  int index_bits;
  bool traced;
  std::unique_ptr<RtlCore> (*make)(int exp_offset);
  // The verilator -G arguments it was verilated with, space separated (e.g. "-GLanes=8 ... -GFp16Entries=1'b0"):
  // what find_rtl_variant matches against a config's rtl_verilator_parameters() (model/tlm/rtl_cache.h).
  const char* parameters = "";
};

const std::vector<RtlVariant>& rtl_variants();

// ---- the RTL cache (model/tlm/rtl_cache.{h,cc}, docs/simulate.md) --------------------------------------
// A parameter set with no prebuilt variant is verilated on first use into the RTL cache and loaded from it:
// find_rtl_variant() returns prebuilt and cached variants alike.

// The verilator -G arguments of sop_decode_unit for a config: hw.rtl_parameters(), those the RTL declares
// `bit` written as 1'b0 / 1'b1 (verilator refuses a 32-bit value for them), e.g. "-GFp16Entries=1'b0".
std::vector<std::string> rtl_verilator_parameters(const hw::HwConfig& hw);

// True when `parameters` (an RtlVariant's, space separated) holds the same -G arguments as `args`, in any order.
bool same_rtl_parameters(const std::string& parameters, const std::vector<std::string>& args);

// The variant for hw's parameters from the cache: loaded, or verilated first (stderr says which, where, and
// how long verilating took). Throws sop::Error naming hw.source when it cannot be built (no verilator, no
// compiler, a failing step: the message names the step and its log).
const RtlVariant& cached_rtl_variant(const hw::HwConfig& hw, bool traced);

}  // namespace sop::sysc
