#!/usr/bin/env bash
# Runs the differential fuzz target (fuzz/fuzz_targets/differential.rs,
# cargo-fuzz + libFuzzer, nightly): arbitrary bytes decoded into operation
# sequences, bad input included, applied to JobQueue and the mutex baseline
# and compared after every step. Built with AddressSanitizer (cargo-fuzz's
# default) and debug assertions (overflow checks included).
#
# Usage: scripts/fuzz.sh [SECONDS] [extra libFuzzer flags]
#   SECONDS: how long libFuzzer runs (default 60; -max_total_time).
# Seeds: the committed corpus fuzz/corpus/differential/ (read only); what the
# run finds new goes to the working corpus fuzz/target/corpus/differential/
# (ignored by git, kept between runs: a later run starts where this one
# stopped). A finding is written to fuzz/artifacts/differential/ and the run
# fails, printing the difference (both sides) and the decoded operations;
# `cargo +nightly fuzz fmt differential <artifact>` prints them again.
# Prints SKIPPED and exits 0 when no nightly toolchain is installed; installs
# cargo-fuzz (`cargo install cargo-fuzz --locked`, about 2 minutes on 2
# cores) when it is missing. The first build takes about 5 minutes on 2 cores.
# Long run (docs/VERIFICATION.md, "Fuzzing"): scripts/fuzz.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "SKIPPED: fuzz (nightly absent)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    start=$(date +%s)
    cargo install cargo-fuzz --locked --quiet
    echo "fuzz: cargo-fuzz installed in $(( $(date +%s) - start )) s"
fi

seeds=fuzz/corpus/differential
work=fuzz/target/corpus/differential
log=fuzz/target/last-run.log
mkdir -p "$work" "$seeds"
start=$(date +%s)
if ! cargo +nightly fuzz build --debug-assertions differential >"$log" 2>&1; then
    echo "scripts/fuzz.sh: FAILED to build the fuzz target; the log ($log):" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "fuzz: built in $(( $(date +%s) - start )) s; running ${seconds} s (seeds: $(ls "$seeds" | wc -l) committed, $(ls "$work" | wc -l) in the working corpus)"
status=0
# -timeout: an input running 10 s is a finding (a hang); -max_len: the
# decoder reads at most 128 operations, well within 2 KiB.
cargo +nightly fuzz run --debug-assertions differential "$work" "$seeds" -- \
    -max_total_time="$seconds" -timeout=10 -max_len=2048 -print_final_stats=1 "$@" \
    >"$log" 2>&1 || status=$?
# libFuzzer's last status line (executions, coverage, corpus, exec/s), its
# closing line and its final stats.
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^Done [0-9]+ runs' "$log" || true
grep -E '^stat::' "$log" || true
if [ "$status" -ne 0 ]; then
    if grep -q 'Test unit written to' "$log"; then
        echo "scripts/fuzz.sh: FAILED: a finding; the log ($log) ends:" >&2
    else
        echo "scripts/fuzz.sh: FAILED: libFuzzer exited $status; the log ($log) ends:" >&2
    fi
    tail -n 80 "$log" >&2
fi
exit "$status"
