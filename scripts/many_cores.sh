#!/usr/bin/env bash
# Issue 12 item 8: the lifecycle, dag, workflow (edge-heavy DAG) and
# main-job measurements at 1, 2, 4, 8 and 16 threads, for a many-core
# machine; and item 5's claim latency after churn (harness/src/bin/churn.rs,
# CHURN=1, the default), which wants a quiet machine. Each measurement runs under `timeout`, so a hung run costs at
# most its limit; the outputs go to $OUT (or target/many_cores), one text
# file a measurement plus the machine's description and a summary.
#
# Usage:
#   [THREADS=1,2,4,8,16] [LIMIT=150] [LOADED_ROUNDS=1] scripts/many_cores.sh
#                                                              build with cargo, then run
#   scripts/many_cores.sh --pack DIR                           build, copy the binaries and this
#                                                              script into DIR (for a machine
#                                                              without cargo), run nothing
#   [THREADS=...] DIR/many_cores.sh                            run the binaries beside the script
#
# The criterion runs are `--quick` with a shortened warm-up and measurement
# (QUICK_ARGS), so that the whole set fits one 10-minute command on 16 cores.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
benches=(lifecycle dag workflow)
# The binaries by name: the benches', `main` (the main job) and `churn`.
declare -A bin=()

build() {
    cd "$here/.." || exit 1
    local args=() b
    for b in "${benches[@]}"; do args+=(--bench "$b"); done
    local log
    log=$(cargo bench --no-run "${args[@]}" 2>&1) || { echo "$log"; exit 1; }
    cargo build --release -q -p dagqueue-harness --bin dagqueue --bin churn || exit 1
    for b in "${benches[@]}"; do
        path=$(echo "$log" | grep -o "target/release/deps/$b-[0-9a-f]*" | tail -1)
        [ -n "$path" ] || { echo "no binary for bench $b in:"; echo "$log"; exit 1; }
        bin[$b]="$PWD/$path"
    done
    bin[main]="$PWD/target/release/dagqueue"
    bin[churn]="$PWD/target/release/churn"
}

if [ "${1:-}" = "--pack" ]; then
    dir="${2:?--pack needs a folder}"
    build
    mkdir -p "$dir"
    for b in "${benches[@]}" churn; do cp "${bin[$b]}" "$dir/$b"; done
    cp "${bin[main]}" "$dir/dagqueue"
    # The bench profile keeps debug info (for profiling): strip the copies,
    # which carry to another machine in a few megabytes.
    if command -v strip > /dev/null; then
        for b in "${benches[@]}" churn dagqueue; do strip "$dir/$b"; done
    fi
    cp "$here/many_cores.sh" "$dir/many_cores.sh"
    git -C "$here/.." rev-parse --short HEAD > "$dir/commit.txt"
    echo "packed into $dir: $(ls "$dir" | tr '\n' ' ')"
    exit 0
fi

if [ -x "$here/lifecycle" ] && [ -x "$here/dagqueue" ]; then
    for b in "${benches[@]}" churn; do bin[$b]="$here/$b"; done
    bin[main]="$here/dagqueue"
    built="$(cat "$here/commit.txt" 2>/dev/null || echo unknown)"
    cd "$here" || exit 1
else
    build
    built="$(git rev-parse --short HEAD)"
fi

out="${OUT:-target/many_cores}"
threads="${THREADS:-1,2,4,8,16}"
limit="${LIMIT:-150}"
quick=(--bench --quick ${QUICK_ARGS:---warm-up-time 0.3 --measurement-time 1})
mkdir -p "$out"
{
    echo "commit $built, started $(date -u +%FT%TZ)"
    echo "nproc $(nproc)"
    grep -m1 "model name" /proc/cpuinfo
    lscpu 2>/dev/null | grep -E '^CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)|L3'
    uptime
} > "$out/machine.txt"
cat "$out/machine.txt"

run() {
    local name=$1; shift
    echo "== $name ($(date -u +%T))"
    timeout "$limit" "$@" >> "$out/$name.txt" 2>&1
    echo "   exit $? ($(date -u +%T))"
}

export DAGQUEUE_BENCH_THREADS="$threads"
for n in ${threads//,/ }; do
    echo "-- threads $n" >> "$out/main_job.txt"
    run main_job "${bin[main]}" --jobs 200000 --threads "$n" --json
done
run lifecycle "${bin[lifecycle]}" "${quick[@]}" 'lifecycle/(JobQueue|StdMutex|ParkingLot|Floor)/'
run dag "${bin[dag]}" "${quick[@]}"
run workflow "${bin[workflow]}" "${quick[@]}" '/100000'

# Issue 12 item 5: claim latency after churn (p50 / p99 / p99.9 of 2,000
# claims), JobQueue and ParkingLot, before anything loads the machine.
if [ "${CHURN:-1}" = 1 ]; then
    for args in "reprioritize 2000000 1 1000" "reprioritize 2000000 1000 1000" \
        "cancel 1000000 1000 1000" "reprioritize 2000000 1 2000000"; do
        # shellcheck disable=SC2086 # the arguments are meant to split
        run churn "${bin[churn]}" $args
    done
fi

# Issue 12 item 4 on this machine (LOADED=1, the default): oversubscribed
# (twice as many workers as cores), then the same beside one busy-loop
# process a core.
if [ "${LOADED:-1}" = 1 ]; then
    cores=$(nproc)
    export DAGQUEUE_BENCH_THREADS="$cores,$((2 * cores))"
    echo "-- threads $((2 * cores)) (2x cores)" >> "$out/main_job.txt"
    run main_job "${bin[main]}" --jobs 200000 --threads "$((2 * cores))" --json
    busy=()
    for _ in $(seq "$cores"); do (while :; do :; done) & busy+=($!); done
    # LOADED_ROUNDS (default 1): loaded runs vary a lot from one to the next.
    for round in $(seq "${LOADED_ROUNDS:-1}"); do
        for n in "$cores" "$((2 * cores))"; do
            echo "-- threads $n beside $cores busy loops (round $round)" >> "$out/main_job.txt"
            run main_job "${bin[main]}" --jobs 200000 --threads "$n" --json
        done
    done
    echo "(beside $cores busy loops)" >> "$out/lifecycle.txt"
    run lifecycle "${bin[lifecycle]}" "${quick[@]}" 'lifecycle/(JobQueue|ParkingLot|Floor)/'
    kill "${busy[@]}" 2> /dev/null
    wait 2> /dev/null
fi

# One line a benchmark: its id and Criterion's [low median high] time.
cat "$out/lifecycle.txt" "$out/dag.txt" "$out/workflow.txt" \
    | awk '/^\(beside/ { print } /^(lifecycle|dag|workflow)/ { id = $1 } /time:/ && !/%/ { t = $0; sub(/.*time: +/, "", t); print id, t }' \
    > "$out/summary.txt"
python3 - "$out/main_job.txt" >> "$out/summary.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("--"):
        print(line.strip())
    if line.startswith("{"):
        r = json.loads(line)
        print(f"main_job/{r['threads']}: dagqueue {r['dagqueue_jobs_per_s']:.0f} jobs/s, "
              f"baseline {r['baseline_jobs_per_s']:.0f}, ratio {r['ratio']}, verified {r['verified']}")
PY
[ -f "$out/churn.txt" ] && sed 's/^/churn: /' "$out/churn.txt" >> "$out/summary.txt"
cat "$out/summary.txt"
