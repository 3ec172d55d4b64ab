#!/usr/bin/env bash
# Builds the addon (crates/node, release profile with LTO, as published) for every prebuilt target
# on this x64 Linux machine and puts each one at npm/<platform>/fdpoll.<platform>.node; the
# target wasm32-wasip1 is the WebAssembly build, npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm, which
# scripts/build-wasm.sh makes (`npm run build:wasm`, its recipe and log are there).
#
#   scripts/build-targets.sh [target...]    (default: every target below; `npm run build:targets`)
#
# How: Debian's Rust 1.96 (rustc-web, cargo-web, rust-web-src) builds the standard library for the
# target from source (-Zbuild-std, RUSTC_BOOTSTRAP=1), and cargo-zigbuild links with zig, which
# carries the libc of every target: glibc targets link against glibc 2.17 (the `.2.17` suffix), so
# the binaries load on every glibc Node 20 runs on (linking against this machine's glibc 2.36
# would require 2.34); musl targets link musl dynamically (-crt-static, as Node on Alpine loads
# addons); macOS links without an SDK and napi-build adds `-undefined dynamic_lookup`.
# scripts/toolchain.sh installs all of this. The build goes to target/cross (the normal build
# keeps target/), with one log per target in target/cross/logs.
# Prints one line per target (ok, or FAILED with the reason) and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

# triple -> napi-rs platform name
declare -A platform=(
  [x86_64-unknown-linux-gnu]=linux-x64-gnu
  [aarch64-unknown-linux-gnu]=linux-arm64-gnu
  [x86_64-unknown-linux-musl]=linux-x64-musl
  [aarch64-unknown-linux-musl]=linux-arm64-musl
  [x86_64-apple-darwin]=darwin-x64
  [aarch64-apple-darwin]=darwin-arm64
  [x86_64-unknown-freebsd]=freebsd-x64
  [wasm32-wasip1]=wasm32-wasi
)
all=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl
  x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd wasm32-wasip1)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for target in "${targets[@]}"; do
  if [[ -z "${platform[$target]:-}" ]]; then
    echo "build-targets: unknown target '$target'; known: ${all[*]}" >&2
    exit 2
  fi
done

# cargo-zigbuild runs the first `cargo` on PATH; put Debian's (found through its package) first.
debian_cargo=$(grep -m1 '/bin/cargo$' <(dpkg -L cargo-web 2>/dev/null))
debian_rustc=$(grep -m1 '/bin/rustc$' <(dpkg -L rustc-web 2>/dev/null))
if [[ -z "$debian_cargo" || -z "$debian_rustc" ]] || ! command -v cargo-zigbuild >/dev/null; then
  echo "build-targets: Debian's cargo-web/rustc-web or cargo-zigbuild is missing; run scripts/toolchain.sh" >&2
  exit 2
fi
mkdir -p target/cross/bin target/cross/logs
ln -sf "$debian_cargo" target/cross/bin/cargo
ln -sf "$debian_rustc" target/cross/bin/rustc
# rustc strips a Mach-O with rust-objcopy, which Debian's Rust does not ship: rustup's, on the PATH.
objcopy="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-objcopy"
[[ -x $objcopy ]] && ln -sf "$objcopy" target/cross/bin/rust-objcopy
# (build-wasm.sh finds its own cargo, and rustup's rust-lld through the rustc on the PATH it had.)
wasm_path=$PATH
export PATH="$PWD/target/cross/bin:$PATH" RUSTC_BOOTSTRAP=1

# The first error cargo printed with its source location, and the linker's own error if any.
reason() {
  local first linker
  first=$(awk '/^error/ && !/could not compile/ && !e { e = $0; next } e && /^ *--> / { sub(/^ *--> /, " at "); e = e $0 } e { print e; exit }' "$1")
  linker=$(grep -m1 -E '(lld|ld|zig)[^ ]*: error:|undefined symbol' "$1" | sed 's/^ *//')
  echo "${first:-see the log}${linker:+ / $linker}"
}

build() {
  local target=$1 zig_target=$1 rustflags='' build_std=-Zbuild-std=std,panic_abort
  case $target in
    *-linux-gnu) zig_target=$target.2.17 ;;
    *-linux-musl) rustflags='-C target-feature=-crt-static' ;;
  esac
  # Debian's rustc ships the host's standard library; every other target builds its own.
  [[ $target == x86_64-unknown-linux-gnu ]] && build_std=''
  RUSTFLAGS=$rustflags cargo-zigbuild zigbuild --release -p fdpoll-node --target "$zig_target" \
    --target-dir target/cross ${build_std:+"$build_std"}
}

summary=()
failed=0
for target in "${targets[@]}"; do
  name=${platform[$target]}
  log=target/cross/logs/$target.log
  echo "build-targets: $target ..."
  start=$SECONDS
  if [[ $target == wasm32-wasip1 ]]; then
    # build-wasm.sh keeps cargo's output in $log; its own goes to build-wasm.log, last line the reason.
    if PATH=$wasm_path scripts/build-wasm.sh >target/cross/logs/build-wasm.log 2>&1; then
      line="ok      $target -> npm/$name/fdpoll.$name.wasm ($((SECONDS - start))s)"
    else
      failed=1
      line="FAILED  $target ($((SECONDS - start))s): $(tail -n 1 target/cross/logs/build-wasm.log)"
    fi
  elif build "$target" >"$log" 2>&1; then
    lib=target/cross/$target/release/libfdpoll_node.so
    [[ $target == *-apple-darwin ]] && lib=target/cross/$target/release/libfdpoll_node.dylib
    mkdir -p "npm/$name"
    cp "$lib" "npm/$name/fdpoll.$name.node"
    line="ok      $target -> npm/$name/fdpoll.$name.node ($((SECONDS - start))s)"
  else
    failed=1
    line="FAILED  $target ($((SECONDS - start))s): $(reason "$log") [log: $log]"
  fi
  echo "$line"
  summary+=("$line")
done

echo
echo "build-targets summary:"
printf '  %s\n' "${summary[@]}"
exit $failed
