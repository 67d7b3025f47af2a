#!/usr/bin/env bash
# verilator --lint-only -Wall over the decode unit with the parameter sets the regression and the area
# flow use. No waivers are needed; a waiver, if one is ever added, goes in rtl/lint/ with its reason.
#   rtl/lint/lint.sh [RTL_DIR]    RTL_DIR: the folder of sop_decode_unit.f (default: this rtl/; ctest passes
#                                 the build's SOP_RTL_DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
rtl="${1:-$here}"
# shellcheck source=rtl/rtl_sources.sh
. "$here/rtl_sources.sh"
listed="$(sop_rtl_sources "$rtl")"  # the sources of rtl/sop_decode_unit.f; exits here if it is unusable
mapfile -t srcs <<<"$listed"
sets=(
  ""
  "-GFp16Entries=1'b1"
  "-GCodeBits=6 -GLanes=4 -GResidentLayers=3 -GScaleHasSign=1'b0 -GScaleManBits=4"
  "-GLanes=16 -GResidentLayers=1 -GScaleHasSign=1'b0 -GScaleExpBits=8 -GScaleManBits=0 -GScaleSubnormals=1'b0"
  "-GLanes=256 -GResidentLayers=4"
  "-GLanes=1 -GFp16Entries=1'b1 -GCodeBits=6"
  "-GPipeStages=2"
  "-GPipeStages=3 -GLanes=1 -GFp16Entries=1'b1 -GCodeBits=6"
  "-GPipeStages=3 -GLanes=64"
  "-GTableBits=3"
  "-GTableBits=4 -GCodeBits=6 -GLanes=4 -GResidentLayers=3 -GPipeStages=2"
  "-GTableBits=2 -GLanes=1 -GResidentLayers=1"
  "-DSOP_BREAK_MULTIPLY"
  "-DSOP_BREAK_MULTIPLY -GPipeStages=3"
)
for s in "${sets[@]}"; do
  # shellcheck disable=SC2086  # the parameter set is a word list on purpose
  verilator --lint-only -Wall --top-module sop_decode_unit $s "${srcs[@]}"
  echo "lint clean: ${s:-defaults}"
done
