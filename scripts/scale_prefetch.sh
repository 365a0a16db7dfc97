#!/usr/bin/env bash
# Would a claimer that can see the next lane entry hide the 1M-jobs miss of
# `scale` (issue 12, item 7)? Builds `benches/scale.rs` three ways, each an
# export of HEAD in its own directory, and runs `scale/JobQueue` at 1k and
# 1M jobs queued, the builds in turn, ROUNDS times:
#
#   main       the committed lanes (crossbeam's SegQueue, which shows no
#              entry but the one popped)
#   peek       docs/bench/experiments/peek-lanes.patch: each lane a
#              VecDeque under a lock, popped the same way (the same
#              lanes as `prefetch`, without the prefetch)
#   prefetch   docs/bench/experiments/peek-lanes-prefetch.patch: as
#              `peek`, and the claimer prefetches the next entry's record
#              (its first line and its state word) while it claims this one
#
# `peek` against `prefetch` is the prefetch's effect; neither is a
# configuration to run (a lock a lane is what the crate exists to avoid).
#
# Usage: [ROUNDS=3] scripts/scale_prefetch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for variant in main peek prefetch; do
    dir="$work/$variant"
    mkdir -p "$dir"
    git archive HEAD | tar -x -C "$dir"
    case $variant in
        peek) (cd "$dir" && git apply "$root/docs/bench/experiments/peek-lanes.patch") ;;
        prefetch) (cd "$dir" && git apply "$root/docs/bench/experiments/peek-lanes-prefetch.patch") ;;
    esac
    (cd "$dir" && cargo bench --bench scale --no-run >/dev/null 2>&1)
    bin=$(ls -t "$dir"/target/release/deps/scale-* | grep -v '\.d$' | head -1)
    cp "$bin" "$work/scale-$variant"
done

for round in $(seq "${ROUNDS:-3}"); do
    for variant in main peek prefetch; do
        echo "== $variant, round $round"
        "$work/scale-$variant" --bench --quick --warm-up-time 0.5 --measurement-time 2 \
            'scale/JobQueue/(1000|1000000)$' 2>&1 | grep -E '^scale|time:' | paste - - |
            sed -E 's/ +/ /g; s/\t.*//'
    done
done
