#!/usr/bin/env bash
# ctest rtl_file_list_shell: the shell reader of the RTL file list (rtl/rtl_sources.sh, used by lint.sh and
# syn/check.sh) follows the list in order, skips comments and blank lines, and refuses a missing list, an
# empty one and a listed source that is missing, naming the file.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=rtl/rtl_sources.sh
. "$src/rtl/rtl_sources.sh"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Refused with the named file ($2) in the message.
expect_refused() {
  local what="$1" named="$2" err
  if err="$(sop_rtl_sources "$scratch" 2>&1 >/dev/null)"; then fail "$what was accepted"; fi
  [[ "$err" == *"$named"* ]] || fail "$what: the message does not name $named: $err"
  echo "refused, naming the file: $what"
}

expect_refused "a missing list" "$scratch/sop_decode_unit.f"
printf '// only comments\n# here\n\n' >"$scratch/sop_decode_unit.f"
expect_refused "a list naming no source" "$scratch/sop_decode_unit.f"
printf 'top.sv\ngone.sv\n' >"$scratch/sop_decode_unit.f"
touch "$scratch/top.sv" "$scratch/pkg.sv"
expect_refused "a listed source that is missing" "$scratch/gone.sv"

printf '// order as listed\n  top.sv  # last on purpose\n\npkg.sv' >"$scratch/sop_decode_unit.f"
got="$(sop_rtl_sources "$scratch")"
[[ "$got" == "$scratch/top.sv"$'\n'"$scratch/pkg.sv" ]] || fail "sources not in listed order: $got"
echo "read in listed order, comments skipped"

# The committed list names every module of rtl/.
got="$(sop_rtl_sources "$src/rtl")"
for m in "$src"/rtl/*.sv; do
  [[ $'\n'"$got"$'\n' == *$'\n'"$m"$'\n'* ]] || fail "rtl/sop_decode_unit.f does not list $(basename "$m")"
done
echo "PASS: the committed list names all $(ls "$src"/rtl/*.sv | wc -l) modules"
