//! The per-thread claim hint: the job this thread claimed last, so that the
//! `start` and `complete` it usually calls next skip the table lookup (a
//! cold hash probe plus a shard lock at a million jobs). One job per thread
//! is kept, tagged with its queue's id; a claim names its job record's
//! incarnation, so the hint only ever matches the very record claimed. Only a
//! hint: whenever the remembered job refuses a transition, the table is
//! asked. Loom builds keep nothing
//! (the facade's `CLAIM_HINT` is off): the models check the table path.

use super::JobQueue;
use crate::claim::Claim;
use crate::job::Job;
use crate::sync::CLAIM_HINT;
use std::cell::RefCell;
use std::sync::Arc;

/// A claimed job kept by the claiming thread, tagged with its queue's id (a
/// claim handed to another queue must not reach this record through it).
struct Remembered {
    queue: u64,
    job: Arc<Job>,
}

thread_local! {
    /// The job this thread claimed last, with its queue's id.
    static LAST_CLAIMED: RefCell<Option<Remembered>> = const { RefCell::new(None) };
}

impl JobQueue {
    /// Keeps the job this thread just claimed.
    #[inline]
    pub(super) fn remember_claimed(&self, job: Arc<Job>) {
        if !CLAIM_HINT {
            return;
        }
        let remembered = Remembered {
            queue: self.uid,
            job,
        };
        // Replace, and drop the previous job outside the borrow. The slot is
        // only ever borrowed briefly by this thread's own calls, none of
        // which claims meanwhile, so the borrow cannot fail; if it did,
        // nothing would be remembered (only a hint is lost).
        let previous = LAST_CLAIMED.with(|slot| {
            slot.try_borrow_mut()
                .map(|mut slot| slot.replace(remembered))
                .ok()
                .flatten()
        });
        drop(previous);
    }

    /// Runs `f` on the remembered job if it is the record `claim` was made
    /// from, in this queue; the job stays remembered (it is dropped when this thread claims
    /// again).
    #[inline]
    pub(super) fn with_remembered<R>(
        &self,
        claim: &Claim,
        f: impl FnOnce(&Arc<Job>) -> R,
    ) -> Option<R> {
        if !CLAIM_HINT {
            return None;
        }
        LAST_CLAIMED.with(|slot| {
            let slot = slot.try_borrow().ok()?;
            match &*slot {
                Some(remembered)
                    if remembered.queue == self.uid
                        && remembered.job.incarnation == claim.incarnation() =>
                {
                    Some(f(&remembered.job))
                }
                _ => None,
            }
        })
    }
}
