// The verilated decode-unit variants behind RtlCore. CMake verilates each variant with its own PREFIX
// and writes rtl_variants.inc: one SOP_RTL_VARIANT(prefix, lanes, code_bits, layers, fp16, signed,
// exp, man, subnormals, index_bits, traced) line per variant, and rtl_variant_headers.inc with their
// #include lines.
#include <type_traits>

#include "model/tlm/rtl_core.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

#include "rtl_variant_headers.inc"

namespace sop::sysc {
namespace {

// Bit fields of verilated ports: narrow ports are integers, wide ones VlWide word arrays.
template <std::size_t N>
uint64_t read_bits(const VlWide<N>& w, int lsb, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) {
    const int b = lsb + i;
    v |= static_cast<uint64_t>((w[static_cast<std::size_t>(b / 32)] >> (b % 32)) & 1u) << i;
  }
  return v;
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
uint64_t read_bits(T w, int lsb, int width) {
  const uint64_t mask = width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  return (static_cast<uint64_t>(w) >> lsb) & mask;
}

template <std::size_t N>
void write_bits(VlWide<N>& w, int lsb, int width, uint64_t v) {
  for (int i = 0; i < width; ++i) {
    const int b = lsb + i;
    auto& word = w[static_cast<std::size_t>(b / 32)];
    const uint32_t bit = 1u << (b % 32);
    word = ((v >> i) & 1u) ? (word | bit) : (word & ~bit);
  }
}
template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
void write_bits(T& w, int lsb, int width, uint64_t v) {
  const uint64_t mask = (width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1) << lsb;
  w = static_cast<T>((static_cast<uint64_t>(w) & ~mask) | ((v << lsb) & mask));
}

struct Widths {
  int lanes;
  int code_bits;
  int prod_man_bits;
  int prod_exp_bits;
  int exp_offset;
};

template <class Model, bool Traced>
class VerilatedCore final : public RtlCore {
 public:
  explicit VerilatedCore(const Widths& w) : w_(w), context_(std::make_unique<VerilatedContext>()) {
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
  void set_load(bool valid, uint32_t slot, bool table, uint32_t index, uint32_t entry) override {
    top_->load_valid_i = valid;
    if (!valid) return;
    top_->load_layer_i = slot;
    top_->load_table_i = table;
    top_->load_index_i = index;
    top_->load_entry_i = entry;
  }
  void set_beat(bool valid, const uint8_t* codes, bool select, uint32_t scale, uint32_t slot, bool first) override {
    top_->in_valid_i = valid;
    if (!valid) return;
    for (int l = 0; l < w_.lanes; ++l) write_bits(top_->in_codes_i, l * w_.code_bits, w_.code_bits, codes[l]);
    top_->in_sel_i = select;
    top_->in_scale_i = scale;
    top_->in_layer_i = slot;
    top_->in_first_i = first;
  }
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
  bool in_ready() const override { return top_->in_ready_o; }
  bool res_ready() const override { return top_->res_ready_o; }
  bool out_valid() const override { return top_->out_valid_o; }
  void read_out(golden::Product* out) const override {
    for (int l = 0; l < w_.lanes; ++l) {
      const uint64_t raw = read_bits(top_->out_mant_o, l * w_.prod_man_bits, w_.prod_man_bits);
      auto mant = static_cast<int64_t>(raw);
      if (raw >> (w_.prod_man_bits - 1)) mant -= int64_t{1} << w_.prod_man_bits;
      const auto exp_field = static_cast<uint32_t>(read_bits(top_->out_exp_o, l * w_.prod_exp_bits, w_.prod_exp_bits));
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

 private:
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

  Widths w_;
  std::unique_ptr<VerilatedContext> context_;
  std::unique_ptr<Model> top_;
#if VM_TRACE
  std::unique_ptr<VerilatedVcdC> trace_;
  uint64_t time_ = 0;
#endif
};

// Product widths as rtl/sop_decode_unit.sv derives them.
Widths widths_of(int lanes, int code_bits, bool fp16, int scale_exp, int scale_man, int exp_offset) {
  const int eman = fp16 ? 12 : golden::kHif.man_bits;
  const int eexp = fp16 ? 5 : golden::kHif.exp_bits;
  return Widths{lanes, code_bits, eman + scale_man + 1, (eexp > scale_exp ? eexp : scale_exp) + 1, exp_offset};
}

}  // namespace

const std::vector<RtlVariant>& rtl_variants() {
#define SOP_RTL_VARIANT(prefix, lanes, code_bits, layers, fp16, ssign, sexp, sman, ssub, index_bits, traced)       \
  RtlVariant{#prefix, lanes, code_bits, layers, fp16 != 0, ssign != 0, sexp, sman, ssub != 0, index_bits, traced != 0, \
             [](int exp_offset) -> std::unique_ptr<RtlCore> {                                                         \
               return std::make_unique<VerilatedCore<prefix, traced != 0>>(                                           \
                   widths_of(lanes, code_bits, fp16 != 0, sexp, sman, exp_offset));                                   \
             }},
  static const std::vector<RtlVariant> variants = {
#include "rtl_variants.inc"
  };
#undef SOP_RTL_VARIANT
  return variants;
}

}  // namespace sop::sysc
