#!/usr/bin/env bash
# Same-hour A/B of two commits with `drain_cost` (harness/src/bin/drain_cost.rs):
# each commit's library is exported (git archive) and the harness binary of
# HEAD is built against it, then the builds run in turn, ROUNDS times.
# Revisions older than the binary's API (subscribe) run in `plain` mode only.
#
# Usage: [ROUNDS=3] scripts/drain_ab.sh REV_A REV_B
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ $# -eq 2 ] || { echo "usage: $0 REV_A REV_B" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for rev in "$1" "$2"; do
    mkdir -p "$work/$rev"
    git archive "$rev" | tar -x -C "$work/$rev"
    # The measuring program is HEAD's, whatever the library's revision.
    mkdir -p "$work/$rev/harness/src/bin"
    cp "$root/harness/src/bin/drain_cost.rs" "$work/$rev/harness/src/bin/"
    if ! grep -q 'name = "drain_cost"' "$work/$rev/harness/Cargo.toml"; then
        printf '\n[[bin]]\nname = "drain_cost"\npath = "src/bin/drain_cost.rs"\nbench = false\ntest = false\n' >> "$work/$rev/harness/Cargo.toml"
    fi
    if ! grep -q 'pub fn subscribe' -r "$work/$rev/src"; then
        # No event stream there: measure without it.
        sed -i 's/use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType, TryRecvError};/use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};/; s/let mut events = (mode == "subscribed").then(|| queue.subscribe());/let mut events: Option<()> = None;/; s/            while let Ok(_) | Err(TryRecvError::Lagged(_)) = events.try_recv() {/            if let () = events {/' "$work/$rev/harness/src/bin/drain_cost.rs"
    fi
    (cd "$work/$rev" && cargo build --release -p dagqueue-harness --bin drain_cost >/dev/null 2>&1)
done
for round in $(seq "${ROUNDS:-3}"); do
    for rev in "$1" "$2"; do
        echo "== $rev, round $round ($(date -u +%H:%M:%S) UTC)"
        "$work/$rev/target/release/drain_cost" plain
        if grep -q 'pub fn subscribe' -r "$work/$rev/src"; then
            "$work/$rev/target/release/drain_cost" subscribed
        fi
    done
done
