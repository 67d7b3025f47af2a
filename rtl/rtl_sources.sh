# Sourced by rtl/lint/lint.sh and rtl/syn/check.sh: sop_rtl_sources RTL_DIR prints the decode unit's
# sources in compile order, one absolute path a line, from the one file list RTL_DIR/sop_decode_unit.f
# (text from `//` or `#` on is a comment); fails naming the list when it is missing or names no source.
sop_rtl_sources() {
  local list="$1/sop_decode_unit.f" line found=0
  if [[ ! -f "$list" ]]; then
    echo "$list: the RTL file list is missing" >&2
    return 1
  fi
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%//*}"
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [[ -z "$line" ]] && continue
    if [[ ! -f "$1/$line" ]]; then
      echo "$1/$line: listed in $list but not found" >&2
      return 1
    fi
    echo "$1/$line"
    found=1
  done <"$list"
  if [[ "$found" == 0 ]]; then
    echo "$list: the RTL file list names no source" >&2
    return 1
  fi
}
