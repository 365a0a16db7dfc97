//! The `serde` feature: specs, views, status, metrics and events round-trip through
//! JSON, and a deserialized spec cannot break what the builders guarantee.
//! Run with `cargo test --features serde --test serde` (CI does).
#![cfg(feature = "serde")]

use dagqueue::{
    ClusterId, DependencyKind, JobId, JobQueue, JobSpec, JobState, Priority, QueueStatus,
    Resources, RetryBackoff, RunnerType, UserId,
};
use std::time::Duration;

fn round_trip<X: serde::Serialize + serde::de::DeserializeOwned>(value: &X) -> X {
    let json = serde_json::to_string(value).expect("serializes");
    serde_json::from_str(&json).expect("deserializes")
}

#[test]
fn a_spec_with_every_option_and_a_payload_round_trips() {
    let spec = JobSpec::new(JobId(7))
        .priority(Priority::High)
        .depends_on([JobId(1), JobId(2)])
        .depends_on_kind(DependencyKind::AfterFailure, [JobId(3)])
        .runner(RunnerType(2))
        .cluster(ClusterId(4))
        .user(UserId(9))
        .max_retries(3)
        .resources(Resources {
            cores: 8,
            memory_gb: 16,
        })
        .lease(Duration::from_secs(30))
        .delay(Duration::from_secs(60))
        .retry_backoff(
            RetryBackoff::new(Duration::from_millis(20), Duration::from_secs(5)).unwrap(),
        )
        .payload(vec!["input.csv".to_string()]);
    let back = round_trip(&spec);
    assert_eq!(back, spec);
}

#[test]
fn a_deserialized_spec_keeps_the_builders_guarantees() {
    // Repeated dependencies count once, as `depends_on` makes them.
    let json = r#"{"id":1,"priority":"Normal","dependencies":[[2,"AfterSuccess"],[2,"AfterAny"],[3,"AfterAny"]],
        "runner":0,"cluster":null,"user":0,"max_retries":0,"resources":{"cores":0,"memory_gb":0},
        "lease":null,"delay":null,"retry_backoff":null,"payload":null}"#;
    let spec: JobSpec = serde_json::from_str(json).unwrap();
    assert_eq!(spec.dependencies(), &[JobId(2), JobId(3)]);
    let kinds: Vec<_> = spec.dependencies_with_kinds().collect();
    assert_eq!(
        kinds,
        [
            (JobId(2), DependencyKind::AfterSuccess),
            (JobId(3), DependencyKind::AfterAny)
        ]
    );
    // A backoff whose base exceeds its cap is refused, not built.
    let bad = r#"{"base":{"secs":5,"nanos":0},"cap":{"secs":1,"nanos":0}}"#;
    assert!(serde_json::from_str::<RetryBackoff>(bad).is_err());
    // A spec that only a queue can judge is judged at submit: a typed error.
    let self_dependent: JobSpec =
        serde_json::from_str(&json.replace(r#"[[2,"AfterSuccess"]"#, r#"[[1,"AfterSuccess"]"#))
            .unwrap();
    let queue = JobQueue::new();
    assert_eq!(
        queue.submit(self_dependent),
        Err(dagqueue::Error::SelfDependency(JobId(1)))
    );
}

#[test]
fn views_status_and_metrics_round_trip() {
    let queue = JobQueue::new();
    queue.set_cluster_capacity(ClusterId(1), 2).unwrap();
    queue
        .submit(JobSpec::new(JobId(1)).cluster(ClusterId(1)))
        .unwrap();
    queue
        .submit(
            JobSpec::new(JobId(2))
                .depends_on([JobId(1)])
                .runner(RunnerType(3)),
        )
        .unwrap();
    let claim = queue.claim(RunnerType::DEFAULT).unwrap();
    queue.fail(claim, "disk full").unwrap();
    let view = queue.job(JobId(1)).unwrap();
    assert_eq!(view.state, JobState::Failed);
    assert_eq!(round_trip(&view), view);
    assert_eq!(
        round_trip(&queue.job(JobId(2)).unwrap()),
        queue.job(JobId(2)).unwrap()
    );
    let status: QueueStatus = queue.status();
    assert_eq!(round_trip(&status), status);
    let metrics = queue.metrics();
    assert_eq!(round_trip(&metrics), metrics);
    // Job 2 ended with its dependency: nothing left to claim.
    assert!(queue.claim(RunnerType(3)).is_none());
}

#[test]
fn events_round_trip() {
    let q = JobQueue::new();
    let mut events = q.subscribe();
    q.submit(JobSpec::new(JobId(1)).priority(Priority::Low))
        .unwrap();
    q.cancel(JobId(1)).unwrap();
    let mut seen = 0;
    while let Ok(event) = events.try_recv() {
        assert_eq!(round_trip(&event), event);
        seen += 1;
    }
    assert_eq!(seen, 2);
}
