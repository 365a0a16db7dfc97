#!/usr/bin/env bash
# Same-hour A/B of two commits with `submit_cost` (harness/src/bin/submit_cost.rs):
# a Montage-like workflow (harness/src/workflow.rs, ~9.8 edges a task)
# submitted by one thread and drained by one thread, ns a task for each
# phase and for dropping the queue. Each commit's tree is exported (git
# archive) and HEAD's measuring program and workflow generator are built
# against it; then the builds run in turn, ROUNDS times: `single` (one
# submit a job), `batch` (one submit_many, where the revision has it) and
# `parking_lot` (the mutex baseline of that revision).
#
# Usage: [ROUNDS=3] [TASKS=100000] scripts/submit_ab.sh REV_A REV_B
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ $# -eq 2 ] || { echo "usage: $0 REV_A REV_B" >&2; exit 2; }
tasks="${TASKS:-100000}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for rev in "$1" "$2"; do
    dir="$work/$rev"
    mkdir -p "$dir"
    git archive "$rev" | tar -x -C "$dir"
    mkdir -p "$dir/harness/src/bin"
    cp "$root/harness/src/bin/submit_cost.rs" "$dir/harness/src/bin/"
    cp "$root/harness/src/workflow.rs" "$dir/harness/src/"
    grep -q 'pub mod workflow;' "$dir/harness/src/lib.rs" \
        || printf '\n/// Real-shaped workflow graphs.\npub mod workflow;\n' >> "$dir/harness/src/lib.rs"
    grep -q 'name = "submit_cost"' "$dir/harness/Cargo.toml" \
        || printf '\n[[bin]]\nname = "submit_cost"\npath = "src/bin/submit_cost.rs"\nbench = false\ntest = false\n' >> "$dir/harness/Cargo.toml"
    if ! grep -q 'pub fn submit_many' -r "$dir/src"; then
        # No batch submit there: the batch mode is left out.
        sed -i 's/        queue.submit_many(specs).expect("submit_many");/        unreachable!("no submit_many in this revision {}", specs.len());/' \
            "$dir/harness/src/bin/submit_cost.rs"
    fi
    (cd "$dir" && cargo build --release -p dagqueue-harness --bin submit_cost >/dev/null 2>&1) \
        || { echo "build of $rev failed" >&2; exit 1; }
done
for round in $(seq "${ROUNDS:-3}"); do
    for rev in "$1" "$2"; do
        echo "== $rev, round $round ($(date -u +%H:%M:%S) UTC)"
        for mode in single batch parking_lot; do
            if [ "$mode" = batch ] && ! grep -q 'pub fn submit_many' -r "$work/$rev/src"; then
                continue
            fi
            "$work/$rev/target/release/submit_cost" "$mode" "$tasks" 3
        done
    done
done
