#!/usr/bin/env bash
# The area tables of docs/rtl.md: HIF vs FP16 entries at equal lanes, and area vs LUT size.
#   rtl/syn/area-table.sh [SOP_BINARY] [OUT_DIR]
# Writes one YAML per point to OUT_DIR/configs, runs `sop area` over them and leaves the JSON in
# OUT_DIR/area.json. Needs the liberty from scripts/install-deps.sh.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
sop="${1:-$src/build/cli/sop}"
out="${2:-$src/build/area}"
mkdir -p "$out/configs"
cfgs=()
point() {  # name lanes entries layers format
  local f="$out/configs/$1.yaml"
  cat >"$f" <<YAML
name: $1
decode_unit:
  lanes: $2
  lut: {entries_per_table: $3, tables_per_layer: 2, resident_layers: $4, entry_format: $5}
  scale: {signed: true, exp_bits: 4, man_bits: 3, bias: 7, subnormals: true}
YAML
  cfgs+=(--hw "$f")
}
for lanes in 4 8 16; do
  for fmt in hif fp16; do point "L${lanes}-E16-R2-$fmt" "$lanes" 16 2 "$fmt"; done
done
for layers in 1 4 8; do point "L8-E16-R${layers}-hif" 8 16 "$layers" hif; done
for layers in 1 2; do point "L8-E64-R${layers}-hif" 8 64 "$layers" hif; done
point "L8-E64-R2-fp16" 8 64 2 fp16
"$sop" area "${cfgs[@]}" --json "$out/area.json"
