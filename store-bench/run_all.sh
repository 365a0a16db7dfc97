#!/usr/bin/env bash
# Runs every case of store-bench, as recorded in docs/bench/store_compare.txt:
#   store-bench/run_all.sh | tee docs/bench/store_compare.txt
# Data goes under target/store-data/ (the real disk; not /tmp, which may be
# tmpfs). --cold drops the page cache before one of the opens (root only).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q --manifest-path store-bench/Cargo.toml
bin="$CARGO_TARGET_DIR/release/store-bench"
echo "## $(date -u +%FT%TZ)  $(git rev-parse --short HEAD)  $(rustc --version)"
echo "## $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB"
echo "## load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo tree --manifest-path store-bench/Cargo.toml -e normal --depth 1 --prefix none | sed 's/^/## /'
run() {
    echo
    echo "\$ store-bench $*"
    local t0=$SECONDS
    "$bin" "$@"
    echo "## ($((SECONDS - t0)) s wall; load average $(cut -d' ' -f1-3 /proc/loadavg))"
}
run fsync
run group --stores redb,fjall,sqlite,redb-qr,fjall-data --threads 1,4,16 --secs 3 --reps 3
run relaxed --threads 1,4,16 --secs 3 --reps 3
run bigbatch --big 100000
run recovery --rows 1000000 --batch 10000 --cold --stores redb,redb-qr,fjall,sqlite
run bounded --rows 1000000 --batch 10000
run churn --threads 16 --secs 20
run corrupt --rows 400000
