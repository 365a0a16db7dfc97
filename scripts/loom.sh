#!/usr/bin/env bash
# Runs the loom models (loom-tests/) on loom 0.7.3 with
# loom-tests/loom-dpor.patch applied: loom's DPOR remembers only the last
# access to an atomic, so a thread's own load just before its store or
# compare-and-swap hides another thread's earlier load of it, and the
# interleavings where that load comes after the write are never explored
# (tokio-rs/loom#166, #392; model 10 explored one execution). The patch makes
# a store or rmw depend on every thread's last load. The registry's copy is
# patched into target/loom-patched and used for this run only (--config), so
# Cargo.lock is restored afterwards.
#
# Usage: [LOOM_MAX_PREEMPTIONS=N] scripts/loom.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export RUSTFLAGS="--cfg dagqueue_loom"
export CARGO_TARGET_DIR="$root/target/loom"
cargo fetch -q
source_dir=$(cargo metadata --format-version 1 -q |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "loom")[:-len("/Cargo.toml")])')
case "$source_dir" in
*/loom-0.7.3) ;;
*) echo "scripts/loom.sh: the patch is for loom 0.7.3, found $source_dir" >&2; exit 1 ;;
esac
patched="$root/target/loom-patched/loom"
if ! cmp -s "$root/loom-tests/loom-dpor.patch" "$patched.patch" 2>/dev/null; then
    rm -rf "$patched"
    mkdir -p "$(dirname "$patched")"
    cp -r "$source_dir" "$patched"
    chmod -R u+w "$patched"
    (cd "$patched" && git apply -p1 "$root/loom-tests/loom-dpor.patch")
    cp "$root/loom-tests/loom-dpor.patch" "$patched.patch"
fi
cp Cargo.lock "$CARGO_TARGET_DIR.Cargo.lock.saved" 2>/dev/null || { mkdir -p "$CARGO_TARGET_DIR"; cp Cargo.lock "$CARGO_TARGET_DIR.Cargo.lock.saved"; }
trap 'cp "$CARGO_TARGET_DIR.Cargo.lock.saved" Cargo.lock' EXIT
cargo test -p loom-tests --release --config "patch.crates-io.loom.path=\"$patched\"" "$@"
