//! (De)serialization of the types with invariants, behind the `serde`
//! feature. Plain data (ids, states, views, status, metrics) derive it
//! where they are defined; a [`JobSpec`] and a [`RetryBackoff`] go through
//! a plain "wire" form and are rebuilt with their own constructors, so that
//! nothing deserialized can break what the builders guarantee (no repeated
//! dependency, a backoff's base not above its cap). A spec's `not_before`
//! instant has no meaning in another process: it is written as the delay
//! left at serialization.

use crate::ids::{ClusterId, JobId, RunnerType, UserId};
use crate::spec::{DependencyKind, JobSpec, Priority, Resources, RetryBackoff};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize)]
struct BackoffWire {
    base: Duration,
    cap: Duration,
}

impl Serialize for RetryBackoff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BackoffWire {
            base: self.base(),
            cap: self.cap(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RetryBackoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RetryBackoff, D::Error> {
        let wire = BackoffWire::deserialize(deserializer)?;
        RetryBackoff::new(wire.base, wire.cap).map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
struct SpecWire<T> {
    id: JobId,
    priority: Priority,
    dependencies: Vec<(JobId, DependencyKind)>,
    runner: RunnerType,
    cluster: Option<ClusterId>,
    user: UserId,
    max_retries: u32,
    resources: Resources,
    lease: Option<Duration>,
    delay: Option<Duration>,
    retry_backoff: Option<RetryBackoff>,
    payload: T,
}

impl<T: Serialize> Serialize for JobSpec<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let delay = self.get_delay(Instant::now());
        SpecWire {
            id: self.id(),
            priority: self.get_priority(),
            dependencies: self.dependencies_with_kinds().collect(),
            runner: self.get_runner(),
            cluster: self.get_cluster(),
            user: self.get_user(),
            max_retries: self.get_max_retries(),
            resources: self.get_resources(),
            lease: self.get_lease(),
            delay: (!delay.is_zero()).then_some(delay),
            retry_backoff: self.get_retry_backoff(),
            payload: self.get_payload(),
        }
        .serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JobSpec<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JobSpec<T>, D::Error> {
        let wire = SpecWire::<T>::deserialize(deserializer)?;
        // Rebuilt with the builder (which drops repeated dependencies);
        // what only a queue can judge (retries, cycles, lease and delay
        // bounds) `submit` checks, as for any spec.
        let mut spec = JobSpec::new(wire.id)
            .priority(wire.priority)
            .runner(wire.runner)
            .user(wire.user)
            .max_retries(wire.max_retries)
            .resources(wire.resources);
        for (dependency, kind) in wire.dependencies {
            spec = spec.depends_on_kind(kind, [dependency]);
        }
        if let Some(cluster) = wire.cluster {
            spec = spec.cluster(cluster);
        }
        if let Some(lease) = wire.lease {
            spec = spec.lease(lease);
        }
        if let Some(delay) = wire.delay {
            spec = spec.delay(delay);
        }
        if let Some(backoff) = wire.retry_backoff {
            spec = spec.retry_backoff(backoff);
        }
        Ok(spec.payload(wire.payload))
    }
}
