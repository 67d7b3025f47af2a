#!/usr/bin/env bash
# verilator --lint-only -Wall over the decode unit with the parameter sets the regression and the area
# flow use. No waivers are needed; a waiver, if one is ever added, goes in rtl/lint/ with its reason.
set -euo pipefail
rtl="$(cd "$(dirname "$0")/.." && pwd)"
srcs=("$rtl/sop_decode_pkg.sv" "$rtl/sop_lut.sv" "$rtl/sop_lane_mul.sv" "$rtl/sop_decode_unit.sv")
sets=(
  ""
  "-GFp16Entries=1'b1"
  "-GCodeBits=6 -GLanes=4 -GResidentLayers=3 -GScaleHasSign=1'b0 -GScaleManBits=4"
  "-GLanes=16 -GResidentLayers=1 -GScaleHasSign=1'b0 -GScaleExpBits=8 -GScaleManBits=0 -GScaleSubnormals=1'b0"
  "-GLanes=1 -GFp16Entries=1'b1 -GCodeBits=6"
  "-DSOP_BREAK_MULTIPLY"
)
for s in "${sets[@]}"; do
  # shellcheck disable=SC2086  # the parameter set is a word list on purpose
  verilator --lint-only -Wall --top-module sop_decode_unit $s "${srcs[@]}"
  echo "lint clean: ${s:-defaults}"
done
