//! Differential fuzzing: the fuzzing counterpart of `tests/differential.rs`.
//!
//! Arbitrary bytes decode (with `arbitrary`) into builder settings (3
//! bytes) and a sequence of at most [`MAX_OPS`] operations, each a tag byte
//! (its kind, weighted) and one byte a field of the harness's vocabulary
//! (`harness::differential::Op`; `submit_many` batches of up to 4 specs
//! among them), bad input included: unknown and self
//! dependencies, duplicate ids, stale, replayed and forged claims, zero and
//! oversized capacities (of a cluster and as the builder's default), unknown
//! clusters (with declared clusters only), invalid priority levels, too many
//! retries, invalid leases and delays, over-long failure reasons, operations
//! after `close`. The sequence is applied to `JobQueue` and to the mutex
//! baseline (`StdMutexQueue`) by `harness::differential::check`: every
//! result must be equal (values and typed errors, as printed), and every
//! [`STATE_EVERY`] steps and at the end the job views, dependency checks,
//! status and previews must agree. A difference panics with both sides
//! printed; so does any panic inside either queue. `cargo fuzz fmt
//! differential <input>` prints an input's settings and operations.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use dagqueue::{JobQueue, MAX_CAPACITY, MAX_RETRIES};
use harness::baseline::StdMutexQueue;
use harness::differential::{self, ClaimRef, Op, CLUSTERS, IDS, RUNNERS};
use harness::Scheduler;
use libfuzzer_sys::fuzz_target;

/// The longest sequence decoded (the rest of the input is ignored).
const MAX_OPS: usize = 128;
/// The full state is compared every this many steps (and at the end).
const STATE_EVERY: usize = 16;

/// A claim as decoded: mostly the n-th claim handed out (modulo their
/// number: current, or stale after a report, a retry, a prune or a
/// resubmission), one in eight made up (incarnation 0, never issued: job
/// and attempt).
#[derive(Arbitrary, Debug)]
struct RawClaim {
    which: u8,
    job: u8,
    attempt: u8,
}

/// A dependency as decoded: job, kind.
#[derive(Arbitrary, Debug)]
struct RawEdge(u8, u8);

/// A submit as decoded (one byte a field, `Option` two; up to 4
/// dependencies, each behind a continuation byte).
#[derive(Arbitrary, Debug)]
struct RawSubmit {
    id: u8,
    priority: u8,
    runner: u8,
    cluster: Option<u8>,
    user: u8,
    retries: u8,
    cores: u8,
    lease: u8,
    delay: u8,
    deps: Vec<RawEdge>,
}

/// The kinds of operation a tag byte picks, weighted like the proptest
/// strategy of `tests/differential.rs`; a tag of 255 is `close` (rare: the
/// rest of a closed queue's run is mostly refusals).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Submit,
    SubmitMany,
    AddDeps,
    Claim,
    ClaimWait,
    Start,
    Complete,
    Fail,
    Heartbeat,
    Cancel,
    Reprioritize,
    Capacity,
    Pause,
    Resume,
    SetResources,
    Prune,
    Query,
    Preview,
    Status,
    WaitIdle,
    ExpireLeases,
}

/// (kind, weight): the weights add up to 63.
const WEIGHTS: [(Kind, u8); 21] = [
    (Kind::Submit, 9),
    (Kind::SubmitMany, 3),
    (Kind::AddDeps, 3),
    (Kind::Claim, 8),
    (Kind::ClaimWait, 1),
    (Kind::Start, 5),
    (Kind::Complete, 10),
    (Kind::Fail, 4),
    (Kind::Heartbeat, 2),
    (Kind::Cancel, 3),
    (Kind::Reprioritize, 3),
    (Kind::Capacity, 2),
    (Kind::Pause, 1),
    (Kind::Resume, 1),
    (Kind::SetResources, 1),
    (Kind::Prune, 1),
    (Kind::Query, 2),
    (Kind::Preview, 1),
    (Kind::Status, 1),
    (Kind::WaitIdle, 1),
    (Kind::ExpireLeases, 1),
];

/// The kind a tag byte picks (`None`: `close`).
fn kind(tag: u8) -> Option<Kind> {
    if tag == u8::MAX {
        return None;
    }
    let mut left = tag % 63;
    for (kind, weight) in WEIGHTS {
        if left < weight {
            return Some(kind);
        }
        left -= weight;
    }
    unreachable!("the weights add up to 63")
}

/// Any job id: `0..IDS` may be submitted, the two above never are.
fn any_id(raw: u8) -> u64 {
    u64::from(raw) % (IDS + 2)
}

/// A level: mostly 0..=4, sometimes 5 or above 239 (invalid).
fn level(raw: u8) -> u8 {
    if raw < 240 {
        raw % 6
    } else {
        raw
    }
}

/// A capacity: 0 (invalid), 1 to 3, `MAX_CAPACITY`, and above it (invalid).
fn capacity(raw: u8) -> u32 {
    [0, 1, 2, 3, 1, MAX_CAPACITY, MAX_CAPACITY + 1, u32::MAX][usize::from(raw % 8)]
}

/// The builder's default capacity: mostly 1 to 3, sometimes 0 or above
/// `MAX_CAPACITY` (the builder must reject those: nothing more to run).
fn default_capacity(raw: u8) -> u32 {
    match raw % 16 {
        0 => 0,
        1 => MAX_CAPACITY + 1,
        2 => u32::MAX,
        3 => MAX_CAPACITY,
        other => 1 + u32::from(other % 3),
    }
}

/// Cores: mostly none, a few, sometimes all (`u32::MAX`: sums overflow).
fn cores(raw: u8) -> u32 {
    match raw {
        0..=127 => 0,
        128..=247 => u32::from(raw % 10),
        _ => u32::MAX,
    }
}

/// A cluster named by a cluster operation: one more than jobs may name.
fn cluster(raw: u8) -> u32 {
    u32::from(raw) % (CLUSTERS + 1)
}

/// A runner type named by a claim or a preview: one no job has too.
fn runner(raw: u8) -> u32 {
    u32::from(raw) % (RUNNERS + 1)
}

fn claim(raw: RawClaim) -> ClaimRef {
    if raw.which < 224 {
        ClaimRef::Issued(usize::from(raw.which))
    } else {
        ClaimRef::Forged(any_id(raw.job), u32::from(raw.attempt))
    }
}

/// A submit's fields mapped onto the ranges and edge values of the
/// vocabulary.
fn submit(raw: RawSubmit) -> Op {
    Op::Submit {
        id: u64::from(raw.id) % IDS,
        priority: level(raw.priority),
        deps: raw
            .deps
            .iter()
            .take(4)
            .map(|RawEdge(job, kind)| any_id(*job) | u64::from(kind % 3) << 8)
            .collect(),
        runner: u32::from(raw.runner) % RUNNERS,
        cluster: raw.cluster.map(|c| u32::from(c) % CLUSTERS),
        user: u32::from(raw.user % 3),
        retries: match raw.retries % 8 {
            0..=4 => u32::from(raw.retries / 8 % 3),
            5 => MAX_RETRIES,
            6 => MAX_RETRIES + 1,
            _ => u32::MAX,
        },
        cores: cores(raw.cores),
        // Mostly none.
        lease: if raw.lease < 192 { 0 } else { raw.lease % 4 },
        delay: if raw.delay < 200 { 0 } else { raw.delay % 3 },
    }
}

/// One operation: a tag byte (its kind), then its fields.
fn op(u: &mut Unstructured<'_>) -> arbitrary::Result<Op> {
    let Some(kind) = kind(u.arbitrary()?) else {
        return Ok(Op::Close);
    };
    let byte = |u: &mut Unstructured<'_>| u.arbitrary::<u8>();
    Ok(match kind {
        Kind::Submit => submit(u.arbitrary()?),
        // Up to 4 specs, in-batch dependencies in any order (ids are few:
        // cycles and duplicates inside the batch come up).
        Kind::SubmitMany => {
            let raws: Vec<RawSubmit> = u.arbitrary()?;
            Op::SubmitMany(raws.into_iter().take(4).map(submit).collect())
        }
        Kind::AddDeps => {
            let (job, kind, deps): (u8, u8, Vec<u8>) = u.arbitrary()?;
            Op::AddDeps(
                any_id(job),
                kind % 3,
                deps.iter().take(4).map(|&d| any_id(d)).collect(),
            )
        }
        Kind::Claim => Op::Claim(runner(byte(u)?)),
        Kind::ClaimWait => Op::ClaimWait(runner(byte(u)?)),
        Kind::Start => Op::Start(claim(u.arbitrary()?)),
        // Mostly successes.
        Kind::Complete => {
            let (c, outcome) = (claim(u.arbitrary()?), byte(u)?);
            Op::Complete(c, outcome % 4 != 0)
        }
        Kind::Fail => Op::Fail(claim(u.arbitrary()?), byte(u)? % 4),
        Kind::Heartbeat => Op::Heartbeat(claim(u.arbitrary()?)),
        Kind::Cancel => Op::Cancel(any_id(byte(u)?)),
        Kind::Reprioritize => Op::Reprioritize(any_id(byte(u)?), level(byte(u)?)),
        Kind::Capacity => Op::Capacity(cluster(byte(u)?), capacity(byte(u)?)),
        Kind::Pause => Op::Pause(cluster(byte(u)?)),
        Kind::Resume => Op::Resume(cluster(byte(u)?)),
        Kind::SetResources => {
            Op::SetResources(cluster(byte(u)?), cores(byte(u)?.wrapping_add(128)))
        }
        Kind::Prune => Op::Prune,
        Kind::Query => Op::Query(any_id(byte(u)?)),
        Kind::Preview => Op::Preview(runner(byte(u)?)),
        Kind::Status => Op::Status,
        Kind::WaitIdle => Op::WaitIdle,
        Kind::ExpireLeases => Op::ExpireLeases,
    })
}

/// A decoded input: builder settings and the operations.
struct Input {
    default_capacity: u32,
    fair_share: bool,
    declared_only: bool,
    ops: Vec<Op>,
}

impl std::fmt::Debug for Input {
    /// The settings, then one operation a line (as `cargo fuzz fmt` shows
    /// it, ready to turn into a regression test).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "default_capacity {} fair_share {} declared_only {}",
            self.default_capacity, self.fair_share, self.declared_only
        )?;
        for (step, op) in self.ops.iter().enumerate() {
            writeln!(f, "{step:3} Op::{op:?},")?;
        }
        Ok(())
    }
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Input> {
        let default_capacity = default_capacity(u.arbitrary()?);
        let fair_share = u.arbitrary()?;
        let declared_only = u.arbitrary()?;
        let mut ops = Vec::new();
        while ops.len() < MAX_OPS && !u.is_empty() {
            match op(u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        Ok(Input {
            default_capacity,
            fair_share,
            declared_only,
            ops,
        })
    }
}

fuzz_target!(|input: Input| {
    let config = match differential::built(
        input.default_capacity,
        input.fair_share,
        input.declared_only,
    ) {
        Ok(Some(config)) => config,
        Ok(None) => return,
        Err(error) => panic!("builder: {error}\n{input:?}"),
    };
    let queue = JobQueue::with_config(config);
    let baseline = StdMutexQueue::new(config);
    let queues: [(&str, &dyn Scheduler); 2] = [("JobQueue", &queue), ("StdMutexQueue", &baseline)];
    if let Err(difference) = differential::check(&queues, &input.ops, STATE_EVERY) {
        panic!("{difference}\ninput:\n{input:?}");
    }
});
