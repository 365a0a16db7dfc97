//! The sync facade: the only place that names atomics, locks and the
//! concurrent containers, and the only place (with `faults.rs`) that looks
//! at the model-checking cfgs.
//!
//! As in tokio, the switch is by whole modules: `std.rs` holds the
//! primitives of a normal build (std atomics, `parking_lot` locks,
//! `dashmap`, crossbeam, arc-swap), `model.rs` the same items for a model
//! build: `--cfg dagqueue_loom` (loom's atomics and locks) or
//! `--cfg dagqueue_shuttle` (shuttle's), with one copy of the checker-visible
//! stand-ins for the containers, written against whichever checker is on.
//! The crate's own cfgs, not a plain `--cfg loom`, which is global and would
//! switch other crates too. `docs/DESIGN.md` lists what loom does and does
//! not see; `docs/VERIFICATION.md` what the shuttle runs cover.

#[cfg(all(dagqueue_loom, dagqueue_shuttle))]
compile_error!("--cfg dagqueue_loom and --cfg dagqueue_shuttle are exclusive: build one at a time");

#[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
mod std;
#[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
pub(crate) use self::std::*;

#[cfg(any(dagqueue_loom, dagqueue_shuttle))]
mod model;
#[cfg(any(dagqueue_loom, dagqueue_shuttle))]
pub(crate) use self::model::*;

pub(crate) use ::std::sync::atomic::Ordering;

/// A set-once cell. Always std's: loom has none, so what is published
/// through one must also be published by a loom-visible step (see
/// docs/DESIGN.md, "what loom does not see"). Shuttle runs its threads one
/// at a time, so it is sound there, but a step shuttle does not schedule.
pub(crate) use ::std::sync::OnceLock;

/// Asks the CPU to bring the cache line holding `address` into its
/// caches. A hint: it reads nothing the program sees and never faults, so
/// any address will do, a dangling one included. Nothing on a target
/// other than x86-64.
#[inline(always)]
pub(crate) fn prefetch<A>(address: *const A) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` loads no value into the program and cannot
    // fault, whatever the address (Intel SDM, PREFETCHh); SSE, which it
    // needs, is part of x86-64's baseline.
    unsafe {
        ::core::arch::x86_64::_mm_prefetch::<{ ::core::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Pads a value to its own cache line.
pub(crate) use crossbeam_utils::CachePadded;

/// Runner ids below this are looked up in a plain array, not the map. None
/// in a model build: every runner goes through the (checker-visible) map,
/// because the array's `OnceLock` synchronises through std atomics, which
/// loom cannot see (and shuttle does not schedule).
pub(crate) const FAST_RUNNERS: usize = if LOOM { 0 } else { 64 };

/// A number unique to each call in this process (queue identities).
pub(crate) fn next_queue_uid() -> u64 {
    // A std atomic even in a model build: a process-wide counter is not part
    // of any protocol a model checks. Relaxed: only uniqueness matters.
    static NEXT: ::std::sync::atomic::AtomicU64 = ::std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Incarnations come in blocks of this many from one process-wide counter.
const INCARNATION_BLOCK: u64 = 1024;

/// Hands out blocks of incarnations. A std atomic even in a model build: a
/// process-wide counter is not part of any protocol a model checks (under
/// shuttle, whose threads share one OS thread, one block serves them all:
/// still unique). Relaxed: only uniqueness matters.
static NEXT_INCARNATION_BLOCK: ::std::sync::atomic::AtomicU64 =
    ::std::sync::atomic::AtomicU64::new(1);

/// A number unique to each call in this process, never 0, below 2^53: a job
/// record's incarnation. Handed out from per-thread blocks of a
/// process-wide counter, so concurrent submitters share no cache line.
pub(crate) fn next_incarnation() -> u64 {
    use ::std::cell::Cell;
    ::std::thread_local!(static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) });
    RANGE.with(|range| {
        let (mut next, mut end) = range.get();
        if next == end {
            next = NEXT_INCARNATION_BLOCK.fetch_add(1, Ordering::Relaxed) * INCARNATION_BLOCK;
            end = next + INCARNATION_BLOCK;
        }
        range.set((next + 1, end));
        next
    })
}

/// The first of `count` consecutive incarnations that no other call hands
/// out (a `submit_many` batch's: a record finds its place in the batch's
/// lists from its incarnation). Whole blocks of the same counter.
pub(crate) fn next_incarnations(count: u64) -> u64 {
    let blocks = count.div_ceil(INCARNATION_BLOCK).max(1);
    NEXT_INCARNATION_BLOCK.fetch_add(blocks, Ordering::Relaxed) * INCARNATION_BLOCK
}

/// Loads the current value of a snapshot cell.
#[inline]
pub(crate) fn snapshot_load<T>(cell: &Snapshot<T>) -> Option<::std::sync::Arc<T>> {
    cell.load_full()
}

/// Replaces the value of a snapshot cell.
#[inline]
pub(crate) fn snapshot_store<T>(cell: &Snapshot<T>, value: Option<::std::sync::Arc<T>>) {
    cell.store(value);
}

/// Replaces the value of a snapshot cell and returns the one it had.
#[inline]
pub(crate) fn snapshot_swap<T>(
    cell: &Snapshot<T>,
    value: Option<::std::sync::Arc<T>>,
) -> Option<::std::sync::Arc<T>> {
    cell.swap(value)
}

/// A new snapshot cell.
pub(crate) fn snapshot_new<T>(value: Option<::std::sync::Arc<T>>) -> Snapshot<T> {
    Snapshot::from(value)
}
