#!/usr/bin/env bash
# Verilator line/toggle coverage of the decode unit under the regression (docs/rtl.md records the result).
#   scripts/rtl-coverage.sh [BUILD_DIR]     (default build-rtl-cov)
# Builds the HIF and FP16 regression models with --coverage, runs their random and directed modes,
# merges the data and writes an annotated copy of the RTL to BUILD_DIR/coverage/annotated.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build-rtl-cov}"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOP_RTL_COVERAGE=ON >/dev/null
cmake --build "$build" -j2 --target rtl_tb_hif_l8 rtl_tb_fp16_l8 rtl_tb_hif_c6_l4 rtl_tb_hif_e8m0_l16
out="$build/coverage"
rm -rf "$out" && mkdir -p "$out"
tb="$build/tests/rtl"
"$tb/rtl_tb_hif_l8" --mode random --vectors 200000 --seed 1 --coverage "$out/hif_random.dat" | tail -1
"$tb/rtl_tb_hif_l8" --mode directed --coverage "$out/hif_directed.dat" | tail -1
"$tb/rtl_tb_fp16_l8" --mode random --vectors 100000 --seed 2 --coverage "$out/fp16_random.dat" | tail -1
"$tb/rtl_tb_fp16_l8" --mode directed --coverage "$out/fp16_directed.dat" | tail -1
"$tb/rtl_tb_hif_c6_l4" --mode directed --coverage "$out/c6_directed.dat" | tail -1
"$tb/rtl_tb_hif_e8m0_l16" --mode directed --coverage "$out/e8m0_directed.dat" | tail -1
verilator_coverage --write "$out/merged.dat" "$out"/*_*.dat
# Points hit fewer than once are marked '%000000' in the annotated sources.
verilator_coverage --annotate "$out/annotated" --annotate-min 1 "$out/merged.dat" | tee "$out/summary.txt"
echo "annotated RTL: $out/annotated (lines starting with %000000 are not covered)"
