#!/usr/bin/env bash
# Runs the multi-threaded stress test (and the dependents-list unit tests)
# under ThreadSanitizer. Needs a nightly toolchain with rust-src (std is
# rebuilt with the sanitizer). Prints a SKIPPED line and exits 0 without it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "SKIPPED: tsan (no nightly toolchain installed)"
    exit 0
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "SKIPPED: tsan (the nightly toolchain has no rust-src component and it could not be added)"
    exit 0
fi

target="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR=target/tsan
export RUSTFLAGS="-Zsanitizer=thread"
export RUSTDOCFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
# A bounded stress run: TSan slows threads down ~10x.
export DAGQUEUE_STRESS_JOBS="${DAGQUEUE_STRESS_JOBS:-1000}"
echo "tsan: stress test, event stream, counted status, dependents-list and lane-FIFO tests ($DAGQUEUE_STRESS_JOBS jobs)"
cargo +nightly test -Zbuild-std --target "$target" -p dagqueue --test stress
# The event rings (single-writer sequence locks), the subscriber's merge,
# the per-thread tallies and their cached thread-local pointer.
cargo +nightly test -Zbuild-std --target "$target" -p dagqueue --test events --test counted_status
cargo +nightly test -Zbuild-std --target "$target" -p dagqueue --lib dependents
# The lanes' FIFO (record_fifo.rs): two pushers and two poppers across blocks.
cargo +nightly test -Zbuild-std --target "$target" -p dagqueue --lib record_fifo
