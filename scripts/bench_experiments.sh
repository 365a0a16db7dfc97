#!/usr/bin/env bash
# Where does JobQueue's time per job go, beyond the floor's? Runs the
# `lifecycle` group (JobQueue and Floor, 1 and 2 threads) on three builds of
# the committed code, each exported into its own directory:
#
#   as-is       the committed code
#   no-clock    docs/bench/experiments/no-clock.patch: the clock returns a
#               constant (no clock_gettime on claim, complete or submit)
#   no-metrics  docs/bench/experiments/no-metrics.patch: claim and complete
#               keep no metrics beyond the status counts' flows (no clock
#               reads, wait average or throughput window; until issue 10
#               the counts went too)
#
# Every ratio it prints compares JobQueue with the Floor of the same run.
# The experiments only remove work to measure its cost; they are not
# configurations anybody should run.
#
# Usage: [ROUNDS=2] scripts/bench_experiments.sh [criterion args...]
#   e.g. scripts/bench_experiments.sh --quick
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for variant in as-is no-clock no-metrics; do
    dir="$work/$variant"
    mkdir -p "$dir"
    git archive HEAD | tar -x -C "$dir"
    if [ "$variant" != as-is ]; then
        (cd "$dir" && git apply "$root/docs/bench/experiments/$variant.patch")
    fi
    (cd "$dir" && cargo bench --bench lifecycle --no-run >/dev/null 2>&1)
done

# The lifecycle group drains this many jobs per iteration (benches/lifecycle.rs).
jobs=20000
if [ "${DAGQUEUE_BENCH_FULL:-}" = 1 ]; then jobs=200000; fi

# Let the builds' load settle, then measure the variants in turn, twice
# (ROUNDS), so that drift on a shared machine shows up as disagreement.
sleep 20
for round in $(seq "${ROUNDS:-2}"); do
for variant in as-is no-clock no-metrics; do
    echo "== $variant, round $round ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    (cd "$work/$variant" &&
        cargo bench --bench lifecycle -- "$@" 'lifecycle/(JobQueue|Floor)/' 2>/dev/null) |
        awk -v jobs="$jobs" -v ref=Floor -f "$root/scripts/lifecycle_ratio.awk"
done
done
