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
"$tb/rtl_tb_hif_l8" --mode real --coverage "$out/hif_real.dat" | tail -1
"$tb/rtl_tb_hif_c6_l4" --mode random --vectors 50000 --seed 3 --coverage "$out/c6_random.dat" | tail -1
"$tb/rtl_tb_hif_c6_l4" --mode directed --coverage "$out/c6_directed.dat" | tail -1
"$tb/rtl_tb_hif_e8m0_l16" --mode directed --coverage "$out/e8m0_directed.dat" | tail -1
verilator_coverage --write "$out/merged.dat" "$out"/*_*.dat
# Points hit fewer than once are marked '%000000' in the annotated sources.
verilator_coverage --annotate "$out/annotated" --annotate-min 1 "$out/merged.dat" >/dev/null
# Per kind (line, branch, toggle) totals and the points never hit, grouped by signal.
python3 - "$out/merged.dat" <<'PY' | tee "$out/summary.txt"
import collections, re, sys
total, hit, missed = collections.Counter(), collections.Counter(), collections.defaultdict(set)
for line in open(sys.argv[1], encoding="latin-1"):
    if not line.startswith("C '"):
        continue
    key, count = line.rsplit(" ", 1)
    fields = dict(p.split("\x02", 1) for p in key[3:-1].split("\x01") if "\x02" in p)
    kind = fields.get("page", "?").split("/")[0]
    total[kind] += 1
    if int(count) > 0:
        hit[kind] += 1
    else:
        where = fields.get("f", "").split("/")[-1] + ":" + fields.get("l", "?")
        missed[kind].add(where + " " + re.sub(r"\[\d+\]", "[*]", fields.get("o", "")))
for kind in sorted(total):
    print(f"{kind:9s} {hit[kind]:5d} / {total[kind]:5d} = {100.0 * hit[kind] / total[kind]:6.2f} %")
for kind in sorted(missed):
    print(f"not covered ({kind}):")
    for m in sorted(missed[kind]):
        print("   ", m)
PY
echo "annotated RTL: $out/annotated (points never hit are marked %000000)"
