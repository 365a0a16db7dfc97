#!/usr/bin/env bash
# Does the claimer's prefetch of the records behind its lane entry hide the
# 1M-jobs miss of `scale` (issue 12, item 7)? Builds `benches/scale.rs`
# three ways, each an export in its own directory, and runs
# `scale/JobQueue` at 1k and 1M jobs queued, the builds in turn, ROUNDS
# times:
#
#   segqueue     the lanes before `record_fifo.rs`: crossbeam's SegQueue,
#                which shows no entry but the one popped (commit BASE,
#                default 1b8c7dc)
#   no-prefetch  HEAD with docs/bench/experiments/no-prefetch.patch: the
#                lanes of `record_fifo.rs`, the claimer prefetching nothing
#   main         HEAD: the claimer prefetches the records of the next
#                entries (`record_fifo::LOOK_AHEAD`)
#
# `no-prefetch` against `main` is the prefetch's effect; `segqueue` against
# `no-prefetch` the lane's own.
#
# Usage: [ROUNDS=3] [BASE=<commit>] scripts/scale_prefetch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
variants="segqueue no-prefetch main"

for variant in $variants; do
    dir="$work/$variant"
    mkdir -p "$dir"
    case $variant in
        segqueue) git archive "${BASE:-1b8c7dc}" | tar -x -C "$dir" ;;
        *) git archive HEAD | tar -x -C "$dir" ;;
    esac
    case $variant in
        no-prefetch) (cd "$dir" && git apply "$root/docs/bench/experiments/no-prefetch.patch") ;;
    esac
    (cd "$dir" && cargo bench --bench scale --no-run >/dev/null 2>&1)
    bin=$(ls -t "$dir"/target/release/deps/scale-* | grep -v '\.d$' | head -1)
    cp "$bin" "$work/scale-$variant"
done

for round in $(seq "${ROUNDS:-3}"); do
    for variant in $variants; do
        echo "== $variant, round $round"
        "$work/scale-$variant" --bench --quick --warm-up-time 0.5 --measurement-time 2 \
            'scale/JobQueue/(1000|1000000)$' 2>&1 | grep -E '^scale|time:' | paste - - |
            sed -E 's/ +/ /g; s/\t.*//'
    done
done
