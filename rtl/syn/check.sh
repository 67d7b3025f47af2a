#!/usr/bin/env bash
# Synthesizability check (ctest rtl_synth_no_latches): generic yosys synthesis of the decode unit for a
# few parameter sets; fails on any latch or any `check` problem. Needs no liberty.
#   rtl/syn/check.sh [RTL_DIR]    RTL_DIR: the folder of sop_decode_unit.f (default: this rtl/; ctest passes
#                                 the build's SOP_RTL_DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
rtl="${1:-$here}"
# shellcheck source=rtl/rtl_sources.sh
. "$here/rtl_sources.sh"
listed="$(sop_rtl_sources "$rtl")"  # the sources of rtl/sop_decode_unit.f; exits here if it is unusable
srcs="${listed//$'\n'/ }"          # one line: read_verilog's arguments
sets=(
  ""
  "-chparam Fp16Entries 1 -chparam CodeBits 6 -chparam Lanes 4 -chparam ResidentLayers 3 -chparam ScaleHasSign 0 -chparam ScaleManBits 4"
  "-chparam Lanes 16 -chparam ResidentLayers 1 -chparam ScaleExpBits 8 -chparam ScaleManBits 0 -chparam ScaleSubnormals 0"
  "-chparam PipeStages 2"
  "-chparam PipeStages 3 -chparam Fp16Entries 1"
  "-chparam TableBits 3 -chparam Lanes 4"
)
for s in "${sets[@]}"; do
  yosys -q -p "read_verilog -sv $srcs; hierarchy -check -top sop_decode_unit $s; synth -top sop_decode_unit -flatten;
    check -assert; select -assert-none t:\$dlatch t:\$adlatch t:\$_DLATCH_*" >/dev/null
  echo "synthesized, no latches, check clean: ${s:-defaults}"
done
