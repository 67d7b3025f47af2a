// The RTL sources of sop_decode_unit, one path per line, relative to rtl/, in compile order (the
// package first). This is the only list of them; docs/rtl.md names its readers: cmake/rtl_sources.cmake
// (the verilated models of model/tlm and tests/rtl), rtl/rtl_sources.sh (lint.sh, syn/check.sh) and
// sim/area.cc (sop area). Each reader drops what follows `//` or `#` on a line, and blank lines.
sop_decode_pkg.sv
sop_lut.sv
sop_lane_mul.sv
sop_decode_unit.sv
