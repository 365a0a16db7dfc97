#!/usr/bin/env bash
# Issue 12 item 8: the lifecycle, workflow (edge-heavy DAG) and main-job
# measurements at 1, 2, 4, 8 and 16 threads, for a many-core machine (the
# device lent to some sessions: run it there as one command). Everything
# is built first; each measurement then runs under `timeout`, so a hung
# run costs at most its limit; the outputs go to $OUT (or target/many_cores)
# as text, one file a measurement, plus the machine's description.
#
# Usage: [THREADS=1,2,4,8,16] [LIMIT=120] scripts/many_cores.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-target/many_cores}"
threads="${THREADS:-1,2,4,8,16}"
limit="${LIMIT:-120}"
mkdir -p "$out"
{ date -u; nproc; lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|Thread|NUMA node\(s\)'; } > "$out/machine.txt"
cargo build --release -q -p dagqueue-harness --bin dagqueue
cargo bench --no-run -q --bench lifecycle --bench workflow
run() {
    local name=$1; shift
    echo "== $name ($(date -u +%T))"
    timeout "$limit" "$@" > "$out/$name.txt" 2>&1
    echo "   exit $? (output in $out/$name.txt)"
}
export DAGQUEUE_BENCH_THREADS="$threads"
run lifecycle cargo bench -q --bench lifecycle -- --quick 'lifecycle/(JobQueue|ParkingLot|StdMutex|Floor)/'
run workflow cargo bench -q --bench workflow -- --quick '/100000'
for n in ${threads//,/ }; do
    run "main_job_$n" ./target/release/dagqueue --jobs 200000 --threads "$n" --json
done
grep -h -E '^(lifecycle|workflow)|time:' "$out"/lifecycle.txt "$out"/workflow.txt | paste - - | awk '{print $1, $4, $5, $6, $7, $8, $9}'
cat "$out"/main_job_*.txt
