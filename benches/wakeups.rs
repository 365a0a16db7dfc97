//! `wakeups` (issue 10): what waiting costs, printed as a table (not a
//! criterion group: the figure that matters is a count, context switches,
//! read with `getrusage` around each run).
//!
//! * `sleepers`: 4 workers asleep in `claim_wait`, one producer that
//!   submits a job every ~50 µs (so the workers sleep between jobs): jobs/s
//!   and context switches per job, for JobQueue (one waiter woken per job)
//!   and the ParkingLot baseline (a condvar `notify_all` per job, what
//!   JobQueue did before issue 10).
//! * `drain`: a prefilled queue drained by 2 threads through `claim_wait`
//!   and through `claim_async` (polled by a minimal executor): ns a job,
//!   what the async form's machinery costs when jobs are ready.
//!
//! `cargo bench --bench wakeups` (add `-- --quick` for fewer rounds).

use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
use harness::baseline::ParkingLotQueue;
use harness::Scheduler;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const R: RunnerType = RunnerType::DEFAULT;
const WORKERS: usize = 4;

/// Context switches (voluntary + involuntary) of the whole process so far.
fn context_switches() -> u64 {
    // SAFETY: `getrusage` writes into the zeroed struct we hand it and
    // reads nothing else; RUSAGE_SELF is always a valid target.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    (usage.ru_nvcsw + usage.ru_nivcsw) as u64
}

/// Spins (without sleeping, so the producer's own switches stay out of
/// the count) for about `wait`.
fn spin_for(wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// `sleepers` on one implementation: (jobs/s, context switches per job).
fn sleepers(q: &dyn Scheduler, jobs: u64) -> (f64, f64) {
    let stop = AtomicBool::new(false);
    let before = context_switches();
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(claim) = q.claim_wait(R, Duration::from_millis(200)) {
                        q.complete(claim, Outcome::Success).unwrap();
                    }
                }
            });
        }
        for id in 0..jobs {
            q.submit(JobSpec::new(JobId(id))).unwrap();
            spin_for(Duration::from_micros(50));
        }
        while q.metrics().completed < jobs {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        q.close(); // wakes the workers at once
    });
    let elapsed = started.elapsed().as_secs_f64();
    let switches = context_switches() - before;
    (jobs as f64 / elapsed, switches as f64 / jobs as f64)
}

/// Polls `future` to completion on this thread with `cx` (whose waker
/// unparks this thread), parking between polls: a minimal executor, its
/// waker made once per thread.
fn block_on<F: Future>(cx: &mut Context<'_>, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return out;
        }
        std::thread::park();
    }
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// `drain`: ns a job for 2 threads draining `jobs` ready jobs, through
/// `claim_wait` (`asynchronous` false) or `claim_async`.
fn drain(jobs: u64, asynchronous: bool) -> f64 {
    let q = JobQueue::new();
    for id in 0..jobs {
        q.submit(JobSpec::new(JobId(id))).unwrap();
    }
    let done = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (q, done) = (&q, &done);
            s.spawn(move || {
                let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
                let mut cx = Context::from_waker(&waker);
                loop {
                    let claimed = if asynchronous {
                        block_on(&mut cx, q.claim_async(R)).ok()
                    } else {
                        q.claim_wait(R, Duration::from_secs(10)).ok()
                    };
                    let Some(claim) = claimed else { break }; // closed
                    q.complete(claim, Outcome::Success).unwrap();
                    if done.fetch_add(1, Ordering::Relaxed) + 1 == jobs {
                        q.close(); // the peer, asleep for a job, returns
                    }
                }
            });
        }
    });
    started.elapsed().as_nanos() as f64 / jobs as f64
}

fn main() {
    // `cargo bench` passes `--bench`; `-- --quick` asks for fewer rounds.
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 3 };
    let sleeper_jobs = if quick { 500 } else { 2_000 };
    let drain_jobs = if quick { 20_000 } else { 200_000 };
    println!("wakeups ({WORKERS} sleeping workers, a job every ~50 us; {rounds} round(s))");
    for round in 1..=rounds {
        let (rate, switches) = sleepers(&JobQueue::new(), sleeper_jobs);
        println!(
            "  round {round}: JobQueue   {rate:>9.0} jobs/s, {switches:.2} context switches a job"
        );
        let baseline = ParkingLotQueue::new(dagqueue::QueueConfig::default());
        let (rate, switches) = sleepers(&baseline, sleeper_jobs);
        println!(
            "  round {round}: ParkingLot {rate:>9.0} jobs/s, {switches:.2} context switches a job"
        );
    }
    println!("drain ({drain_jobs} ready jobs, 2 threads), ns a job");
    for round in 1..=rounds {
        let blocking = drain(drain_jobs, false);
        let asynchronous = drain(drain_jobs, true);
        println!(
            "  round {round}: claim_wait {blocking:.1}, claim_async {asynchronous:.1} ({:.2}x)",
            asynchronous / blocking
        );
    }
}
