#include "quantizer/weight_format.h"

#include <functional>

#include "quantizer/block_fp.h"
#include "base/error.h"
#include "model/golden/formats.h"
#if __has_include("quantizer/sop/sop_formats.h")
#include "quantizer/sop/sop_formats.h"
#define SOP_HAVE_METHOD_FORMATS 1
#endif

namespace sop {
namespace {

struct FixedFormatRow {
  const char* name;
  const char* description;
  std::function<std::unique_ptr<WeightFormat>()> make;
  double bpw;
};

// Formats with fixed names. Block-scaled names ("<ELEMENT>s<SCALE>[@gN]") are parsed, so any pair
// from `sop formats` works; the rows below are the ones worth listing.
std::vector<FixedFormatRow> fixed_formats() {
  return {
      {"E4M3-POT", "FP8 E4M3 elements, one power-of-two scale per tensor (the paper's FP8 baseline)",
       [] { return std::make_unique<PowerOfTwoTensorFormat>("E4M3-POT", number_format("E4M3")); }, 8.0},
      {"E5M2-POT", "FP8 E5M2 elements, one power-of-two scale per tensor",
       [] { return std::make_unique<PowerOfTwoTensorFormat>("E5M2-POT", number_format("E5M2")); }, 8.0},
  };
}

const char* const kListedBlockFormats[] = {
    "E2M3sUE4M4", "E2M3sUE4M4@g32", "E3M2sUE4M4", "E2M1sUE4M4", "E2M1sUE4M3", "E4M3sUE4M4",
    "E2M3sE8M0@g32", "E2M1sE8M0@g32", "INT4sFP16@g32", "INT8sFP16@g32",
};

}  // namespace

QuantOptions options_for_tensor(const QuantOptions& model_options, const std::string& tensor, int64_t cols) {
  QuantOptions o = model_options;
  if (o.tensor_importance) {
    auto it = o.tensor_importance->find(tensor);
    if (it != o.tensor_importance->end() && static_cast<int64_t>(it->second.size()) == cols) {
      o.channel_importance = it->second;
    } else {
      o.channel_importance.clear();
    }
  }
  return o;
}

std::unique_ptr<WeightFormat> make_weight_format(const std::string& name) {
  for (const auto& row : fixed_formats()) {
    if (name == row.name) return row.make();
  }
#ifdef SOP_HAVE_METHOD_FORMATS
  if (auto f = make_sop_method_format(name)) return f;
#endif
  if (auto f = parse_block_scaled_name(name)) return f;
  throw Error("format", name, "unknown weight format (sop formats lists them)");
}

std::vector<WeightFormatListing> list_weight_formats() {
  std::vector<WeightFormatListing> out;
  for (const auto& row : fixed_formats()) out.push_back({row.name, row.description, row.bpw});
  for (const char* name : kListedBlockFormats) {
    auto f = parse_block_scaled_name(name);
    const auto* block = dynamic_cast<const BlockScaledFormat*>(f.get());
    out.push_back({name, "block-scaled: elements s(caled by) block scale, block 16 unless @gN",
                   block ? block->nominal_bpw() : 0.0});
  }
#ifdef SOP_HAVE_METHOD_FORMATS
  for (auto& listing : sop_method_format_listings()) out.push_back(std::move(listing));
#endif
  return out;
}

}  // namespace sop
