//! The realistic workload the binary runs: a layered DAG of jobs over several
//! clusters with capacities (one paused, then resumed, mid-run), two runner
//! types, mixed priorities, a fraction of failed attempts with retries, and
//! some cancellations; worker threads claim → start → complete until every
//! job has settled.
//!
//! The same [`Plan`] (built from a seed) runs on any [`Scheduler`]. A run is
//! either *timed* (nothing recorded; gives jobs/s and the claim latencies) or
//! *audited* (every claim, start, release, report, cancel and pause recorded
//! into a [`crate::audit::EventLog`], then replayed by
//! [`crate::audit::verify`]).

use crate::audit::{self, AuditReport, DagInfo, EventKind, EventLog, Recorder, Violation};
use crate::rng::Rng;
use crate::Claim;
use crate::Scheduler;
use dagqueue::{ClusterId, Completion, JobId, JobSpec, Outcome, Priority, RunnerType, WaitError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The clusters: (id, capacity). Jobs name one of them or none.
pub const CLUSTERS: [(u32, u32); 4] = [(0, 1), (1, 2), (2, 4), (3, 64)];

/// The cluster paused and resumed mid-run.
pub const PAUSED_CLUSTER: ClusterId = ClusterId(2);

/// The runner types.
pub const RUNNERS: [RunnerType; 2] = [RunnerType(0), RunnerType(1)];

/// Per-attempt failure probability, in per mille.
const FAIL_PER_MILLE: u64 = 20;

/// Fraction of jobs (per 10,000) cancelled mid-run, picked in the last
/// quarter of the layers.
const CANCEL_PER_10K: u64 = 20;

/// The longest a worker sleeps in `claim_wait` before looking again.
const WAIT_STEP: Duration = Duration::from_micros(500);

/// With `DAGQUEUE_WORKERS_POLL` set, an idle worker sleeps this long and
/// tries `claim` again, instead of waiting in `claim_wait` (an experiment:
/// no submit then has a sleeping worker to wake).
const POLL_STEP: Duration = Duration::from_micros(50);

/// What to run: the jobs, in submission order, and when to intervene.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Job `i` has id `i`; dependencies come before dependents.
    pub specs: Vec<JobSpec>,
    /// Jobs cancelled mid-run (every other one right after it is submitted,
    /// the rest half a layer later), in id order.
    pub cancels: Vec<JobId>,
    /// Layers of the DAG.
    pub layers: usize,
    /// The seed.
    pub seed: u64,
    /// Busy work per attempt, in nanoseconds.
    pub work_ns: u64,
}

impl Plan {
    /// A layered DAG of about `jobs` jobs (`layers` layers of equal width).
    /// Each job below the first layer depends on 0 to 3 random jobs of the
    /// two layers above (35% none, 40% one, 15% two, 10% three).
    pub fn new(jobs: usize, layers: usize, seed: u64, work_ns: u64) -> Plan {
        let layers = layers.clamp(1, jobs.max(1));
        let width = jobs.div_ceil(layers).max(1);
        let mut rng = Rng::new(seed);
        let mut specs = Vec::with_capacity(jobs);
        for id in 0..jobs as u64 {
            let layer = id as usize / width;
            let mut spec = JobSpec::new(JobId(id))
                .priority(random_priority(&mut rng))
                .runner(if rng.below(10) < 7 {
                    RUNNERS[0]
                } else {
                    RUNNERS[1]
                })
                .max_retries(if rng.below(10) < 3 { 1 } else { 2 });
            let cluster = rng.below(10);
            spec = match cluster {
                0 => spec.cluster(ClusterId(CLUSTERS[0].0)),
                1 | 2 => spec.cluster(ClusterId(CLUSTERS[1].0)),
                3 | 4 => spec.cluster(ClusterId(CLUSTERS[2].0)),
                5..=7 => spec.cluster(ClusterId(CLUSTERS[3].0)),
                _ => spec,
            };
            if layer > 0 {
                let count = match rng.below(20) {
                    0..=6 => 0,
                    7..=14 => 1,
                    15..=17 => 2,
                    _ => 3,
                };
                let lowest = (layer.saturating_sub(2) * width) as u64;
                let above = (layer * width) as u64 - lowest;
                let deps: Vec<JobId> = (0..count)
                    .map(|_| JobId(lowest + rng.below(above)))
                    .collect();
                spec = spec.depends_on(deps);
            }
            specs.push(spec);
        }
        let first_cancelable = (layers * 3 / 4 * width) as u64;
        let cancels = (first_cancelable..jobs as u64)
            .filter(|_| rng.below(10_000) < CANCEL_PER_10K)
            .map(JobId)
            .collect();
        Plan {
            specs,
            cancels,
            layers,
            seed,
            work_ns,
        }
    }

    /// The number of jobs.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether it has no job.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The cluster of job `id`.
    fn cluster(&self, job: JobId) -> Option<ClusterId> {
        self.specs[job.0 as usize].get_cluster()
    }

    /// Whether this attempt fails (a pure function of seed, job and attempt,
    /// so every implementation sees the same failures).
    fn outcome(&self, claim: &Claim) -> Outcome {
        let mut rng = Rng::new(
            self.seed
                ^ claim.job().0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ u64::from(claim.attempt()),
        );
        if rng.below(1000) < FAIL_PER_MILLE {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// What the audit needs: dependencies, clusters, capacities.
    pub fn dag(&self) -> DagInfo {
        let mut dag = DagInfo::from_specs(&self.specs);
        for (cluster, capacity) in CLUSTERS {
            dag.set_capacity(ClusterId(cluster), capacity);
        }
        dag
    }
}

/// 5% Critical, 15% High, 60% Normal, 15% Low, 5% Background.
fn random_priority(rng: &mut Rng) -> Priority {
    match rng.below(100) {
        0..=4 => Priority::Critical,
        5..=19 => Priority::High,
        20..=79 => Priority::Normal,
        80..=94 => Priority::Low,
        _ => Priority::Background,
    }
}

/// Where a worker's events go: nowhere (timed run) or an audit recorder.
trait Sink {
    fn tick(&self) -> u64;
    fn record(&mut self, kind: impl FnOnce() -> EventKind);
    /// A copy of `claim` to record after the report consumed it (`None`
    /// when nothing is recorded).
    fn keep(&self, claim: &Claim) -> Option<Claim>;
}

/// The timed run records nothing.
struct Discard;

impl Sink for Discard {
    #[inline]
    fn tick(&self) -> u64 {
        0
    }
    #[inline]
    fn record(&mut self, _kind: impl FnOnce() -> EventKind) {}
    #[inline]
    fn keep(&self, _claim: &Claim) -> Option<Claim> {
        None
    }
}

impl Sink for Recorder<'_> {
    fn tick(&self) -> u64 {
        Recorder::tick(self)
    }
    fn record(&mut self, kind: impl FnOnce() -> EventKind) {
        Recorder::record(self, kind());
    }
    fn keep(&self, claim: &Claim) -> Option<Claim> {
        Some(claim.clone())
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// From the first submit until every job settled.
    pub elapsed: Duration,
    /// Jobs settled per second.
    pub jobs_per_s: f64,
    /// Successful non-blocking `claim` calls, sorted, in nanoseconds.
    pub claim_ns: Vec<u32>,
    /// Jobs that ended completed, failed, cancelled (from `metrics()`).
    pub completed: u64,
    /// See `completed`.
    pub failed: u64,
    /// See `completed`.
    pub cancelled: u64,
    /// Failed attempts re-queued.
    pub retried: u64,
    /// Claims handed out.
    pub scheduled: u64,
    /// Calls that returned an unexpected error (the audited run explains them).
    pub errors: u64,
    /// From the first submit until the last (the submitting thread's share
    /// of `elapsed`: the workers drain while it submits).
    pub submit_elapsed: Duration,
    /// Non-blocking `claim` calls that found no job, all workers together.
    pub empty_claims: u64,
    /// `claim_wait` calls (made after both runner types came up empty)
    /// that returned no job, all workers together.
    pub idle_waits: u64,
    /// Time the workers spent in `claim_wait`, all workers together (a
    /// wait that ends with a claim counts too).
    pub waiting: Duration,
    /// The submitting thread's context switches while it submitted:
    /// voluntary (it blocked), involuntary (it was preempted). Read from
    /// `/proc/thread-self/status`; zero where that is not readable.
    pub submitter_switches: (u64, u64),
}

/// This thread's (voluntary, involuntary) context switches so far, from
/// `/proc/thread-self/status` (Linux); (0, 0) where that is not readable.
fn thread_context_switches() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/thread-self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

impl RunStats {
    /// The `q`-quantile (0..=1) of the claim latency, in nanoseconds.
    pub fn claim_quantile(&self, q: f64) -> f64 {
        if self.claim_ns.is_empty() {
            return 0.0;
        }
        let index = ((self.claim_ns.len() - 1) as f64 * q).round() as usize;
        f64::from(self.claim_ns[index])
    }
}

/// What an audited run showed.
#[derive(Clone, Debug)]
pub struct Audit {
    /// The audited run's own figures (recording slows it down).
    pub stats: RunStats,
    /// The replay's verdict.
    pub verdict: Result<AuditReport, Vec<Violation>>,
    /// Disagreements between the replay and the queue's own metrics.
    pub metric_mismatches: Vec<String>,
}

impl Audit {
    /// Whether the log proved nothing wrong and the metrics agree with it.
    pub fn passed(&self) -> bool {
        self.verdict.is_ok() && self.metric_mismatches.is_empty()
    }
}

/// Progress callbacks (the progress bar).
pub trait Progress: Sync {
    /// `settled` of the run's jobs have settled.
    fn update(&self, settled: u64);
}

/// Runs the plan once on `queue` with `threads` workers, recording nothing.
pub fn timed<S: Scheduler>(
    queue: &S,
    plan: &Plan,
    threads: usize,
    progress: &dyn Progress,
) -> RunStats {
    let mut sinks: Vec<Discard> = (0..threads).map(|_| Discard).collect();
    run(queue, plan, &mut sinks, None, progress)
}

/// Runs the plan once on `queue` with `threads` workers, recording every
/// event, and replays the log.
pub fn audited<S: Scheduler>(
    queue: &S,
    plan: &Plan,
    threads: usize,
    progress: &dyn Progress,
) -> Audit {
    let log = EventLog::new();
    let stats = {
        let mut sinks: Vec<Recorder<'_>> = (0..threads).map(|_| log.recorder()).collect();
        run(queue, plan, &mut sinks, Some(&log), progress)
    };
    log.record_final_states(queue, plan.specs.iter().map(|spec| spec.id()));
    let verdict = audit::verify(&log.events(), &plan.dag());
    let mut metric_mismatches = Vec::new();
    if let Ok(report) = &verdict {
        let pairs = [
            ("scheduled", stats.scheduled, report.claims as u64),
            ("retried", stats.retried, report.retries as u64),
            ("completed", stats.completed, report.completed as u64),
            ("failed", stats.failed, report.failed as u64),
            ("cancelled", stats.cancelled, report.cancelled as u64),
        ];
        for (name, metric, replayed) in pairs {
            if metric != replayed {
                metric_mismatches.push(format!(
                    "metrics().{name} = {metric}, the log shows {replayed}"
                ));
            }
        }
    }
    Audit {
        stats,
        verdict,
        metric_mismatches,
    }
}

/// One run: sets up the clusters, starts the workers, submits every job
/// (timed from the first submit), cancels the planned jobs, pauses and
/// resumes the paused cluster, waits until every job settled.
fn run<S: Scheduler, K: Sink + Send>(
    queue: &S,
    plan: &Plan,
    sinks: &mut [K],
    log: Option<&EventLog>,
    progress: &dyn Progress,
) -> RunStats {
    for (cluster, capacity) in CLUSTERS {
        queue
            .set_cluster_capacity(ClusterId(cluster), capacity)
            .expect("capacity");
    }
    let threads = sinks.len();
    let total = plan.len() as u64;
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let mut stats = RunStats::default();
    let tick = || log.map_or(0, EventLog::tick);

    let (elapsed, submit_elapsed, submitter_switches, outputs) = std::thread::scope(|s| {
        let workers: Vec<_> = sinks
            .iter_mut()
            .enumerate()
            .map(|(index, sink)| {
                let (stop, barrier) = (&stop, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    worker(queue, plan, index, stop, sink)
                })
            })
            .collect();
        barrier.wait();
        let switches_before = thread_context_switches();
        let start = Instant::now();

        // Submit everything, showing progress now and then; cancel every
        // other planned job right after submitting it (it is then most
        // likely waiting or pending) and the rest half a layer later (by
        // then it may be waiting, pending, claimed or finished).
        let lag = (plan.len() / plan.layers / 2) as u64;
        let mut cancels = plan
            .cancels
            .iter()
            .enumerate()
            .map(|(k, job)| (if k % 2 == 0 { job.0 } else { job.0 + lag }, *job))
            .collect::<Vec<_>>();
        cancels.sort_unstable();
        let mut cancels = cancels.into_iter().peekable();
        let cancel = |job: JobId| {
            let result = queue.cancel(job);
            if let Some(log) = log {
                log.record(EventKind::CancelCalled { job, result });
            }
        };
        for (i, spec) in plan.specs.iter().enumerate() {
            queue.submit(spec.clone()).expect("submit");
            while let Some((_, job)) = cancels.next_if(|(due, _)| *due <= i as u64) {
                cancel(job);
            }
            if i % 4096 == 0 {
                progress.update(settled(queue));
            }
        }
        cancels.for_each(|(_, job)| cancel(job));
        let submit_elapsed = start.elapsed();
        let switches_after = thread_context_switches();
        let submitter_switches = (
            switches_after.0.saturating_sub(switches_before.0),
            switches_after.1.saturating_sub(switches_before.1),
        );
        // Pause one cluster at 60% and resume it at 75% (or after 100 ms).
        let mut paused_at: Option<Instant> = None;
        let mut resumed = false;
        loop {
            let done = settled(queue);
            progress.update(done);
            if done >= total {
                break;
            }
            if paused_at.is_none() && !resumed && done * 100 >= total * 60 {
                let began = tick();
                queue.pause_cluster(PAUSED_CLUSTER).expect("pause");
                if let Some(log) = log {
                    log.record(EventKind::Paused {
                        cluster: PAUSED_CLUSTER,
                        began,
                    });
                }
                paused_at = Some(Instant::now());
            }
            if let Some(at) = paused_at {
                if done * 100 >= total * 75 || at.elapsed() >= Duration::from_millis(100) {
                    let began = tick();
                    queue.resume_cluster(PAUSED_CLUSTER).expect("resume");
                    if let Some(log) = log {
                        log.record(EventKind::Resumed {
                            cluster: PAUSED_CLUSTER,
                            began,
                        });
                    }
                    paused_at = None;
                    resumed = true;
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        if paused_at.is_some() {
            // Every job settled while paused (only possible when none is on it).
            let began = tick();
            queue.resume_cluster(PAUSED_CLUSTER).expect("resume");
            if let Some(log) = log {
                log.record(EventKind::Resumed {
                    cluster: PAUSED_CLUSTER,
                    began,
                });
            }
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let outputs: Vec<WorkerOutput> = workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        (elapsed, submit_elapsed, submitter_switches, outputs)
    });

    let metrics = queue.metrics();
    stats.elapsed = elapsed;
    stats.submit_elapsed = submit_elapsed;
    stats.submitter_switches = submitter_switches;
    stats.jobs_per_s = total as f64 / elapsed.as_secs_f64();
    stats.completed = metrics.completed;
    stats.failed = metrics.failed;
    stats.cancelled = metrics.cancelled;
    stats.retried = metrics.retried;
    stats.scheduled = metrics.scheduled;
    for output in outputs {
        stats.claim_ns.extend(output.claim_ns);
        stats.errors += output.errors;
        stats.empty_claims += output.empty_claims;
        stats.idle_waits += output.idle_waits;
        stats.waiting += output.waiting;
    }
    stats.claim_ns.sort_unstable();
    stats
}

/// Jobs that reached a terminal state (exact: see `Metrics`).
fn settled<S: Scheduler>(queue: &S) -> u64 {
    let m = queue.metrics();
    m.completed + m.failed + m.cancelled
}

struct WorkerOutput {
    claim_ns: Vec<u32>,
    errors: u64,
    empty_claims: u64,
    idle_waits: u64,
    waiting: Duration,
}

/// One worker: claims from its own runner type first, then the other; when
/// neither has a job, sleeps in `claim_wait` (at most [`WAIT_STEP`]).
fn worker<S: Scheduler, K: Sink>(
    queue: &S,
    plan: &Plan,
    index: usize,
    stop: &AtomicBool,
    sink: &mut K,
) -> WorkerOutput {
    let runners = [RUNNERS[index % 2], RUNNERS[(index + 1) % 2]];
    let mut output = WorkerOutput {
        claim_ns: Vec::with_capacity(plan.len() / 2),
        errors: 0,
        empty_claims: 0,
        idle_waits: 0,
        waiting: Duration::ZERO,
    };
    let mut turn = 0usize;
    let poll_instead_of_wait = std::env::var_os("DAGQUEUE_WORKERS_POLL").is_some();
    while !stop.load(Ordering::Relaxed) {
        let mut claimed = None;
        for runner in runners {
            let began = sink.tick();
            let t0 = Instant::now();
            if let Some(claim) = queue.claim(runner) {
                let ns = t0.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
                output.claim_ns.push(ns);
                claimed = Some((claim, began));
                break;
            }
            output.empty_claims += 1;
        }
        let (claim, began) = match claimed {
            Some(found) => found,
            None => {
                let runner = runners[turn % 2];
                turn += 1;
                let began = sink.tick();
                let t0 = Instant::now();
                let waited = if poll_instead_of_wait {
                    // The experiment of BENCHMARKS.md "Under load": no
                    // waiter is ever registered, so no submit wakes one.
                    std::thread::sleep(POLL_STEP);
                    queue.claim(runner).ok_or(WaitError::TimedOut)
                } else {
                    queue.claim_wait(runner, WAIT_STEP)
                };
                output.waiting += t0.elapsed();
                match waited {
                    Ok(claim) => (claim, began),
                    Err(_) => {
                        output.idle_waits += 1;
                        continue;
                    }
                }
            }
        };
        let cluster = plan.cluster(claim.job());
        sink.record(|| EventKind::Claimed {
            claim: claim.clone(),
            cluster,
            began,
        });
        let started = queue.start(&claim);
        let ok = started.is_ok();
        sink.record(|| EventKind::Started {
            claim: claim.clone(),
            result: started,
        });
        let outcome = if ok {
            busy_work(plan.work_ns);
            plan.outcome(&claim)
        } else {
            // Cancel requested before the start: report at once.
            Outcome::Success
        };
        sink.record(|| EventKind::Released {
            claim: claim.clone(),
            cluster,
        });
        let kept = sink.keep(&claim);
        let result = queue.complete(claim, outcome);
        if result.is_err() {
            output.errors += 1;
        }
        debug_assert!(!matches!(result, Ok(Completion::Retrying)) || outcome == Outcome::Failure);
        if let Some(claim) = kept {
            sink.record(|| EventKind::Reported {
                claim,
                outcome,
                result,
            });
        }
    }
    output
}

/// Spins for about `ns` nanoseconds.
fn busy_work(ns: u64) {
    if ns == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::ParkingLotQueue;
    use dagqueue::{JobQueue, QueueConfig};

    struct Quiet;
    impl Progress for Quiet {
        fn update(&self, _settled: u64) {}
    }

    #[test]
    fn plan_is_deterministic_and_well_formed() {
        let a = Plan::new(5_000, 10, 9, 0);
        let b = Plan::new(5_000, 10, 9, 0);
        assert_eq!(a.specs, b.specs);
        assert_eq!(a.cancels, b.cancels);
        for spec in &a.specs {
            assert!(spec.dependencies().iter().all(|d| d.0 < spec.id().0));
        }
        assert!(a.specs.iter().any(|s| !s.dependencies().is_empty()));
    }

    #[test]
    fn small_runs_verify_on_both_queues() {
        let plan = Plan::new(3_000, 10, 1, 0);
        let lock_free = audited(&JobQueue::new(), &plan, 2, &Quiet);
        assert!(lock_free.passed(), "{:?}", lock_free.verdict.err());
        let baseline = audited(
            &ParkingLotQueue::new(QueueConfig::default()),
            &plan,
            2,
            &Quiet,
        );
        assert!(baseline.passed(), "{:?}", baseline.verdict.err());
        let stats = timed(&JobQueue::new(), &plan, 2, &Quiet);
        assert_eq!(
            stats.completed + stats.failed + stats.cancelled,
            plan.len() as u64
        );
        assert!(stats.submit_elapsed <= stats.elapsed);
        // Every claim_wait that returned nothing was preceded by two empty
        // claims (one for each runner type).
        assert!(stats.empty_claims >= 2 * stats.idle_waits);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_sleep_counts_as_a_voluntary_context_switch() {
        let before = thread_context_switches();
        std::thread::sleep(Duration::from_millis(2));
        let after = thread_context_switches();
        assert!(after.0 > before.0, "{before:?} -> {after:?}");
    }
}
