#!/usr/bin/env bash
# Installs every Debian package sop needs to build, test and run. Idempotent: packages already
# present are skipped quickly, so the README's commands and .ci/run can call it every time.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libsystemc-dev verilator yosys
  libyaml-cpp-dev libboost-program-options-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
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
