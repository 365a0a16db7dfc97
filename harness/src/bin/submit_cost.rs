//! Submit and drain cost of an edge-heavy, real-shaped workflow
//! ([`harness::workflow::Workflow::montage_like`]: about 9.5 edges a task,
//! fan-in-heavy joins): the specs are built first (not timed), then the
//! whole graph is submitted by one thread and drained by one thread
//! (claim, start, complete), every job checked. Best of `rounds` rounds,
//! ns a task, each phase separately. For same-hour A/B of builds
//! (`scripts/submit_ab.sh`) and quick looks; the Criterion benchmark is
//! `benches/workflow.rs`.
//!
//! Usage: `cargo run --release -p dagqueue-harness --bin submit_cost -- [single|batch|parking_lot] [tasks] [rounds]`
//! (`batch`: one `submit_many` of the whole graph).

use dagqueue::{JobId, JobQueue, JobSpec, Outcome, QueueConfig, RunnerType};
use harness::baseline::ParkingLotQueue;
use harness::workflow::Workflow;
use harness::Scheduler;
use std::time::{Duration, Instant};

fn specs(graph: &Workflow) -> Vec<JobSpec> {
    graph
        .dependencies
        .iter()
        .enumerate()
        .map(|(id, deps)| JobSpec::new(JobId(id as u64)).depends_on(deps.iter().map(|&d| JobId(d))))
        .collect()
}

/// Drains `queue` on this thread; the number of jobs completed.
fn drain<S: Scheduler>(queue: &S) -> usize {
    let mut done = 0;
    while let Some(claim) = queue.claim(RunnerType::DEFAULT) {
        queue.start(&claim).expect("start");
        queue.complete(claim, Outcome::Success).expect("complete");
        done += 1;
    }
    done
}

/// Submits `specs` to `queue` (one `submit_many` if `batch`), drains it,
/// drops it: the three phases' times.
fn measure<S: Scheduler>(
    queue: S,
    specs: Vec<JobSpec>,
    batch: bool,
    jobs: usize,
) -> (Duration, Duration, Duration) {
    let start = Instant::now();
    if batch {
        queue.submit_many(specs).expect("submit_many");
    } else {
        for spec in specs {
            queue.submit(spec).expect("submit");
        }
    }
    let submitted = start.elapsed();
    let start = Instant::now();
    assert_eq!(drain(&queue), jobs, "every job drained");
    let drained = start.elapsed();
    let start = Instant::now();
    drop(queue);
    (submitted, drained, start.elapsed())
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "single".into());
    let tasks: usize = std::env::args()
        .nth(2)
        .and_then(|t| t.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::args()
        .nth(3)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let graph = Workflow::montage_like(tasks, 0x5eed);
    let n = graph.len() as f64;
    let (mut submit, mut drained, mut teardown) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..rounds {
        let specs = specs(&graph);
        let (s, d, t) = match mode.as_str() {
            "single" => measure(JobQueue::new(), specs, false, graph.len()),
            "batch" => measure(JobQueue::new(), specs, true, graph.len()),
            "parking_lot" => measure(
                ParkingLotQueue::new(QueueConfig::default()),
                specs,
                false,
                graph.len(),
            ),
            other => panic!("unknown mode {other}: single, batch or parking_lot"),
        };
        submit = submit.min(s.as_nanos() as f64 / n);
        drained = drained.min(d.as_nanos() as f64 / n);
        teardown = teardown.min(t.as_nanos() as f64 / n);
    }
    println!(
        "{mode}: {tasks} tasks, {} edges, best of {rounds} rounds, ns a task: submit {submit:.0}, drain {drained:.0}, submit + drain {:.0}, drop {teardown:.0}",
        graph.edges(),
        submit + drained
    );
}
