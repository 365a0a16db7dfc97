#!/usr/bin/env bash
# Runs the shuttle scenarios (shuttle-tests/): randomized schedules (PCT and
# uniform random) of 3 to 8 threads and dozens of jobs over the crate's real
# code, built with `--cfg dagqueue_shuttle` in its own target directory, in
# release. Prints, per scenario, the schedules explored under each scheduler
# and the time, and, per negative control, the schedule that caught it; the
# whole log (with shuttle's replayable schedule of any failure) is kept in
# target/shuttle/last-run.log and printed when the run fails.
#
# Usage: [DAGQUEUE_SHUTTLE_ITERATIONS=N] [DAGQUEUE_SHUTTLE_SEED=S]
#        [DAGQUEUE_SHUTTLE_PCT_DEPTH=D] scripts/shuttle.sh [extra test args]
#   N: schedules per scheduler per scenario (default 2000: 24,000 in all,
#      about a minute on 2 cores); S: the seed (default fixed, so CI
#      explores the same schedules every run; negative controls always use
#      the fixed one); D: PCT's bug depth (default 3).
# Long run (docs/VERIFICATION.md): e.g.
#   DAGQUEUE_SHUTTLE_ITERATIONS=100000 DAGQUEUE_SHUTTLE_SEED=$RANDOM scripts/shuttle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export RUSTFLAGS="--cfg dagqueue_shuttle"
export CARGO_TARGET_DIR="$root/target/shuttle"
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"
mkdir -p "$CARGO_TARGET_DIR"
log="$CARGO_TARGET_DIR/last-run.log"
cargo build -q -p shuttle-tests --tests --release
start=$(date +%s)
status=0
cargo test -p shuttle-tests --release -- --nocapture "$@" >"$log" 2>&1 || status=$?
grep -E '^shuttle: |^test .* \.\.\. |^test result: ' "$log" | grep -v '^test result: ok. 0 passed' || true
echo "scripts/shuttle.sh: $(( $(date +%s) - start )) s"
if [ "$status" -ne 0 ]; then
    echo "scripts/shuttle.sh: FAILED; the log ($log):" >&2
    tail -n 200 "$log" >&2
fi
exit "$status"
