// Shared types and widths of the LUT decode unit. The numbers are the golden decode's
// (model/golden/decode.h, docs/hif.md): change them there and here together.
package sop_decode_pkg;

  // Format of a LUT entry: the project's HIF (integer mantissa + small exponent) or IEEE FP16.
  typedef enum logic [0:0] {
    EntryHif  = 1'b0,
    EntryFp16 = 1'b1
  } entry_format_e;

  // HIF: value = M * 2^(E - HifBias), M two's complement of HifManBits, E unsigned of HifExpBits;
  // entry = {E, M}.
  parameter int unsigned HifManBits = 8;
  parameter int unsigned HifExpBits = 3;
  // The exponent bias (9) is not needed in the datapath: it is part of the product offset (docs/hif.md).

  // FP16 as an integer pair: signed mantissa +-(hidden, 10 bits) and a 5-bit exponent field.
  parameter int unsigned Fp16ManBits = 12;
  parameter int unsigned Fp16ExpBits = 5;

  parameter int unsigned HifEntryBits  = HifManBits + HifExpBits;
  parameter int unsigned Fp16EntryBits = 16;

  // Derived widths are computed in the modules' parameter lists rather than by package functions:
  // yosys 0.23 cannot evaluate package functions in constant expressions. The rules:
  //   product mantissa = entry mantissa bits + scale mantissa bits + 1 (|M| <= 2^(W-1), the scale
  //                      mantissa with its hidden bit < 2^(m+1), and the scale's sign is applied after);
  //   product exponent = max(entry exponent bits, scale exponent bits) + 1 (sum of two raw fields).

endpackage
