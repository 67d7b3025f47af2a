// The fixed codebooks SOP offers every layer, as data: each is a table of LUT values indexed by code
// plus a note saying where the values come from. Generated tables (BOF4, BOF4-S per block size, the
// SH4 shape) live in generated_codebooks.cc, written by `sop codebook-gen` (codebook_gen.h).
#pragma once

#include <string>
#include <vector>

namespace sop {

struct CodebookTable {
  std::string name;           // "NF4", "BOF4-S@g16", "Split87", "SH4", "E2M1", "E2M3", ...
  std::vector<float> values;  // index = code: 16 entries (4-bit) or 64 entries (6-bit atoms)
  std::string source;         // where the numbers come from
};

// Looks a codebook up by name (case-insensitive): NF4, BOF4, BOF4-S, Split87, SH4, E2M1, IQ4_NL,
// E2M3, E3M2. BOF4 and BOF4-S take the table generated for `block` (16, 32 or 64; other sizes use the
// nearest). Throws sop::Error for an unknown name.
CodebookTable fixed_codebook(const std::string& name, int block = 16);

// The 4-bit fixed codebooks the SOP pair search considers by default.
std::vector<std::string> default_pair_codebook_names();

// The project's definitions, as pure functions.
std::vector<float> nf4_values();
std::vector<float> split87_values();                 // {-7..8}/8
std::vector<float> sinh_companded_values(double a);  // sinh(a t)/sinh(a), t = {-7..8}/8
double sh4_shape();                                  // the fitted a (generated_codebooks.cc)
std::vector<float> iq4nl_values();                   // llama.cpp kvalues_iq4nl, integers
std::vector<float> float_format_atoms(const std::string& format);  // every code of E2M1/E2M3/E3M2

namespace detail {

struct GeneratedCodebook {
  const char* name;   // "BOF4" or "BOF4-S"
  int block;
  float values[16];
};
// Defined in generated_codebooks.cc.
extern const GeneratedCodebook kGeneratedCodebooks[];
extern const int kGeneratedCodebookCount;
extern const double kSh4Shape;
extern const char* const kGeneratedCodebooksCommand;

}  // namespace detail
}  // namespace sop
