#!/usr/bin/env bash
# Measures the decode unit's logic area once per (lanes, entries per table, entry format) with the yosys
# flow behind `sop area` (OSU 0.18 um cells) and writes configs/tech/logic_area_osu018.json, which the
# estimator reads: sweeps never run yosys per point. Rerun after an RTL change:
#   configs/tech/measure-logic-area.sh [SOP_BINARY] [OUT_JSON]
# resident_layers is 2 everywhere: the unit's flop LUT holds the active pair and the next layer's pair;
# the LUT SRAM that holds the other resident layers is sized by the tech table, not synthesized.
# Lane counts between and beyond the measured ones are interpolated linearly (sim/tech.h); synthesis
# time grows quickly with lanes x entries, so 64-entry tables are measured at 4 and 8 lanes only.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
sop="${1:-$src/build/cli/sop}"
out="${2:-$src/configs/tech/logic_area_osu018.json}"
work="$(mktemp -d)"
# The table is written as base/atomic_file.h writes the project's outputs: a temporary beside it named
# OUT.tmp.HOST.PID.N, synced, renamed over OUT, and the folder synced; a killed run leaves at most its
# temporary, which the next run removes (a dead PID of this host).
host="$(hostname | tr './' '--')"
tmp="$out.tmp.$host.$$.0"
trap 'rm -rf "$work"; rm -f "$tmp"' EXIT
for stale in "$out.tmp.$host".*; do
  [ -e "$stale" ] || continue
  pid="${stale#"$out.tmp.$host."}"
  pid="${pid%.*}"
  [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && rm -f "$stale"
done
points=()
for lanes in 4 8 16; do points+=("$lanes 16 hif" "$lanes 16 fp16"); done
for lanes in 4 8; do points+=("$lanes 64 hif" "$lanes 64 fp16"); done
parts=()
for p in "${points[@]}"; do
  read -r lanes entries fmt <<<"$p"
  name="L${lanes}-E${entries}-R2-$fmt"
  cat >"$work/$name.yaml" <<YAML
name: $name
decode_unit:
  lanes: $lanes
  lut: {entries_per_table: $entries, tables_per_layer: 2, resident_layers: 2, entry_format: $fmt}
  scale: {signed: true, exp_bits: 4, man_bits: 3, bias: 7, subnormals: true}
YAML
  "$sop" area --hw "$work/$name.yaml" --json "$work/$name.json"
  parts+=("$work/$name.json")
done
# Join the one-element arrays `sop area --json` writes into one array.
{
  echo "["
  first=1
  for f in "${parts[@]}"; do
    [ $first -eq 1 ] || echo ","
    first=0
    # The configs were temporary files: name them by the point instead. The liberty is recorded
    # relative to the checkout, so the committed table names no machine's path.
    sed -E -e '1s/^\[//' -e '$s/\]$//' -e "s|\"liberty\": \"$src/|\"liberty\": \"|" \
      -e 's|"config": "[^"]*/(L[0-9]+-E[0-9]+-R2-[a-z0-9]+)\.yaml"|"config": "measure-logic-area.sh \1"|' "$f"
  done
  echo "]"
} >"$tmp"
sync -- "$tmp"
mv -f -- "$tmp" "$out"
sync -- "$(dirname "$out")"
echo "wrote $out"
