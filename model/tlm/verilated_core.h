// The one C++ driver of the verilated sop_decode_unit: a template over the Verilated class (any --cc
// PREFIX, any parameter set) behind RtlCore's pin-level interface. The system model's RTL engine
// instantiates it for the variants of model/tlm/CMakeLists.txt (rtl_models.cc), the regression harness
// (tests/rtl/decode_unit_tb.cc) for its own configuration; all port bit-fiddling lives here.
// Include it only from a target that verilate() compiles: it needs verilated.h and the model's header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "model/golden/decode.h"
#include "model/tlm/rtl_core.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

namespace sop::sysc {

// ---- bit fields of verilated ports: narrow ports are integers, wide ones VlWide arrays of 32-bit words

template <std::size_t N>
uint64_t read_port_bits(const VlWide<N>& w, int lsb, int width) {
  // Two 32-bit words hold any field of up to 33 bits; wider fields take a third.
  const auto word = static_cast<std::size_t>(lsb / 32);
  const int shift = lsb % 32;
  uint64_t v = static_cast<uint64_t>(w[word]) >> shift;
  if (word + 1 < N) v |= static_cast<uint64_t>(w[word + 1]) << (32 - shift);
  if (shift + width > 64 && word + 2 < N) v |= static_cast<uint64_t>(w[word + 2]) << (64 - shift);
  return width >= 64 ? v : (v & ((uint64_t{1} << width) - 1));
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
uint64_t read_port_bits(T w, int lsb, int width) {
  const uint64_t mask = width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  return (static_cast<uint64_t>(w) >> lsb) & mask;
}

template <std::size_t N>
void write_port_bits(VlWide<N>& w, int lsb, int width, uint64_t v) {
  // Word by word (a field of up to 64 bits touches at most three): a beat writes every lane's code.
  for (int done = 0; done < width;) {
    const int b = lsb + done;
    const int shift = b % 32;
    const int n = (32 - shift < width - done) ? 32 - shift : width - done;
    const uint32_t mask = (n == 32 ? ~uint32_t{0} : (uint32_t{1} << n) - 1) << shift;
    auto& word = w[static_cast<std::size_t>(b / 32)];
    word = (word & ~mask) | ((static_cast<uint32_t>(v >> done) << shift) & mask);
    done += n;
  }
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
void write_port_bits(T& w, int lsb, int width, uint64_t v) {
  const uint64_t mask = (width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1) << lsb;
  w = static_cast<T>((static_cast<uint64_t>(w) & ~mask) | ((v << lsb) & mask));
}

// ---- the widths a driver needs, as rtl/sop_decode_unit.sv derives the product widths ------------------

struct RtlPortWidths {
  int lanes;
  int code_bits;
  int table_bits;     // in_sel_i per lane: 2^table_bits tables per slot
  int scale_bits;     // in_scale_i per lane: sign + exponent + mantissa
  int prod_man_bits;  // out_mant_o per lane: entry mantissa + scale mantissa + 1 (two's complement)
  int prod_exp_bits;  // out_exp_o per lane: the wider exponent field + 1
  int exp_offset;     // exp = exp_field - exp_offset (golden::exp_offset of the decode config)
};

inline RtlPortWidths rtl_port_widths(int lanes, int code_bits, int table_bits, bool fp16_entries, bool scale_signed,
                                     int scale_exp_bits, int scale_man_bits, int exp_offset) {
  const int entry_man_bits = fp16_entries ? 12 : golden::kHif.man_bits;
  const int entry_exp_bits = fp16_entries ? 5 : golden::kHif.exp_bits;
  return RtlPortWidths{lanes, code_bits, table_bits, (scale_signed ? 1 : 0) + scale_exp_bits + scale_man_bits,
                       entry_man_bits + scale_man_bits + 1,
                       (entry_exp_bits > scale_exp_bits ? entry_exp_bits : scale_exp_bits) + 1, exp_offset};
}

// ---- the driver ----------------------------------------------------------------------------------------

// Traced: the model was verilated with --trace and open_trace() writes a VCD. Final, so a caller holding
// the concrete type (the regression harness) pays no virtual call per port access.
template <class Model, bool Traced>
class VerilatedCore final : public RtlCore {
 public:
  explicit VerilatedCore(const RtlPortWidths& w) : w_(w), context_(std::make_unique<VerilatedContext>()) {
    if (Traced) context_->traceEverOn(true);
    top_ = std::make_unique<Model>(context_.get());
  }
  ~VerilatedCore() override { close_trace(); }

  void reset() override {
    top_->rst_ni = 0;
    top_->clk_i = 0;
    top_->eval();
    top_->clk_i = 1;
    top_->eval();
    top_->clk_i = 0;
    top_->rst_ni = 1;
    top_->eval();
  }
  // An idle port keeps its data pins as they were: only valid drops.
  void set_load(bool valid, uint32_t slot, uint32_t table, uint32_t index, uint32_t entry) override {
    top_->load_valid_i = valid;
    if (!valid) return;
    top_->load_layer_i = slot;
    top_->load_table_i = table;
    top_->load_index_i = index;
    top_->load_entry_i = entry;
  }
  void set_beat(bool valid, const uint8_t* codes, const uint8_t* tables, const uint32_t* scales, uint32_t slot,
                bool first) override {
    top_->in_valid_i = valid;
    if (!valid) return;
    const uint32_t table_mask = (1u << w_.table_bits) - 1;
    write_lanes(top_->in_codes_i, w_.code_bits, [&](int l) { return codes[l]; });
    write_lanes(top_->in_sel_i, w_.table_bits, [&](int l) { return tables[l] & table_mask; });
    write_lanes(top_->in_scale_i, w_.scale_bits, [&](int l) { return scales[l]; });
    top_->in_layer_i = slot;
    top_->in_first_i = first;
  }
  // A beat within one block: every lane has the same table and scale (the regression's beats).
  void set_beat(bool valid, const uint8_t* codes, uint32_t table, uint32_t scale, uint32_t slot, bool first) {
    top_->in_valid_i = valid;
    if (!valid) return;
    write_lanes(top_->in_codes_i, w_.code_bits, [&](int l) { return codes[l]; });
    write_lanes(top_->in_sel_i, w_.table_bits, [&](int) { return table; });
    write_lanes(top_->in_scale_i, w_.scale_bits, [&](int) { return scale; });
    top_->in_layer_i = slot;
    top_->in_first_i = first;
  }
  // The residual port always shows the next residual (or the sentinel), valid or not: the unit reads it.
  void set_residual(bool valid, uint32_t index, uint32_t entry) override {
    top_->res_valid_i = valid;
    top_->res_index_i = index;
    top_->res_entry_i = entry;
  }
  void set_out_ready(bool ready) override { top_->out_ready_i = ready; }
  void eval_low() override {
    top_->clk_i = 0;
    top_->eval();
    dump();
  }
  bool load_ready() const override { return top_->load_ready_o; }
  bool in_ready() const override { return top_->in_ready_o; }
  bool res_ready() const override { return top_->res_ready_o; }
  bool out_valid() const override { return top_->out_valid_o; }
  void read_out(golden::Product* out) const override {
    for (int l = 0; l < w_.lanes; ++l) {
      const uint64_t raw = read_port_bits(top_->out_mant_o, l * w_.prod_man_bits, w_.prod_man_bits);
      auto mant = static_cast<int64_t>(raw);
      if (raw >> (w_.prod_man_bits - 1)) mant -= int64_t{1} << w_.prod_man_bits;
      const auto exp_field =
          static_cast<uint32_t>(read_port_bits(top_->out_exp_o, l * w_.prod_exp_bits, w_.prod_exp_bits));
      out[l] = golden::Product{mant, static_cast<int>(exp_field) - w_.exp_offset, exp_field};
    }
  }
  void rise() override {
    top_->clk_i = 1;
    top_->eval();
    dump();
  }
  void idle(uint64_t cycles) override {
#if VM_TRACE
    if constexpr (Traced) time_ += 2 * cycles;
#endif
    (void)cycles;
  }
  void final() override {
    top_->final();
    close_trace();
  }
  bool open_trace(const std::string& path) override {
#if VM_TRACE
    if constexpr (Traced) {
      trace_ = std::make_unique<VerilatedVcdC>();
      top_->trace(trace_.get(), 99);
      trace_->open(path.c_str());
      return trace_->isOpen();
    }
#endif
    (void)path;
    return false;
  }

  const RtlPortWidths& widths() const { return w_; }
  // The simulation context, e.g. for writing coverage (builds verilated with --coverage).
  VerilatedContext* context() { return context_.get(); }

 private:
  // Writes lane l's field (width bits) of a per-lane bus; a bus of up to 64 bits is packed in a register and
  // written once (the regression's per-cycle cost), a wider one word by word.
  template <class Port, class Lane>
  void write_lanes(Port& port, int width, Lane lane) {
    if constexpr (std::is_integral_v<Port>) {
      uint64_t packed = 0;
      for (int l = 0; l < w_.lanes; ++l) packed |= static_cast<uint64_t>(lane(l)) << (l * width);
      port = static_cast<Port>(packed);
    } else {
      for (int l = 0; l < w_.lanes; ++l) write_port_bits(port, l * width, width, lane(l));
    }
  }

  void dump() {
#if VM_TRACE
    if constexpr (Traced) {
      if (trace_) trace_->dump(time_);
      time_ += 1;  // one unit per half cycle
    }
#endif
  }
  void close_trace() {
#if VM_TRACE
    if constexpr (Traced) {
      if (trace_) trace_->close();
      trace_.reset();
    }
#endif
  }

  RtlPortWidths w_;
  std::unique_ptr<VerilatedContext> context_;
  std::unique_ptr<Model> top_;
#if VM_TRACE
  std::unique_ptr<VerilatedVcdC> trace_;
  uint64_t time_ = 0;
#endif
};

}  // namespace sop::sysc
