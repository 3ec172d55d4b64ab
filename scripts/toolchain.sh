#!/usr/bin/env bash
# Installs what the cross builds (scripts/build-targets.sh, scripts/build-wasm.sh) and the arm64 test
# (scripts/test-arm64.sh) need on an x64 Debian machine, skipping whatever is already there, so it is
# safe to run every time:
#   Debian: Rust 1.96 with the standard library's source (std for any target via -Zbuild-std);
#           wasi-libc, the C library of the WebAssembly build;
#           qemu-user and the arm64 libraries the arm64 Node needs (libc, libstdc++, libgcc_s);
#   PyPI:   zig and cargo-zigbuild, the linker for every target (zig carries each target's libc,
#           so no cross gcc or arm64 -dev package is needed).
# The versions pinned are the ones the builds were checked with.
set -euo pipefail

apt_packages=(rustc-web cargo-web rust-web-src wasi-libc qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)
pip_packages=(ziglang==0.17.1 cargo-zigbuild==0.24.1)

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "toolchain: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

missing=()
python3 -m ziglang version >/dev/null 2>&1 || missing+=("${pip_packages[0]}")
command -v cargo-zigbuild >/dev/null || missing+=("${pip_packages[1]}")
if ((${#missing[@]})); then
  echo "toolchain: pip install ${missing[*]}"
  python3 -m pip install --quiet "${missing[@]}"
  hash -r
fi

echo "toolchain: ready (Debian rustc $(/usr/bin/rustc --version | cut -d' ' -f2), zig $(python3 -m ziglang version), $(cargo-zigbuild --version))"
