#!/usr/bin/env bash
# Same-run A/B of two commits on the `lifecycle` group: each commit is
# exported (git archive) into its own directory and built once, then the
# two are measured in turn, ROUNDS times, so that drift on a shared machine
# shows up as disagreement between rounds rather than as a difference.
# Prints, per round and build, ns a job and jobs/s for JobQueue and the
# ParkingLot baseline at 1 and 2 threads, and JobQueue / ParkingLot
# (REF=Floor: against the atomic floor instead).
#
# Usage: [ROUNDS=3] [REF=ParkingLot|StdMutex|Floor] scripts/bench_ab.sh REV_A REV_B [criterion args...]
#   e.g. scripts/bench_ab.sh 04e701b HEAD --quick
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ $# -ge 2 ] || { echo "usage: $0 REV_A REV_B [criterion args...]" >&2; exit 2; }
a=$1 b=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for rev in "$a" "$b"; do
    dir="$work/$rev"
    mkdir -p "$dir"
    git archive "$rev" | tar -x -C "$dir"
    (cd "$dir" && cargo bench --bench lifecycle --no-run >/dev/null 2>&1)
done

# The lifecycle group drains this many jobs per iteration (benches/lifecycle.rs).
jobs=20000
if [ "${DAGQUEUE_BENCH_FULL:-}" = 1 ]; then jobs=200000; fi

sleep 10
for round in $(seq "${ROUNDS:-3}"); do
for rev in "$a" "$b"; do
    echo "== $rev, round $round ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    (cd "$work/$rev" &&
        cargo bench --bench lifecycle -- "$@" "lifecycle/(JobQueue|${REF:-ParkingLot})/" 2>/dev/null) |
        awk -v jobs="$jobs" -v ref="${REF:-ParkingLot}" -f "$root/scripts/lifecycle_ratio.awk"
done
done
