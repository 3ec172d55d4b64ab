#!/usr/bin/env bash
# The cargo-fuzz targets of fuzz/ (libFuzzer, nightly toolchain), each for SECONDS (default 10):
# installs cargo-fuzz if it is missing, builds every target, and runs each from its committed
# seeds (fuzz/seeds/<target>) into its working corpus (fuzz/corpus/<target>, not committed).
# A crash, a failed property or a leak stops the script with libFuzzer's report, and the input
# is saved in fuzz/artifacts/<target>/ (rerun it: cargo +nightly fuzz run <target> <file>).
#   scripts/fuzz.sh [SECONDS]       npm run fuzz [-- SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "== installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked --debug # a driver only: a debug build installs in a fraction of the time
fi
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
  echo "== $target: ${seconds}s"
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | grep -v -e '^#[0-9]*	\(NEW\|REDUCE\|pulse\)' -e '^INFO: '
done
