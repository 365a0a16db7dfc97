#!/usr/bin/env bash
# Run from a folder packed by `scripts/many_cores.sh --pack DIR` (plus, for
# the pairs probe, `rustc -O pingpong.rs` there; for the A/B, the two
# builds' `dagqueue` binaries as dagqueue_old and dagqueue_new).
# Device probe (eighth session): why the main job at 1 worker is at parity
# on the 16-core machine; and item 7's scale there.
cd "$(dirname "$0")"
out=${OUT:-/tmp/probe}; mkdir -p "$out"
{
echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) (available: $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource))"
python3 -c "import time;n=10**6;t=time.perf_counter_ns();[time.perf_counter_ns() for _ in range(n)];e=(time.perf_counter_ns()-t)/n;t=time.perf_counter_ns();[0 for _ in range(n)];print('perf_counter_ns loop ns', e, 'empty loop ns', (time.perf_counter_ns()-t)/n)"
summ() { python3 -c "
import json,sys
for l in sys.stdin:
    r=json.loads(l); d=r['dagqueue']; b=r['baseline']
    f=lambda x: 'jobs/s %.0f elapsed %.3f submit %.3f claim_p50 %d empty %d waits %d waiting %.4f invol %d' % (x['jobs_per_s'],x['elapsed_s'],x['submit_s'],x['claim_p50_ns'],x['empty_claims'],x['idle_waits'],x['waiting_s'],x['submitter_involuntary_switches'])
    print('ratio', r['ratio'], 'verified', r['verified']); print('  dq', f(d)); print('  pl', f(b))"; }
j() { echo "-- $*"; "$@" ./dagqueue --jobs 200000 --threads 1 --json 2>/dev/null | grep '^{' | summ; }
for r in 1 2; do
  j env; j taskset -c 0,1 env; j taskset -c 0 env
done
echo "-- 20k jobs"; ./dagqueue --jobs 20000 --threads 1 --json 2>/dev/null | grep '^{' | summ
echo "-- 2 threads, taskset 0,1"; taskset -c 0,1 ./dagqueue --jobs 200000 --threads 2 --json 2>/dev/null | grep '^{' | summ
timeout 120 ./scale --bench --quick --warm-up-time 0.3 --measurement-time 1 'scale/(JobQueue|ParkingLot)/' 2>&1 | grep -E "time:|^scale"
} 2>&1 | tee "$out/probe.txt"
