#!/usr/bin/env bash
# Builds the libFuzzer targets of every reader (tests/fuzz, docs/robustness.md) with clang, ASan and
# UBSan in build-fuzz/, and runs each for SECONDS (default 60). Fails if any target finds a crash, a
# sanitizer report, an exception other than sop::Error, a timeout or an out-of-memory; prints each
# target's executions.
#
#   scripts/fuzz.sh [--seeds] [SECONDS] [TARGET...]
#
# TARGET is a name such as `pack` or `hw_yaml` (every target when none is given). --seeds rewrites the
# seed corpora in tests/fuzz/corpus/ (synthetic files from sop_fuzz_make_corpus, and the repository's
# configs) and exits. Inputs the fuzzers find go to build-fuzz/corpus/TARGET (kept between runs), a
# failing input to build-fuzz/artifacts/TARGET/. Environment: SOP_FUZZ_RSS_MB (2048),
# SOP_FUZZ_TIMEOUT (10 s per input), SOP_FUZZ_BUILD (build-fuzz), SOP_FUZZ_SEED (libFuzzer's -seed;
# unset: a random one; CI sets 1 so that a run repeats), CXX (clang++).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

seeds=0
if [ "${1:-}" = "--seeds" ]; then seeds=1; shift; fi
seconds=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then seconds="$1"; shift; fi
build="${SOP_FUZZ_BUILD:-build-fuzz}"
rss_mb="${SOP_FUZZ_RSS_MB:-2048}"
timeout_s="${SOP_FUZZ_TIMEOUT:-10}"
cxx="${CXX:-clang++}"
seed_option=()
[ -z "${SOP_FUZZ_SEED:-}" ] || seed_option=(-seed="$SOP_FUZZ_SEED")

default_targets=(safetensors safetensors_index gguf pack activation_json imatrix
                 hw_yaml tech_yaml tech_logic_json recipe_yaml sweep_yaml synthetic_spec sweep_point sweep_results)
all_targets=("${default_targets[@]}")
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${default_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2; }
done

command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found: run scripts/install-deps.sh (clang, libclang-rt-dev)" >&2; exit 1; }

# One run per build folder at a time: two would build the same targets at once and share the logs,
# corpora and scratch folders below. Another checkout (or SOP_FUZZ_BUILD) runs beside this one freely.
mkdir -p "$build"
exec 9>"$build/.fuzz.lock"
if ! flock -n 9; then
  echo "fuzz: another scripts/fuzz.sh is using $build: wait for it, or set SOP_FUZZ_BUILD to another folder" >&2
  exit 1
fi

# ---- build ------------------------------------------------------------------------------------------
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DSOP_FUZZ=ON -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${launcher[@]}" >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
fi
build_targets=(sop_fuzz_make_corpus)
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j2 --target "${build_targets[@]}"

# ---- seeds ------------------------------------------------------------------------------------------
if [ "$seeds" -eq 1 ]; then
  corpus=tests/fuzz/corpus
  # sweep_point and sweep_results hold records of a `sop sweep` run of a tiny sweep (docs/robustness.md)
  # and are kept; every other folder is rewritten.
  for t in "${all_targets[@]}"; do
    case "$t" in sweep_point|sweep_results) ;; *) rm -rf "${corpus:?}/$t" ;; esac
  done
  # Relative paths only: a pack records its source and recipe path.
  "$build/tests/fuzz/sop_fuzz_make_corpus" . "$corpus"
  copy() {  # copy TARGET FILE...: the repository's configs as seeds
    local target="$1"; shift
    mkdir -p "$corpus/$target"
    for f in "$@"; do cp "$f" "$corpus/$target/$(echo "${f#configs/}" | tr / _)"; done
  }
  copy hw_yaml configs/hw/*.yaml
  copy tech_yaml configs/tech/45nm.yaml configs/tech/memory.yaml
  copy recipe_yaml configs/quant/*.yaml configs/sweeps/recipes/*.yaml
  copy sweep_yaml configs/sweeps/*.yaml
  echo "fuzz: seeds written to $corpus ($(find "$corpus" -type f | wc -l) files)"
  exit 0
fi

# ---- run --------------------------------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
summary=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  seed_dir="tests/fuzz/corpus/$t"
  [ -d "$seed_dir" ] || seed_dir=""
  # The harness's scratch files (tests/fuzz/fuzz_support.h) go to a folder of this build folder, not
  # to the shared /tmp, where a cleanup of other runs' leftovers removed them under a running target.
  # A target that aborts (a finding) cannot remove its own, so the folder is emptied here, before and after.
  scratch="$(cd "$build" && pwd)/tmp/$t"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  start=$(date +%s)
  set +e
  TMPDIR="$scratch" "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
    -timeout="$timeout_s" -print_final_stats=1 -artifact_prefix="$artifacts/" "${seed_option[@]}" "$work" $seed_dir \
    >"$log" 2>&1
  rc=$?
  set -e
  rm -rf "$scratch"
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$( (grep -o '#[0-9]*' "$log" || true) | tail -1 | tr -d '#')
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    status=1
    result="FAILED (exit $rc)"
    grep -q "HARNESS ERROR" "$log" && result="FAILED (exit $rc): the harness itself, not a finding of the reader"
    echo "fuzz: $t: FAILED, log $log, input:" >&2
    ls "$artifacts" >&2 || true
    grep -E "ERROR|FINDING|SUMMARY|runtime error|Test unit written" "$log" | head -20 >&2 || true
  fi
  line=$(printf '%-18s %12s executions %6s s  %s' "$t" "${execs:-?}" "$elapsed" "$result")
  echo "fuzz: $line"
  summary+=("$line")
done
echo "fuzz: summary ($seconds s per target, -rss_limit_mb=$rss_mb, -timeout=$timeout_s)"
printf '  %s\n' "${summary[@]}"
exit "$status"
