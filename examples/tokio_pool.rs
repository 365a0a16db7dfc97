//! A pool of async workers on tokio's multi-thread runtime draining a
//! layered DAG: each job depends on two of the previous layer's, carries a
//! payload (its layer), holds a lease, and is claimed with `claim_async`
//! under `tokio::time::timeout` (bounded by `next_due`, so that due leases
//! and delayed jobs are noticed). Checks that every job ran once, after
//! its dependencies.
//!
//! ```sh
//! cargo run --example tokio_pool            # 10,000 jobs, 8 async workers
//! cargo run --example tokio_pool -- 2000 4  # jobs, workers
//! ```

use dagqueue::{Completion, JobId, JobQueue, JobSpec, Outcome, RunnerType, WaitError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WIDTH: u64 = 100;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);

    let queue = Arc::new(
        JobQueue::builder()
            .lease(Duration::from_secs(30))
            .build_for::<u64>()
            .expect("a valid configuration"),
    );
    // Layer by layer: job i of layer l > 0 depends on two jobs of layer l-1.
    for id in 0..jobs {
        let layer = id / WIDTH;
        let mut spec = JobSpec::new(JobId(id)).payload(layer);
        if layer > 0 {
            let base = (layer - 1) * WIDTH;
            spec = spec.depends_on([JobId(base + id % WIDTH), JobId(base + (id * 7) % WIDTH)]);
        }
        queue.submit(spec).expect("submit");
    }

    // When each job was claimed and completed, on one shared clock.
    let clock = Arc::new(AtomicU64::new(0));
    let claimed_at: Arc<Vec<AtomicU64>> = Arc::new((0..jobs).map(|_| AtomicU64::new(0)).collect());
    let completed_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..jobs).map(|_| AtomicU64::new(0)).collect());

    let pool: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, clock) = (Arc::clone(&queue), Arc::clone(&clock));
            let (claimed_at, completed_at) = (Arc::clone(&claimed_at), Arc::clone(&completed_at));
            tokio::spawn(async move {
                let mut done = 0u64;
                loop {
                    // Woken by the queue when a job is ready; the timeout
                    // only bounds the wait by the next lease or delay.
                    let wait = queue.next_due().unwrap_or(Duration::from_secs(1));
                    let claim =
                        match tokio::time::timeout(wait, queue.claim_async(RunnerType::DEFAULT))
                            .await
                        {
                            Ok(Ok(claim)) => claim,
                            Ok(Err(WaitError::Closed)) => return done,
                            Ok(Err(other)) => panic!("unexpected {other:?}"),
                            Err(_elapsed) => continue, // claim again: sweeps run there
                        };
                    let job = claim.job().0 as usize;
                    claimed_at[job]
                        .store(clock.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    assert_eq!(
                        *claim.payload(),
                        claim.job().0 / WIDTH,
                        "another job's payload"
                    );
                    tokio::task::yield_now().await; // the "work"
                    completed_at[job]
                        .store(clock.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    match queue.complete(claim, Outcome::Success) {
                        Ok(Completion::Completed) => done += 1,
                        other => panic!("job {job}: {other:?}"),
                    }
                }
            })
        })
        .collect();

    // Wait for the queue to drain (a blocking wait, off the runtime's
    // threads), then close it: the workers' `claim_async` return `Closed`.
    let idle = {
        let queue = Arc::clone(&queue);
        tokio::task::spawn_blocking(move || queue.wait_idle(Duration::from_secs(120)))
    };
    assert!(idle.await.expect("the waiting thread"), "not idle in time");
    queue.close();
    let mut total = 0;
    for worker in pool {
        total += worker.await.expect("a worker");
    }

    assert_eq!(total, jobs, "every job ran once");
    assert_eq!(queue.metrics().completed, jobs);
    for id in WIDTH..jobs {
        let layer = id / WIDTH;
        let base = (layer - 1) * WIDTH;
        for dependency in [base + id % WIDTH, base + (id * 7) % WIDTH] {
            let finished = completed_at[dependency as usize].load(Ordering::SeqCst);
            let started = claimed_at[id as usize].load(Ordering::SeqCst);
            assert!(
                finished < started,
                "job {id} claimed before its dependency {dependency} completed"
            );
        }
    }
    println!("{jobs} jobs, {workers} async workers: every job ran once, after its dependencies");
}
