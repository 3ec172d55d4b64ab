#!/usr/bin/env bash
# Builds the addon (crates/node, release profile) for WebAssembly, single-threaded wasm32-wasip1,
# and puts it at npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm, which src/native.ts loads through
# @napi-rs/wasm-runtime (FDPOLL_BACKEND=wasm).
#
#   scripts/build-wasm.sh                   (`npm run build:wasm`)
#
# How (the recipe of ../shared/notes/cross-builds.md): Debian's Rust 1.96 (rustc-web, cargo-web,
# rust-web-src) builds the standard library for wasm32-wasip1 from source (-Zbuild-std,
# RUSTC_BOOTSTRAP=1); Debian's wasi-libc is the C library (its wasi-libc has no threads build,
# hence wasm32-wasip1 and not napi-rs's default wasm32-wasip1-threads); emnapi's archive (the npm
# package `emnapi`, a devDependency) implements Node-API in the module; rustup's rust-lld links.
# napi-build wants wasi-libc's crt1-reactor.o in the Rust sysroot, where Debian's rustc has none:
# it is linked there (once; this needs write access to /usr/lib/rustlib, as root). Missing Debian
# packages are installed by scripts/toolchain.sh. The build goes to target/cross (log:
# target/cross/logs/wasm32-wasip1.log). Prints the time it took and the module's size.
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-wasip1
out=npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm

fail() {
  echo "build-wasm: $*" >&2
  exit 1
}

for pkg in rustc-web cargo-web rust-web-src wasi-libc; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    bash scripts/toolchain.sh || fail "scripts/toolchain.sh could not install $pkg"
    break
  fi
done

debian_cargo=$(grep -m1 '/bin/cargo$' <(dpkg -L cargo-web))
debian_rustc=$(grep -m1 '/bin/rustc$' <(dpkg -L rustc-web))
reactor=$(grep -m1 '/crt1-reactor\.o$' <(dpkg -L wasi-libc))
wasi_lib=$(dirname "$reactor")
linker=$(find "$(rustc --print sysroot 2>/dev/null)" -name rust-lld -type f -print -quit 2>/dev/null)
[[ -n "$linker" ]] || linker=$(command -v wasm-ld || true)
[[ -n "$linker" ]] || fail "no wasm linker: rustup's rust-lld (in every rustup toolchain) or wasm-ld (Debian's lld) on PATH"
emnapi=node_modules/emnapi/lib/$target
[[ -f $emnapi/libemnapi-basic-napi-rs.a ]] || fail "$emnapi/libemnapi-basic-napi-rs.a is missing: run npm ci"

# napi-build's crt1-reactor.o, in Debian's sysroot.
self_contained=$("$debian_rustc" --print sysroot)/lib/rustlib/$target/lib/self-contained
if [[ "$(readlink -f "$self_contained/crt1-reactor.o" 2>/dev/null)" != "$(readlink -f "$reactor")" ]]; then
  echo "build-wasm: linking $reactor into $self_contained"
  mkdir -p "$self_contained"
  ln -sf "$reactor" "$self_contained/crt1-reactor.o"
fi

mkdir -p target/cross/logs
log=target/cross/logs/$target.log
echo "build-wasm: $target (Debian's $("$debian_rustc" --version | cut -d' ' -f1-2), linker $linker) ..."
start=$SECONDS
if ! RUSTC_BOOTSTRAP=1 RUSTC="$debian_rustc" EMNAPI_LINK_DIR="$PWD/$emnapi" \
  CARGO_TARGET_WASM32_WASIP1_LINKER="$linker" \
  RUSTFLAGS="-C linker-flavor=wasm-ld -C link-self-contained=no -L $wasi_lib" \
  "$debian_cargo" build --release -p fdpoll-node --target $target --target-dir target/cross \
  -Zbuild-std=std,panic_abort >"$log" 2>&1; then
  grep -m5 -E '^error|error:' "$log" >&2 || true
  fail "the build failed after $((SECONDS - start)) s; log: $log"
fi
cp target/cross/$target/release/fdpoll_node.wasm "$out"
echo "build-wasm: ok -> $out ($(($(stat -c %s "$out") / 1024)) KiB, $((SECONDS - start)) s)"
