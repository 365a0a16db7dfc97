//! The `tracing` feature: the queue emits one event (target `dagqueue`) at
//! submit, claim, report and lease expiry. Run with
//! `cargo test --features tracing --test tracing` (CI does).
#![cfg(feature = "tracing")]

use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the message of every event of target `dagqueue`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "dagqueue"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn submit_claim_report_and_expiry_are_traced() {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let queue = JobQueue::builder()
            .lease(Duration::from_millis(20))
            .build()
            .unwrap();
        queue.submit(JobSpec::new(JobId(1))).unwrap();
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        queue.submit(JobSpec::new(JobId(2))).unwrap();
        let held = queue.claim(RunnerType::DEFAULT).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(queue.expire_leases(), 1);
        drop(held);
    });
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "submitted",
            "claimed",
            "reported",
            "submitted",
            "claimed",
            "lease expired"
        ]
    );
}
