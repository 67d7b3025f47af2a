// sop formats: every number format and weight format the tool knows.
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "model/golden/formats.h"
#include "quantizer/weight_format.h"

namespace sop::cli {

int run_formats(const std::vector<std::string>& args) {
  po::options_description desc("options");
  po::variables_map vm;
  if (auto code = parse_options("formats", "", desc, args, vm)) return *code;

  std::cout << "Number formats (elements and scales):\n";
  std::cout << "  " << std::left << std::setw(7) << "name" << std::right << std::setw(5) << "bits" << std::setw(12)
            << "max" << std::setw(14) << "min>0" << "  note\n";
  for (const NumberFormat& f : number_formats()) {
    std::cout << "  " << std::left << std::setw(7) << f.name << std::right << std::setw(5) << f.bits()
              << std::setw(12) << std::setprecision(6) << max_finite(f) << std::setw(14) << min_positive(f) << "  "
              << f.note << "\n";
  }
  std::cout << "\nWeight formats (sop eval --format NAME; any <ELEMENT>s<SCALE>[@gBLOCK] pair works):\n";
  for (const WeightFormatListing& w : list_weight_formats()) {
    std::cout << "  " << std::left << std::setw(18) << w.name << std::right << std::fixed << std::setprecision(3)
              << std::setw(7) << w.nominal_bpw << " bpw  " << w.description << "\n";
    std::cout.unsetf(std::ios::fixed);
  }
  return 0;
}

}  // namespace sop::cli
