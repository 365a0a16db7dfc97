//! Memory and claim latency after churn (issue 12, item 5): a queue with
//! `LIVE` pending jobs takes `CALLS` churning calls, in rounds; after each
//! round one job is claimed (timed), completed, pruned and submitted
//! again.
//!
//! - `reprioritize`: each call moves one live job between two levels (a
//!   stale lane entry each, before compaction);
//! - `cancel`: each call submits a job and cancels it (pruned every
//!   10,000 calls).
//!
//! Reports the growth of resident memory over the run (`/proc/self/statm`),
//! and the claims' latency percentiles, for `JobQueue` and
//! `ParkingLotQueue` in the same run. Each queue runs in a fresh process
//! (the binary re-runs itself) so that one's memory does not count in the
//! other's.
//!
//! Usage: `cargo run --release -p dagqueue-harness --bin churn -- [reprioritize|cancel] [calls] [live] [round]`
//! (defaults: reprioritize, 2,000,000, 1,000, 1,000; `round` = `calls`: one claim, after all the churn).

use dagqueue::{JobId, JobQueue, JobSpec, Outcome, Priority, QueueConfig, RunnerType};
use harness::baseline::ParkingLotQueue;
use harness::Scheduler;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "reprioritize".into());
    let calls: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let live: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let round: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let churn = Churn {
        mode: &mode,
        calls,
        live,
        round,
    };
    match args.get(5).map(String::as_str) {
        Some("JobQueue") => churn.run(&JobQueue::new(), "JobQueue"),
        Some("ParkingLot") => {
            churn.run(&ParkingLotQueue::new(QueueConfig::default()), "ParkingLot")
        }
        _ => {
            println!("# churn {mode}: {calls} calls, {live} live jobs, a timed claim every {round} calls");
            for queue in ["JobQueue", "ParkingLot"] {
                let status = std::process::Command::new(&args[0])
                    .args([
                        &mode,
                        &calls.to_string(),
                        &live.to_string(),
                        &round.to_string(),
                        queue,
                    ])
                    .status()
                    .expect("re-run the binary");
                assert!(status.success(), "{queue} run failed");
            }
        }
    }
}

/// One churn run's parameters.
struct Churn<'a> {
    mode: &'a str,
    calls: u64,
    live: u64,
    /// Churning calls between two timed claims.
    round: u64,
}

impl Churn<'_> {
    fn run(&self, queue: &dyn Scheduler, name: &str) {
        let Churn {
            mode,
            calls,
            live,
            round,
        } = *self;
        for id in 0..live {
            queue
                .submit(JobSpec::new(JobId(id)).priority(Priority::Low))
                .expect("submit");
        }
        let before = resident_kib();
        let mut next_id = live.max(1 << 40);
        let mut latencies = Vec::with_capacity((calls / round) as usize);
        let started = Instant::now();
        let mut done = 0;
        while done < calls {
            for call in 0..round {
                match mode {
                    "reprioritize" => {
                        // Every pass over the live jobs moves each to the
                        // other level.
                        let id = JobId((done + call) % live);
                        let priority = if (done + call) / live % 2 == 0 {
                            Priority::High
                        } else {
                            Priority::Low
                        };
                        queue.reprioritize(id, priority).expect("reprioritize");
                    }
                    "cancel" => {
                        let id = JobId(next_id);
                        next_id += 1;
                        queue.submit(JobSpec::new(id)).expect("submit");
                        queue.cancel(id).expect("cancel");
                        // The cancelled records go (their lane entries are
                        // what is measured).
                        if (done + call) % 10_000 == 9_999 {
                            queue.prune_finished();
                        }
                    }
                    other => panic!("unknown mode {other}"),
                }
            }
            done += round;
            let start = Instant::now();
            let claim = queue.claim(RunnerType::DEFAULT).expect("a pending job");
            latencies.push(start.elapsed().as_nanos() as u64);
            let id = claim.job();
            queue.start(&claim).expect("start");
            queue.complete(claim, Outcome::Success).expect("complete");
            // Pruned (with the cancelled jobs) and submitted again: the live
            // jobs stay 0..live, all pending.
            queue.prune_finished();
            queue
                .submit(JobSpec::new(id).priority(Priority::Low))
                .expect("resubmit");
        }
        let elapsed = started.elapsed();
        let grown = resident_kib().saturating_sub(before);
        latencies.sort_unstable();
        let at =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
        "{name:>10}: {calls} calls in {:.2} s; RSS +{:.1} MiB; {} claims, ns: p50 {}, p99 {}, p99.9 {}, max {}",
        elapsed.as_secs_f64(),
        grown as f64 / 1024.0,
        latencies.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        latencies.last().copied().unwrap_or(0),
    );
    }
}

/// This process's resident memory, KiB (`/proc/self/statm`; 0 elsewhere).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}
