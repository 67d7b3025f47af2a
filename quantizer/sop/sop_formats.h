// The SOP method's weight formats, for the registry in quantizer/weight_format.cc:
//  - single-layer SOP formats ("SOP-pair@g16", ...): the pair search at one layout for every matrix;
//  - whole-model budgets ("SOP-4.5", "SOP-5.0", "SOP-6.5"): plan() builds each layer's option menu
//    and solves the multiple-choice knapsack; quantize() returns the chosen option;
//  - the anchors (NF4, IQ4_NL, Q4_0, NVFP4, MXFP4, BOF4-S), see anchors.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "quantizer/weight_format.h"

namespace sop {

std::vector<WeightFormatListing> sop_method_format_listings();
std::unique_ptr<WeightFormat> make_sop_method_format(const std::string& name);  // nullptr if not ours

}  // namespace sop
