//! The differential check shared by `tests/differential.rs` (proptest) and
//! the fuzz target (`fuzz/fuzz_targets/differential.rs`, cargo-fuzz): an
//! operation vocabulary ([`Op`]), bad input included, applied single-threaded
//! to several [`Scheduler`]s ([`check`]); after every operation they must
//! return identical results (values and typed errors, compared as printed),
//! and at the end (and every `state_every` steps) show identical job views,
//! dependency checks, status (minus the time-dependent metrics) and
//! previews (as sets per level: the entry-time tiebreak differs).
//!
//! The vocabulary is a superset of what the proptest strategy draws: the
//! fuzz target also reaches invalid priority levels, leases and delays
//! (valid ones long enough never to run out during a run, and invalid
//! ones), over-long failure reasons, heartbeats, `close`, `wait_idle` and
//! `expire_leases`. Everything it does is deterministic within a run: no
//! lease, delay or backoff can run out while it runs.

use crate::{Claim, Scheduler};
use dagqueue::{
    ClusterId, DependencyKind, Error, JobId, JobQueue, JobSpec, Outcome, Priority, QueueConfig,
    QueueStatus, Resources, RunnerType, UserId, MAX_CAPACITY, MAX_DELAY, MAX_LEASE,
};
use std::fmt::Debug;
use std::time::Duration;

/// Job ids submitted are below this; two more ids are never submitted.
pub const IDS: u64 = 12;
/// Clusters 0..3 may be named by jobs; cluster 3 only by cluster operations.
pub const CLUSTERS: u32 = 4;
/// Runner types 0..RUNNERS.
pub const RUNNERS: u32 = 2;

/// A claim named by an operation.
#[derive(Clone, Debug)]
pub enum ClaimRef {
    /// The n-th claim handed out so far (modulo their number).
    Issued(usize),
    /// A claim made up: job and attempt, incarnation 0 (never issued).
    Forged(u64, u32),
}

/// One operation on a queue.
#[derive(Clone, Debug)]
pub enum Op {
    /// A submit; `priority` above 4 is an invalid level (rejected by
    /// `Priority::from_level`, no queue call).
    Submit {
        /// The job.
        id: u64,
        /// Its level (0..=4 valid).
        priority: u8,
        /// Its dependencies, each with its kind in the upper bits (see
        /// [`edge`]).
        deps: Vec<u64>,
        /// Its runner type.
        runner: u32,
        /// Its cluster, if any.
        cluster: Option<u32>,
        /// Its user.
        user: u32,
        /// Its retries (above `MAX_RETRIES`: invalid).
        retries: u32,
        /// The cores it needs.
        cores: u32,
        /// Its lease, an index for [`lease()`] (0: none).
        lease: u8,
        /// Its delay, an index for [`delay()`] (0: none).
        delay: u8,
    },
    /// `submit_many` of the specs of these operations (each an
    /// [`Op::Submit`]; any other is left out); one invalid priority level
    /// makes the whole batch that error (no queue call).
    SubmitMany(Vec<Op>),
    /// Job, dependency kind (an index into [`KINDS`]), dependencies.
    AddDeps(u64, u8, Vec<u64>),
    /// `claim` for a runner type.
    Claim(u32),
    /// `claim_wait` for a runner type, timeout zero.
    ClaimWait(u32),
    /// `start`.
    Start(ClaimRef),
    /// `complete`, success or failure.
    Complete(ClaimRef, bool),
    /// A failure report with one of the reasons of [`reason()`].
    Fail(ClaimRef, u8),
    /// `heartbeat`.
    Heartbeat(ClaimRef),
    /// `cancel`.
    Cancel(u64),
    /// `reprioritize` (a level above 4 is invalid, as for `Submit`).
    Reprioritize(u64, u8),
    /// `set_cluster_capacity`.
    Capacity(u32, u32),
    /// `pause_cluster`.
    Pause(u32),
    /// `resume_cluster`.
    Resume(u32),
    /// `set_cluster_resources` with these cores.
    SetResources(u32, u32),
    /// `prune_finished`.
    Prune,
    /// `job`, `state` and `dependencies_satisfied` of a job.
    Query(u64),
    /// `schedulable`, as sets per level.
    Preview(u32),
    /// `status`, without the time-dependent metrics.
    Status,
    /// `close`, then `is_closed`.
    Close,
    /// `wait_idle` with timeout zero.
    WaitIdle,
    /// `expire_leases` (no lease can have run out: zero).
    ExpireLeases,
}

/// The dependency kinds, by index.
pub const KINDS: [DependencyKind; 3] = [
    DependencyKind::AfterSuccess,
    DependencyKind::AfterAny,
    DependencyKind::AfterFailure,
];

/// The failure reasons, by index (modulo their number): empty, plain,
/// non-ASCII, and (index 3) one over `MAX_REASON_BYTES` whose cut falls
/// inside a character: 'x' then 600 two-byte characters.
pub fn reason(index: u8) -> String {
    match index % 4 {
        0 => String::new(),
        1 => "out of memory".to_string(),
        2 => "\u{e9}\u{e9}".to_string(),
        _ => format!("x{}", "\u{e9}".repeat(600)),
    }
}

/// The lease of [`Op::Submit`]'s `lease` index (modulo their number): none,
/// the longest valid one (never runs out during a run), zero and one above
/// `MAX_LEASE` (both invalid).
pub fn lease(index: u8) -> Option<Duration> {
    match index % 4 {
        0 => None,
        1 => Some(MAX_LEASE),
        2 => Some(Duration::ZERO),
        _ => Some(MAX_LEASE + Duration::from_millis(1)),
    }
}

/// The delay of [`Op::Submit`]'s `delay` index (modulo their number): none,
/// the longest valid one (never runs out during a run), one above
/// `MAX_DELAY` (invalid).
pub fn delay(index: u8) -> Option<Duration> {
    match index % 3 {
        0 => None,
        1 => Some(MAX_DELAY),
        _ => Some(MAX_DELAY + Duration::from_secs(1)),
    }
}

/// A dependency drawn with its kind (an index into [`KINDS`]) in the upper
/// bits, the job in the low 8.
pub fn edge(drawn: u64) -> (JobId, DependencyKind) {
    (JobId(drawn & 0xff), KINDS[((drawn >> 8) % 3) as usize])
}

/// Resources of this many cores and 4 GB.
pub fn resources(cores: u32) -> Resources {
    Resources {
        cores,
        memory_gb: 4,
    }
}

/// The claim an operation names, among those this queue handed out.
pub fn resolve(r: &ClaimRef, issued: &[Claim]) -> Claim {
    match *r {
        ClaimRef::Issued(n) if !issued.is_empty() => issued[n % issued.len()].clone(),
        // Made up: incarnation 0 is never issued, so every implementation
        // must find these stale.
        ClaimRef::Issued(n) => Claim::from_parts(JobId(n as u64 % IDS), 0, 1),
        ClaimRef::Forged(job, attempt) => Claim::from_parts(JobId(job), 0, attempt),
    }
}

/// Status without the time-dependent metrics.
pub fn comparable_status(q: &dyn Scheduler) -> QueueStatus {
    let mut status = q.status();
    status.metrics.average_wait = Duration::ZERO;
    status.metrics.completed_in_window = 0;
    status
}

/// A preview as (level, id) pairs sorted: a set per level. Also checks the
/// preview itself is in level order.
///
/// # Errors
/// A previewed job unknown, or the preview out of level order.
pub fn preview_sets(q: &dyn Scheduler, runner: RunnerType) -> Result<Vec<(u8, JobId)>, String> {
    let preview = q.schedulable(runner);
    let mut pairs = Vec::new();
    for &job in &preview {
        let view = q
            .job(job)
            .map_err(|e| format!("previewed {job} unknown: {e}"))?;
        pairs.push((view.priority.level(), job));
    }
    if !pairs.windows(2).all(|w| w[0].0 <= w[1].0) {
        return Err(format!("preview not in level order: {pairs:?}"));
    }
    pairs.sort();
    Ok(pairs)
}

/// A level as a priority, or the error printed as an operation's result
/// (no queue operation takes a raw level: the conversion rejects it).
fn priority(level: u8) -> Result<Priority, String> {
    Priority::from_level(level).map_err(|e| format!("{:?}", Err::<(), _>(e)))
}

/// The spec of an [`Op::Submit`] (`None` for any other operation), or an
/// invalid level's error, printed.
fn submit_spec(op: &Op) -> Option<Result<JobSpec, String>> {
    match op {
        Op::Submit {
            id,
            priority: level,
            deps,
            runner,
            cluster,
            user,
            retries,
            cores,
            lease: lease_index,
            delay: delay_index,
        } => {
            let level = match priority(*level) {
                Ok(level) => level,
                Err(printed) => return Some(Err(printed)),
            };
            let mut spec = JobSpec::new(JobId(*id))
                .priority(level)
                .runner(RunnerType(*runner))
                .user(UserId(*user))
                .max_retries(*retries)
                .resources(resources(*cores));
            if let Some(c) = cluster {
                spec = spec.cluster(ClusterId(*c));
            }
            for &d in deps {
                let (dependency, kind) = edge(d);
                spec = spec.depends_on_kind(kind, [dependency]);
            }
            if let Some(lease) = lease(*lease_index) {
                spec = spec.lease(lease);
            }
            if let Some(delay) = delay(*delay_index) {
                spec = spec.delay(delay);
            }
            Some(Ok(spec))
        }
        _ => None,
    }
}

/// Applies one operation; returns its result, printed, and the claim it
/// handed out, if any.
pub fn apply(q: &dyn Scheduler, op: &Op, issued: &[Claim]) -> (String, Option<Claim>) {
    match op {
        Op::Submit { .. } => match submit_spec(op) {
            Some(Ok(spec)) => (format!("{:?}", q.submit(spec)), None),
            Some(Err(printed)) => (printed, None),
            None => unreachable!("a submit has a spec"),
        },
        Op::SubmitMany(ops) => {
            match ops
                .iter()
                .filter_map(submit_spec)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(specs) => (format!("{:?}", q.submit_many(specs)), None),
                Err(printed) => (printed, None),
            }
        }
        Op::AddDeps(job, kind, deps) => {
            let deps: Vec<JobId> = deps.iter().map(|&d| JobId(d)).collect();
            let kind = KINDS[usize::from(*kind) % KINDS.len()];
            (
                format!("{:?}", q.add_dependencies_of_kind(JobId(*job), kind, &deps)),
                None,
            )
        }
        Op::Claim(runner) => {
            let claim = q.claim(RunnerType(*runner));
            (format!("{claim:?}"), claim)
        }
        Op::ClaimWait(runner) => {
            let claim = q.claim_wait(RunnerType(*runner), Duration::ZERO);
            (format!("{claim:?}"), claim.ok())
        }
        Op::Start(r) => (format!("{:?}", q.start(&resolve(r, issued))), None),
        Op::Complete(r, success) => {
            let outcome = if *success {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            (
                format!("{:?}", q.complete(resolve(r, issued), outcome)),
                None,
            )
        }
        Op::Fail(r, index) => (
            format!("{:?}", q.fail(resolve(r, issued), &reason(*index))),
            None,
        ),
        Op::Heartbeat(r) => (format!("{:?}", q.heartbeat(&resolve(r, issued))), None),
        Op::Cancel(job) => (format!("{:?}", q.cancel(JobId(*job))), None),
        Op::Reprioritize(job, level) => match priority(*level) {
            Ok(level) => (format!("{:?}", q.reprioritize(JobId(*job), level)), None),
            Err(printed) => (printed, None),
        },
        Op::Capacity(c, n) => (
            format!("{:?}", q.set_cluster_capacity(ClusterId(*c), *n)),
            None,
        ),
        Op::Pause(c) => (format!("{:?}", q.pause_cluster(ClusterId(*c))), None),
        Op::Resume(c) => (format!("{:?}", q.resume_cluster(ClusterId(*c))), None),
        Op::SetResources(c, n) => (
            format!(
                "{:?}",
                q.set_cluster_resources(ClusterId(*c), resources(*n))
            ),
            None,
        ),
        Op::Prune => (format!("{:?}", q.prune_finished()), None),
        Op::Query(job) => {
            let job = JobId(*job);
            (
                format!(
                    "{:?} {:?} {:?}",
                    q.job(job),
                    q.state(job),
                    q.dependencies_satisfied(job)
                ),
                None,
            )
        }
        Op::Preview(runner) => (format!("{:?}", preview_sets(q, RunnerType(*runner))), None),
        Op::Status => (format!("{:?}", comparable_status(q)), None),
        Op::Close => {
            q.close();
            (format!("closed {}", q.is_closed()), None)
        }
        Op::WaitIdle => (format!("{}", q.wait_idle(Duration::ZERO)), None),
        Op::ExpireLeases => (format!("{}", q.expire_leases()), None),
    }
}

/// Everything compared at the end: every job's view and dependency check
/// (ids `0..IDS + 2`), the status without the time-dependent metrics, each
/// runner type's preview as sets per level.
pub fn final_state(q: &dyn Scheduler) -> String {
    let views: Vec<_> = (0..IDS + 2).map(|id| q.job(JobId(id))).collect();
    let satisfied: Vec<_> = (0..IDS + 2)
        .map(|id| q.dependencies_satisfied(JobId(id)))
        .collect();
    let previews: Vec<_> = (0..RUNNERS)
        .map(|r| preview_sets(q, RunnerType(r)))
        .collect();
    format!(
        "views {views:?}\nsatisfied {satisfied:?}\nstatus {:?}\npreviews {previews:?}",
        comparable_status(q)
    )
}

fn mismatch(what: &str, left: (&str, &dyn Debug), right: (&str, &dyn Debug)) -> String {
    format!(
        "{what}: {} and {} differ\n  {}: {:?}\n  {}: {:?}",
        left.0, right.0, left.0, left.1, right.0, right.1
    )
}

/// Applies `ops` to every queue of `queues` in turn (the first is the
/// reference), comparing every result with the reference's; compares
/// [`final_state`] at the end and, when `state_every` is not zero, after
/// every `state_every`-th operation; checks at the end that each queue's
/// status counts exactly the jobs that exist.
///
/// # Errors
/// The first difference, described.
pub fn check(
    queues: &[(&str, &dyn Scheduler)],
    ops: &[Op],
    state_every: usize,
) -> Result<(), String> {
    let Some(&(reference_name, reference)) = queues.first() else {
        return Ok(());
    };
    // The claims each queue handed out (a claim is one queue's: the others
    // would find it stale), in the same order for all.
    let mut issued: Vec<Vec<Claim>> = vec![Vec::new(); queues.len()];
    let compare_states = |what: &str| -> Result<(), String> {
        let expected = final_state(reference);
        for &(name, q) in &queues[1..] {
            let got = final_state(q);
            if expected != got {
                return Err(mismatch(what, (reference_name, &expected), (name, &got)));
            }
        }
        Ok(())
    };
    for (step, op) in ops.iter().enumerate() {
        let (expected, claim) = apply(reference, op, &issued[0]);
        issued[0].extend(claim);
        for (index, &(name, q)) in queues.iter().enumerate().skip(1) {
            let (got, claim) = apply(q, op, &issued[index]);
            issued[index].extend(claim);
            if expected != got {
                return Err(mismatch(
                    &format!("step {step} {op:?}"),
                    (reference_name, &expected),
                    (name, &got),
                ));
            }
        }
        if state_every != 0 && (step + 1) % state_every == 0 && step + 1 < ops.len() {
            compare_states(&format!("state after step {step}"))?;
        }
    }
    compare_states("final state")?;
    // Internal consistency: the status counts exactly the jobs that exist.
    for &(name, q) in queues {
        let known = (0..IDS + 2).filter(|&id| q.job(JobId(id)).is_ok()).count();
        let counted = q.status().by_state.total();
        if counted != known {
            return Err(format!(
                "{name}: status counts {counted} jobs, {known} exist"
            ));
        }
    }
    Ok(())
}

/// The configuration built from these builder settings, or `None` when the
/// builder rejects them, after checking it rejects exactly the invalid
/// default capacities (0 and above `MAX_CAPACITY`) with the typed error.
///
/// # Errors
/// The builder accepted an invalid setting or rejected a valid one.
pub fn built(
    default_capacity: u32,
    fair_share: bool,
    declared_only: bool,
) -> Result<Option<QueueConfig>, String> {
    let config = JobQueue::builder()
        .default_capacity(default_capacity)
        .fair_share(fair_share)
        .declared_clusters_only(declared_only)
        .config();
    let valid = (1..=MAX_CAPACITY).contains(&default_capacity);
    match config {
        Ok(_) if !valid => Err(format!("accepted default capacity {default_capacity}")),
        Ok(config) if config.default_capacity() != default_capacity => Err(format!(
            "default capacity {default_capacity} built as {}",
            config.default_capacity()
        )),
        Ok(config) => Ok(Some(config)),
        Err(error) if valid => Err(format!(
            "rejected default capacity {default_capacity}: {error:?}"
        )),
        Err(error) if error != Error::InvalidDefaultCapacity(default_capacity) => Err(format!(
            "default capacity {default_capacity} rejected with {error:?}"
        )),
        Err(_) => Ok(None),
    }
}
