//! The Python manager's dequeue, reproduced: one lock around a map of every
//! job; each dequeue scans the whole map for queued jobs whose dependencies
//! are completed, scores each (1000 points a priority level above
//! Background, +1 a minute waited), sorts the candidates best first (FIFO by
//! enqueue time among equal scores) and hands out the first. O(n log n) per
//! dequeue in the number of queued jobs.

use super::{Engine, Spec};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Running,
    Completed,
}

struct Job {
    level: u8,
    enqueued: Instant,
    sequence: u64,
    state: State,
    deps: Vec<u64>,
}

#[derive(Default)]
struct Inner {
    jobs: HashMap<u64, Job>,
    sequence: u64,
}

/// See the module docs.
pub struct ScanSort {
    inner: Mutex<Inner>,
}

impl ScanSort {
    /// The Python `dequeue`: scan, score, sort, take the best.
    pub fn dequeue(&self) -> Option<u64> {
        let mut inner = self.inner.lock();
        let now = Instant::now();
        let jobs = &inner.jobs;
        let mut candidates: Vec<(i64, u64, u64)> = jobs
            .iter()
            .filter(|(_, job)| job.state == State::Queued)
            .filter(|(_, job)| {
                job.deps
                    .iter()
                    .all(|d| jobs.get(d).is_none_or(|dep| dep.state == State::Completed))
            })
            .map(|(&id, job)| {
                let minutes = now.duration_since(job.enqueued).as_secs() as i64 / 60;
                let score = (4 - i64::from(job.level)) * 1000 + minutes;
                (score, job.sequence, id)
            })
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let &(_, _, id) = candidates.first()?;
        inner.jobs.get_mut(&id).expect("candidate").state = State::Running;
        Some(id)
    }

    /// The Python `handle_job_completion(id, True)`.
    pub fn complete(&self, id: u64) {
        let mut inner = self.inner.lock();
        if let Some(job) = inner.jobs.get_mut(&id) {
            if job.state == State::Running {
                job.state = State::Completed;
            }
        }
    }
}

impl Engine for ScanSort {
    const NAME: &'static str = "ScanSort";

    fn empty(capacity: usize) -> ScanSort {
        ScanSort {
            inner: Mutex::new(Inner {
                jobs: HashMap::with_capacity(capacity),
                sequence: 0,
            }),
        }
    }

    fn submit(&self, id: u64, spec: &Spec) {
        let mut inner = self.inner.lock();
        inner.sequence += 1;
        let sequence = inner.sequence;
        inner.jobs.insert(
            id,
            Job {
                level: spec.level,
                enqueued: Instant::now(),
                sequence,
                state: State::Queued,
                deps: spec.deps.iter().map(|&d| u64::from(d)).collect(),
            },
        );
    }

    fn step(&self) -> bool {
        match self.dequeue() {
            Some(id) => {
                self.complete(id);
                true
            }
            None => false,
        }
    }

    fn prune(&self) {
        self.inner
            .lock()
            .jobs
            .retain(|_, job| job.state != State::Completed);
    }
}
