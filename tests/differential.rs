//! Differential test: random operation sequences applied single-threaded to
//! `JobQueue`, `StdMutexQueue` and `ParkingLotQueue`; after every operation
//! the three must return identical results (values and errors), and at the
//! end show identical job views, status (minus the time-dependent metrics)
//! and previews (as sets per level: the entry-time tiebreak differs).
//!
//! The operations include bad input on purpose: unknown and self
//! dependencies, duplicate ids, stale and forged claims, zero and oversized
//! capacities (of a cluster and as the builder's default), unknown clusters
//! (with declared clusters only), too many retries.

mod common;

use common::*;
use dagqueue::{
    ClusterId, DependencyKind, Error, JobId, JobSpec, Priority, QueueConfig, QueueStatus,
    Resources, RunnerType, UserId, MAX_CAPACITY, MAX_RETRIES,
};
use harness::Claim;
use harness::Scheduler;
use proptest::prelude::*;
use std::time::Duration;

/// Job ids submitted are below this; two more ids are never submitted.
const IDS: u64 = 12;
/// Clusters 0..3 may be named by jobs; cluster 3 only by cluster operations.
const CLUSTERS: u32 = 4;
const RUNNERS: u32 = 2;

#[derive(Clone, Debug)]
enum ClaimRef {
    /// The n-th claim handed out so far (modulo their number).
    Issued(usize),
    /// A claim made up.
    Forged(u64, u32),
}

#[derive(Clone, Debug)]
enum Op {
    Submit {
        id: u64,
        priority: u8,
        deps: Vec<u64>,
        runner: u32,
        cluster: Option<u32>,
        user: u32,
        retries: u32,
        cores: u32,
    },
    /// Job, dependency kind (0..3), dependencies.
    AddDeps(u64, u8, Vec<u64>),
    Claim(u32),
    ClaimWait(u32),
    Start(ClaimRef),
    Complete(ClaimRef, bool),
    /// A failure report with one of a few reasons.
    Fail(ClaimRef, u8),
    Cancel(u64),
    Reprioritize(u64, u8),
    Capacity(u32, u32),
    Pause(u32),
    Resume(u32),
    SetResources(u32, u32),
    Prune,
    Query(u64),
    Preview(u32),
    Status,
}

fn any_id() -> impl Strategy<Value = u64> {
    0..IDS + 2
}

fn claim_ref() -> impl Strategy<Value = ClaimRef> {
    prop_oneof![
        4 => (0..64usize).prop_map(ClaimRef::Issued),
        1 => (any_id(), 0..4u32).prop_map(|(j, a)| ClaimRef::Forged(j, a)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let submit = (
        0..IDS,
        0..5u8,
        // A dependency's kind rides in its upper bits (see `edge`).
        prop::collection::vec(
            (any_id(), prop_oneof![3 => Just(0u64), 1 => 1..3u64]).prop_map(|(d, k)| d | k << 8),
            0..3,
        ),
        0..RUNNERS,
        prop_oneof![2 => Just(None), 3 => (0..3u32).prop_map(Some)],
        0..3u32,
        prop_oneof![10 => 0..3u32, 1 => Just(MAX_RETRIES + 1)],
        prop_oneof![4 => Just(0u32), 1 => 0..10u32],
    )
        .prop_map(
            |(id, priority, deps, runner, cluster, user, retries, cores)| Op::Submit {
                id,
                priority,
                deps,
                runner,
                cluster,
                user,
                retries,
                cores,
            },
        );
    prop_oneof![
        8 => submit,
        2 => (any_id(), 0..3u8, prop::collection::vec(any_id(), 0..3))
            .prop_map(|(j, k, d)| Op::AddDeps(j, k, d)),
        5 => (0..RUNNERS).prop_map(Op::Claim),
        1 => (0..RUNNERS).prop_map(Op::ClaimWait),
        3 => claim_ref().prop_map(Op::Start),
        6 => (claim_ref(), prop::bool::weighted(0.7)).prop_map(|(c, s)| Op::Complete(c, s)),
        2 => (claim_ref(), 0..3u8).prop_map(|(c, r)| Op::Fail(c, r)),
        2 => any_id().prop_map(Op::Cancel),
        2 => (any_id(), 0..5u8).prop_map(|(j, p)| Op::Reprioritize(j, p)),
        1 => (0..CLUSTERS, prop_oneof![8 => 0..4u32, 1 => Just(MAX_CAPACITY + 1)])
            .prop_map(|(c, n)| Op::Capacity(c, n)),
        1 => (0..CLUSTERS).prop_map(Op::Pause),
        1 => (0..CLUSTERS).prop_map(Op::Resume),
        1 => (0..CLUSTERS, 0..10u32).prop_map(|(c, n)| Op::SetResources(c, n)),
        1 => Just(Op::Prune),
        2 => any_id().prop_map(Op::Query),
        1 => (0..RUNNERS).prop_map(Op::Preview),
        1 => Just(Op::Status),
    ]
}

const KINDS: [DependencyKind; 3] = [
    DependencyKind::AfterSuccess,
    DependencyKind::AfterAny,
    DependencyKind::AfterFailure,
];

/// A dependency drawn with its kind in the upper bits.
fn edge(drawn: u64) -> (JobId, DependencyKind) {
    (JobId(drawn & 0xff), KINDS[(drawn >> 8) as usize])
}

fn resources(cores: u32) -> Resources {
    Resources {
        cores,
        memory_gb: 4,
    }
}

fn resolve(r: &ClaimRef, issued: &[Claim]) -> Claim {
    match *r {
        ClaimRef::Issued(n) if !issued.is_empty() => issued[n % issued.len()].clone(),
        // Made up: incarnation 0 is never issued, so every implementation
        // must find these stale.
        ClaimRef::Issued(n) => Claim::from_parts(JobId(n as u64 % IDS), 0, 1),
        ClaimRef::Forged(job, attempt) => Claim::from_parts(JobId(job), 0, attempt),
    }
}

/// Status without the time-dependent metrics.
fn comparable_status(q: &dyn Scheduler) -> QueueStatus {
    let mut status = q.status();
    status.metrics.average_wait = Duration::ZERO;
    status.metrics.completed_in_window = 0;
    status
}

/// A preview as (level, id) pairs sorted: a set per level. Also checks the
/// preview itself is in level order.
fn preview_sets(q: &dyn Scheduler, runner: RunnerType) -> Result<Vec<(u8, JobId)>, String> {
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

/// Applies one operation; returns its result, printed, and the claim it
/// handed out, if any.
fn apply(q: &dyn Scheduler, op: &Op, issued: &[Claim]) -> (String, Option<Claim>) {
    match op {
        Op::Submit {
            id,
            priority,
            deps,
            runner,
            cluster,
            user,
            retries,
            cores,
        } => {
            let mut spec = JobSpec::new(JobId(*id))
                .priority(Priority::from_level(*priority).unwrap())
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
            (format!("{:?}", q.submit(spec)), None)
        }
        Op::AddDeps(job, kind, deps) => {
            let deps: Vec<JobId> = deps.iter().map(|&d| JobId(d)).collect();
            let kind = KINDS[usize::from(*kind)];
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
                dagqueue::Outcome::Success
            } else {
                dagqueue::Outcome::Failure
            };
            (
                format!("{:?}", q.complete(resolve(r, issued), outcome)),
                None,
            )
        }
        Op::Fail(r, reason) => {
            let reason = ["", "out of memory", "\u{e9}\u{e9}"][usize::from(*reason)];
            (format!("{:?}", q.fail(resolve(r, issued), reason)), None)
        }
        Op::Cancel(job) => (format!("{:?}", q.cancel(JobId(*job))), None),
        Op::Reprioritize(job, p) => (
            format!(
                "{:?}",
                q.reprioritize(JobId(*job), Priority::from_level(*p).unwrap())
            ),
            None,
        ),
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
    }
}

/// Everything compared at the end.
fn final_state(q: &dyn Scheduler) -> String {
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

fn check(config: QueueConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let queues = impls(config);
    let (reference_name, reference) = &queues[0];
    // The claims each queue handed out (a claim is one queue's: the others
    // would find it stale), in the same order for all.
    let mut issued: Vec<Vec<Claim>> = vec![Vec::new(); queues.len()];
    for (step, op) in ops.iter().enumerate() {
        let (expected, claim) = apply(&**reference, op, &issued[0]);
        issued[0].extend(claim);
        for (index, (name, q)) in queues.iter().enumerate().skip(1) {
            let (got, claim) = apply(&**q, op, &issued[index]);
            issued[index].extend(claim);
            prop_assert_eq!(
                &expected,
                &got,
                "step {} {:?}: {} vs {}",
                step,
                op,
                reference_name,
                name
            );
        }
    }
    let expected = final_state(&**reference);
    for (name, q) in &queues[1..] {
        prop_assert_eq!(
            &expected,
            &final_state(&**q),
            "final state: {} vs {}",
            reference_name,
            name
        );
    }
    // Internal consistency: the status counts exactly the jobs that exist.
    for (name, q) in &queues {
        let known = (0..IDS + 2).filter(|&id| q.job(JobId(id)).is_ok()).count();
        prop_assert_eq!(q.status().by_state.total(), known, "{}", name);
    }
    Ok(())
}

fn cases() -> u32 {
    if cfg!(miri) {
        2
    } else {
        std::env::var("DAGQUEUE_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64)
    }
}

/// Builder settings, invalid default capacities included (0 and above
/// `MAX_CAPACITY`): the one configuration path must reject exactly those.
fn config_strategy() -> impl Strategy<Value = (u32, bool, bool)> {
    (
        prop_oneof![
            8 => 1..4u32,
            1 => Just(0u32),
            1 => Just(MAX_CAPACITY),
            1 => Just(MAX_CAPACITY + 1),
        ],
        any::<bool>(),
        prop::bool::weighted(0.25),
    )
}

/// The configuration every implementation is built from, or `None` (after
/// checking the error) when the builder rightly rejects the settings.
fn built(
    (default_capacity, fair_share, declared_only): (u32, bool, bool),
) -> Result<Option<QueueConfig>, TestCaseError> {
    let config = dagqueue::JobQueue::builder()
        .default_capacity(default_capacity)
        .fair_share(fair_share)
        .declared_clusters_only(declared_only)
        .config();
    let valid = (1..=MAX_CAPACITY).contains(&default_capacity);
    match config {
        Ok(config) => {
            prop_assert!(valid, "accepted default capacity {}", default_capacity);
            prop_assert_eq!(config.default_capacity(), default_capacity);
            Ok(Some(config))
        }
        Err(error) => {
            prop_assert!(!valid, "rejected default capacity {}", default_capacity);
            prop_assert_eq!(error, Error::InvalidDefaultCapacity(default_capacity));
            Ok(None)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn implementations_agree_on_random_operation_sequences(
        settings in config_strategy(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        if let Some(config) = built(settings)? {
            check(config, &ops)?;
        }
    }
}

/// A fixed sequence through the paths most likely to diverge (cursor moves
/// across groups and levels, set-aside jobs, retries, cascades), so the
/// comparison runs even where proptest draws few cases.
#[test]
fn implementations_agree_on_a_fixed_sequence() {
    let submit = |id, priority, deps: Vec<u64>, cluster: Option<u32>, user, cores| Op::Submit {
        id,
        priority,
        deps,
        runner: 0,
        cluster,
        user,
        retries: 1,
        cores,
    };
    let ops = vec![
        Op::SetResources(1, 4),
        submit(1, 2, vec![], Some(0), 0, 0),
        submit(2, 2, vec![], Some(1), 1, 8),
        submit(3, 2, vec![1], Some(1), 2, 0),
        submit(4, 1, vec![], None, 1, 0),
        submit(5, 2, vec![], Some(0), 2, 0),
        Op::Claim(0),
        Op::Claim(0),
        Op::Complete(ClaimRef::Issued(0), true),
        Op::Claim(0),
        Op::Complete(ClaimRef::Issued(1), false),
        Op::Claim(0),
        Op::Claim(0),
        Op::SetResources(1, 9),
        Op::Claim(0),
        Op::Cancel(5),
        Op::Complete(ClaimRef::Issued(2), false),
        Op::Claim(0),
        Op::Complete(ClaimRef::Issued(3), false),
        Op::Claim(0),
        Op::Prune,
        Op::Status,
    ];
    for fair_share in [false, true] {
        let config = dagqueue::JobQueue::builder()
            .default_capacity(2)
            .fair_share(fair_share)
            .config()
            .unwrap();
        check(config, &ops).unwrap();
    }
}

/// `start` of a running attempt whose cancellation was requested: both
/// `AlreadyStarted` and `CancelRequested` describe it; the implementations
/// must agree on which one wins. (A fixed sequence, so a divergence fails
/// every run rather than when proptest happens to draw it.)
#[test]
fn implementations_agree_on_start_after_cancel_request() {
    let ops = vec![
        Op::Submit {
            id: 1,
            priority: 2,
            deps: vec![],
            runner: 0,
            cluster: None,
            user: 0,
            retries: 0,
            cores: 0,
        },
        Op::Claim(0),
        Op::Start(ClaimRef::Issued(0)),
        Op::Cancel(1),
        Op::Start(ClaimRef::Issued(0)),
        Op::Complete(ClaimRef::Issued(0), true),
        Op::Query(1),
    ];
    check(config(), &ops).unwrap();
}
