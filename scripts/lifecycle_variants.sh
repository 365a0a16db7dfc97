#!/usr/bin/env bash
# JobQueue's lifecycle variants against plain JobQueue, in the same run:
# with a lease on every claim (`JobQueueLeased`) and with a 64-byte payload
# read by every worker (`JobQueuePayload64`). ROUNDS runs of the `lifecycle`
# group (JobQueue engines only), each printed as "variant throughput /
# JobQueue throughput" at 1 and 2 threads, so drift on a shared machine
# shows up as disagreement between rounds.
#
# Usage: [ROUNDS=4] scripts/lifecycle_variants.sh [criterion args, default --quick]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--quick)
jobs=20000
if [ "${DAGQUEUE_BENCH_FULL:-}" = 1 ]; then jobs=200000; fi
cargo bench --bench lifecycle --no-run >/dev/null 2>&1
for round in $(seq 1 "${ROUNDS:-4}"); do
    out=$(cargo bench --bench lifecycle -- "${args[@]}" 'lifecycle/JobQueue' 2>&1)
    echo "== round $round ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    for variant in JobQueueLeased JobQueuePayload64; do
        # "JobQueue time / variant time" is the variant's throughput as a
        # fraction of JobQueue's.
        echo "$out" | awk -v jobs="$jobs" -v ref="$variant" -f "$root/scripts/lifecycle_ratio.awk"
    done
done
