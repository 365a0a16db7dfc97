//! The lock-free queue (being written).
#![allow(missing_docs, unused)]
use crate::*;
use std::time::Duration;

/// The lock-free job queue.
pub struct JobQueue {
    config: QueueConfig,
}

/// Builds a [`JobQueue`].
pub struct JobQueueBuilder {
    config: QueueConfig,
}

impl JobQueue {
    /// A builder with the default configuration.
    pub fn builder() -> JobQueueBuilder {
        JobQueueBuilder { config: QueueConfig::default() }
    }
}

impl JobQueueBuilder {
    /// Builds the queue.
    pub fn build(self) -> JobQueue {
        JobQueue { config: self.config }
    }
}

impl Scheduler for JobQueue {
    fn submit(&self, spec: JobSpec) -> Result<JobId, Error> { todo!() }
    fn add_dependencies(&self, job: JobId, dependencies: &[JobId]) -> Result<(), Error> { todo!() }
    fn claim(&self, runner: RunnerId) -> Option<Claim> { todo!() }
    fn claim_wait(&self, runner: RunnerId, timeout: Duration) -> Option<Claim> { todo!() }
    fn start(&self, claim: &Claim) -> Result<(), Error> { todo!() }
    fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error> { todo!() }
    fn cancel(&self, job: JobId) -> Result<CancelOutcome, Error> { todo!() }
    fn reprioritize(&self, job: JobId, priority: Priority) -> Result<(), Error> { todo!() }
    fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> { todo!() }
    fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> { todo!() }
    fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> { todo!() }
    fn set_cluster_resources(&self, cluster: ClusterId, resources: Resources) -> Result<(), Error> { todo!() }
    fn job(&self, job: JobId) -> Result<JobView, Error> { todo!() }
    fn dependencies_satisfied(&self, job: JobId) -> Result<bool, Error> { todo!() }
    fn schedulable(&self, runner: RunnerId) -> Vec<JobId> { todo!() }
    fn status(&self) -> QueueStatus { todo!() }
    fn metrics(&self) -> Metrics { todo!() }
    fn prune_finished(&self) -> usize { todo!() }
}
