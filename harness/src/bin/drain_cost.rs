//! One thread's cost of a job, in three phases, on one long-lived queue:
//! submit 20k independent jobs, drain them (claim, start, complete) on a
//! fresh thread, prune them; 200 rounds, the best round of each phase in ns
//! a job (and the drain's median round). `subscribed` keeps a subscriber attached that reads (and mostly
//! lags behind) between rounds. For comparing two builds of the library in
//! the same hour (`scripts/drain_ab.sh`), where Criterion's noise on a
//! shared 2-core machine hides a few ns; not a benchmark of its own.
//!
//! Usage: `cargo run --release -p dagqueue-harness --bin drain_cost -- [plain|subscribed] [rounds]`

use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType, TryRecvError};
use std::time::Instant;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "plain".into());
    let rounds: u64 = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let jobs: u64 = 20_000;
    let queue = JobQueue::new();
    let mut events = (mode == "subscribed").then(|| queue.subscribe());
    let (mut submit, mut drain, mut prune) = (f64::MAX, f64::MAX, f64::MAX);
    let mut received = 0u64;
    let mut drains: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        for id in 0..jobs {
            queue
                .submit(JobSpec::new(JobId(round * jobs + id)))
                .expect("submit");
        }
        submit = submit.min(start.elapsed().as_nanos() as f64 / jobs as f64);
        let drained = std::thread::scope(|s| {
            s.spawn(|| {
                let start = Instant::now();
                let mut done = 0;
                while let Some(claim) = queue.claim(RunnerType::DEFAULT) {
                    queue.start(&claim).expect("start");
                    queue.complete(claim, Outcome::Success).expect("complete");
                    done += 1;
                }
                (start.elapsed().as_nanos() as f64 / jobs as f64, done)
            })
            .join()
            .expect("the drain thread")
        });
        assert_eq!(drained.1, jobs, "every job drained");
        drain = drain.min(drained.0);
        drains.push(drained.0);
        let start = Instant::now();
        assert_eq!(queue.prune_finished().len() as u64, jobs);
        prune = prune.min(start.elapsed().as_nanos() as f64 / jobs as f64);
        if let Some(events) = events.as_mut() {
            while let Ok(_) | Err(TryRecvError::Lagged(_)) = events.try_recv() {
                received += 1;
            }
        }
    }
    drains.sort_by(f64::total_cmp);
    let median = drains[drains.len() / 2];
    println!(
        "{mode}: best of {rounds} rounds, ns a job: submit {submit:.1}, drain {drain:.1} (median {median:.1}), prune {prune:.1} ({received} events or lags received)"
    );
}
