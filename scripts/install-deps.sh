#!/usr/bin/env bash
# Installs every Debian package sop needs to build, test and run. Idempotent: packages already
# present are skipped quickly, so the README's commands and .ci/run can call it every time.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libsystemc-dev verilator yosys opensta
  libyaml-cpp-dev libboost-program-options-dev nlohmann-json3-dev zlib1g-dev
  libgtest-dev libgmock-dev
  # The fuzz targets (scripts/fuzz.sh, tests/fuzz): clang with libFuzzer and the sanitizer runtimes.
  clang libclang-rt-dev
  # Estimation tests: a single-node Slurm cluster (tests/slurm) and headless Chromium, which renders
  # the sweep report (tests/estimate).
  slurmctld slurmd slurm-client munge
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# ---- Standard-cell liberty for the area flow (rtl/syn, `sop area`) ----------------------------------
# The OSU 0.18 um library from Debian's qflow-tech-osu018, unpacked into build/tech without installing
# qflow: apt-get download + dpkg-deb -x. Skipped when the liberty is already there. SOP_TECH_DIR moves it.
tech_dir="${SOP_TECH_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build/tech}"
liberty="$tech_dir/usr/share/qflow/tech/osu018/osu018_stdcells.lib"
if [ -f "$liberty" ]; then
  echo "install-deps: liberty present ($liberty)"
else
  echo "install-deps: extracting qflow-tech-osu018 into $tech_dir"
  mkdir -p "$tech_dir"
  dl_dir="$(mktemp -d)"
  (cd "$dl_dir" && apt-get download qflow-tech-osu018 >/dev/null 2>&1) || {
    "${sudo_cmd[@]}" apt-get update -qq
    (cd "$dl_dir" && apt-get download qflow-tech-osu018)
  }
  dpkg-deb -x "$dl_dir"/qflow-tech-osu018_*.deb "$tech_dir"
  rm -rf "$dl_dir"
  [ -f "$liberty" ] || { echo "install-deps: $liberty missing after extraction" >&2; exit 1; }
fi
