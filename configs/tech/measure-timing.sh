#!/usr/bin/env bash
# Measures the decode unit's critical path once per (lanes, entries per table, entry format, pipeline
# stages) with the static timing flow behind `sop area --timing` (yosys timing-driven mapping onto OSU
# 0.18 um cells, OpenSTA at the typical corner) and writes configs/tech/timing_osu018.json, which the
# tech tables name as node_scaling.timing_table: `clock_mhz: auto` and the clock checks of simulate,
# estimate and sweeps read it instead of running yosys per point (sim/tech.h, docs/estimate.md).
# Rerun after an RTL change:
#   configs/tech/measure-timing.sh [SOP_BINARY] [OUT_JSON]
# Points run in parallel, one per core; a 64-lane point takes 5-10 minutes. SOP_TIMING_STAGES="1 2"
# limits the default points to those stage counts; SOP_TIMING_POINTS="8:16:hif:1 64:16:fp16:2" measures
# exactly those (lanes:entries:format:stages) points.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
sop="${1:-$src/build/cli/sop}"
out="${2:-$src/configs/tech/timing_osu018.json}"
stages="${SOP_TIMING_STAGES:-1 2 3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
points=()
if [ -n "${SOP_TIMING_POINTS:-}" ]; then
  for p in $SOP_TIMING_POINTS; do points+=("${p//:/ }"); done
else
  for s in $stages; do
    for lanes in 8 16 64; do points+=("$lanes 16 hif $s" "$lanes 16 fp16 $s"); done
    points+=("8 64 hif $s")
  done
fi
for p in "${points[@]}"; do
  read -r lanes entries fmt s <<<"$p"
  name="L${lanes}-E${entries}-$fmt-S$s"
  stage_key=""
  [ "$s" = 1 ] || stage_key="  pipeline_stages: $s"
  cat >"$work/$name.yaml" <<YAML
name: $name
decode_unit:
  lanes: $lanes
$stage_key
  lut: {entries_per_table: $entries, tables_per_layer: 2, resident_layers: 2, entry_format: $fmt}
  scale: {signed: true, exp_bits: 4, man_bits: 3, bias: 7, subnormals: true}
YAML
  echo "$name"
done | xargs -P "$(nproc)" -I{} sh -c "'$sop' area --timing --hw '$work/{}.yaml' --json '$work/{}.json' >'$work/{}.log' 2>&1 || { cat '$work/{}.log'; exit 255; }; echo 'measured {}'"
# Join the one-element arrays `sop area --json` writes into one array, in the order of the points.
{
  echo "["
  first=1
  for p in "${points[@]}"; do
    read -r lanes entries fmt s <<<"$p"
    f="$work/L${lanes}-E${entries}-$fmt-S$s.json"
    [ $first -eq 1 ] || echo ","
    first=0
    # The configs were temporary files: name them by the point instead; the liberty relative to the
    # checkout, so that the committed table names no machine's path.
    sed -E -e '1s/^\[//' -e '$s/\]$//' -e "s|\"liberty\": \"$src/|\"liberty\": \"|" \
      -e 's|"config": "[^"]*/(L[0-9]+-E[0-9]+-[a-z0-9]+-S[0-9]+)\.yaml"|"config": "measure-timing.sh \1"|' "$f"
  done
  echo "]"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
