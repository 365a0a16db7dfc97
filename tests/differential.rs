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
use dagqueue::{QueueConfig, MAX_CAPACITY, MAX_RETRIES};
// The vocabulary, its application and the comparison are the harness's,
// shared with the fuzz target (fuzz/fuzz_targets/differential.rs).
use harness::differential::{self, ClaimRef, Op, CLUSTERS, IDS, RUNNERS};
use harness::Scheduler;
use proptest::prelude::*;

fn any_id() -> impl Strategy<Value = u64> {
    0..IDS + 2
}

fn claim_ref() -> impl Strategy<Value = ClaimRef> {
    prop_oneof![
        4 => (0..64usize).prop_map(ClaimRef::Issued),
        1 => (any_id(), 0..4u32).prop_map(|(j, a)| ClaimRef::Forged(j, a)),
    ]
}

fn submit() -> impl Strategy<Value = Op> {
    (
        0..IDS,
        0..5u8,
        // A dependency's kind rides in its upper bits (see `differential::edge`).
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
                // No lease, no delay (the fuzz target draws those).
                lease: 0,
                delay: 0,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => submit(),
        // Batches: dependencies inside the batch in any order, cycles and
        // duplicates inside it included (ids are few).
        2 => prop::collection::vec(submit(), 1..5).prop_map(Op::SubmitMany),
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

/// Every implementation built from `config`, compared by
/// `harness::differential::check`: results after every operation, the final
/// views, dependency checks, status and previews, and that each status
/// counts exactly the jobs that exist.
fn check(config: QueueConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let queues = impls(config);
    let queues: Vec<(&str, &dyn Scheduler)> =
        queues.iter().map(|(name, q)| (*name, &**q)).collect();
    differential::check(&queues, ops, 0).map_err(TestCaseError::fail)
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
    differential::built(default_capacity, fair_share, declared_only).map_err(TestCaseError::fail)
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
        lease: 0,
        delay: 0,
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
            lease: 0,
            delay: 0,
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
