//! The durable queue's two measured promises (issue 13): callers share
//! commits (group commit), and a store of 1M live jobs opens in under 10 s.
//! Not criterion: each figure is one long run whose absolute time is the
//! target (ratios against the in-memory queue are printed beside it).
//!
//! ```sh
//! cargo bench --features durable --bench durable -- group   # 1, 4, 16 threads
//! cargo bench --features durable --bench durable -- open 1000000
//! cargo bench --features durable --bench durable -- claims  # a claim's cost
//! ```
//! Data goes under `target/durable-bench/` (a real disk, not tmpfs);
//! `DAGQUEUE_DURABLE_REUSE=1` opens the store the last `open` run built.

use dagqueue::{DurableQueue, JobId, JobQueue, JobSpec, SyncPolicy};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/durable-bench")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `work(t)` on `threads` threads at once; the seconds they took.
fn in_threads(threads: u64, work: impl Fn(u64) + Sync) -> f64 {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let work = &work;
            scope.spawn(move || work(t));
        }
    });
    start.elapsed().as_secs_f64()
}

/// T threads each submit `per_thread` jobs one at a time, each durable
/// before the next: ops/s and how many ops shared a commit.
fn group() {
    println!("| threads | durable submits | seconds | submits/s | synced commits | submits a commit | in-memory submits/s |");
    println!("|---|---|---|---|---|---|---|");
    for threads in [1u64, 4, 16] {
        let per_thread = 2_000 / threads.min(4) * 2;
        let dir = data_dir(&format!("group-{threads}"));
        let queue =
            DurableQueue::<()>::open(&dir, JobQueue::builder(), SyncPolicy::Always).unwrap();
        let seconds = in_threads(threads, |t| {
            for i in 0..per_thread {
                queue
                    .submit(JobSpec::new(JobId(t * 1_000_000 + i)))
                    .unwrap();
            }
        });
        let (_, synced) = queue.commits();
        let total = threads * per_thread;
        // The same submits on the in-memory queue, same run.
        let memory = JobQueue::new();
        let memory_seconds = in_threads(threads, |t| {
            for i in 0..per_thread {
                memory
                    .submit(JobSpec::new(JobId(t * 1_000_000 + i)))
                    .unwrap();
            }
        });
        println!(
            "| {threads} | {total} | {seconds:.2} | {:.0} | {synced} | {:.1} | {:.0} |",
            total as f64 / seconds,
            total as f64 / synced.max(1) as f64,
            total as f64 / memory_seconds
        );
    }
}

/// Builds a store of `jobs` live jobs (batches of 10,000, each job after
/// the one before it in its batch and, every tenth, after the batch's
/// first: ~1.1 edges a job), closes it, then opens it three times.
fn open(jobs: u64) {
    // `DAGQUEUE_DURABLE_REUSE=1`: open the store the last run built.
    let reuse = std::env::var("DAGQUEUE_DURABLE_REUSE").is_ok();
    let dir = if reuse {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/durable-bench/open")
    } else {
        data_dir("open")
    };
    let start = Instant::now();
    if !reuse {
        let queue =
            DurableQueue::<Vec<u8>>::open(&dir, JobQueue::builder(), SyncPolicy::Always).unwrap();
        let batch = 10_000;
        for first in (0..jobs).step_by(batch as usize) {
            let specs = (first..(first + batch).min(jobs)).map(|id| {
                let mut spec = JobSpec::new(JobId(id));
                if id > first {
                    let mut dependencies = vec![JobId(id - 1)];
                    if id % 10 == 0 && id - 1 != first {
                        dependencies.push(JobId(first));
                    }
                    spec = spec.depends_on(dependencies);
                }
                spec.payload(vec![0u8; 64])
            });
            queue.submit_many(specs).unwrap();
        }
    }
    let built = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(dir.join("queue.redb")).unwrap().len();
    println!(
        "built {jobs} live jobs in {built:.1} s; store file {:.0} MiB",
        bytes as f64 / (1 << 20) as f64
    );
    for round in 1..=3 {
        let start = Instant::now();
        let queue =
            DurableQueue::<Vec<u8>>::open(&dir, JobQueue::builder(), SyncPolicy::Always).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let total = queue.status().by_state.total();
        println!("open {round}: {seconds:.2} s, {total} jobs recovered");
        assert_eq!(total as u64, jobs);
    }
}

/// ns a call of `step`, called `calls` times.
fn per_call(calls: u64, mut step: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        step();
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// 100,000 claims (each then started) on a durable queue and on the
/// in-memory one, same jobs: what a claim pays for being written (a
/// request to the committer; it does not wait).
fn claims() {
    let jobs = 100_000u64;
    let specs = || (0..jobs).map(|id| JobSpec::new(JobId(id)));
    for policy in [
        SyncPolicy::Always,
        SyncPolicy::Every(std::time::Duration::from_millis(100)),
    ] {
        let dir = data_dir("claims");
        let durable = DurableQueue::<()>::open(&dir, JobQueue::builder(), policy).unwrap();
        durable.submit_many(specs()).unwrap();
        let durable_ns = per_call(jobs, || {
            let claim = durable.claim(dagqueue::RunnerType::DEFAULT).unwrap();
            durable.start(&claim).unwrap();
            std::mem::forget(claim);
        });
        durable.sync().unwrap();
        let memory = JobQueue::new();
        memory.submit_many(specs()).unwrap();
        let memory_ns = per_call(jobs, || {
            let claim = memory.claim(dagqueue::RunnerType::DEFAULT).unwrap();
            memory.start(&claim).unwrap();
            std::mem::forget(claim);
        });
        println!(
            "{policy:?}: claim + start {durable_ns:.0} ns durable, {memory_ns:.0} ns in memory ({:.1}x)",
            durable_ns / memory_ns
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("open") => open(
            args.get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000),
        ),
        Some("group") | None => group(),
        Some("claims") => claims(),
        Some(other) => eprintln!("unknown case {other}: group | claims | open [JOBS]"),
    }
}
