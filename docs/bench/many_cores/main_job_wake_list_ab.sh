#!/usr/bin/env bash
# Run from a folder packed by `scripts/many_cores.sh --pack DIR` (plus, for
# the pairs probe, `rustc -O pingpong.rs` there; for the A/B, the two
# builds' `dagqueue` binaries as dagqueue_old and dagqueue_new).
# Device probe 3: the main job, 1849221 (old) against the cluster's own
# wake list (new), alternated, idle and beside 16 busy loops.
cd "$(dirname "$0")"
out=${OUT:-/tmp/probe}; mkdir -p "$out"
summ() { python3 -c "
import json,sys
for l in sys.stdin:
    r=json.loads(l); d=r['dagqueue']; b=r['baseline']
    print('ratio', r['ratio'], 'dq %.0f jobs/s elapsed %.3f submit %.3f' % (d['jobs_per_s'], d['elapsed_s'], d['submit_s']), 'pl %.0f jobs/s' % b['jobs_per_s'], 'verified', r['verified'])"; }
{
for t in 1 4 16; do for r in 1 2; do for b in old new; do
  echo -n "threads $t round $r $b: "; ./dagqueue_$b --jobs 200000 --threads $t --json 2>/dev/null | grep '^{' | summ
done; done; done
busy=(); for _ in $(seq 16); do (while :; do :; done) & busy+=($!); done
for r in 1 2; do for b in old new; do
  echo -n "16 threads beside 16 busy loops, round $r $b: "; ./dagqueue_$b --jobs 200000 --threads 16 --json 2>/dev/null | grep '^{' | summ
done; done
kill "${busy[@]}"
} 2>&1 | tee "$out/probe3.txt"
