#!/usr/bin/env bash
# Run from a folder packed by `scripts/many_cores.sh --pack DIR` (plus, for
# the pairs probe, `rustc -O pingpong.rs` there; for the A/B, the two
# builds' `dagqueue` binaries as dagqueue_old and dagqueue_new).
# Device probe 2: cross-core line round trips by CPU pair, and the main job
# at 1 worker confined to CPU pairs.
cd "$(dirname "$0")"
out=${OUT:-/tmp/probe}; mkdir -p "$out"
{
for b in 1 2 4 7 8 11 15; do ./pingpong 0 $b; done
./pingpong 5 13; ./pingpong 3 9
for p in 0,1 0,8 0,15 0-15; do
  for r in 1 2; do
    echo "-- taskset -c $p, round $r"
    taskset -c $p ./dagqueue --jobs 200000 --threads 1 --json 2>/dev/null | grep '^{' | python3 -c "
import json,sys
for l in sys.stdin:
    r=json.loads(l); d=r['dagqueue']; b=r['baseline']
    print('ratio', r['ratio'], 'dq elapsed %.3f submit %.3f' % (d['elapsed_s'], d['submit_s']), 'pl elapsed %.3f submit %.3f' % (b['elapsed_s'], b['submit_s']))"
  done
done
} 2>&1 | tee "$out/probe2.txt"
