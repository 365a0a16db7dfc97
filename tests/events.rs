//! The event stream: every transition, each job's in order, a lagging
//! subscriber told exactly what it missed, blocking and async receives.

mod common;

use common::{race, scale};
use dagqueue::*;
use harness::rng::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Receives until the queue is gone; panics on a lag (the tests size their
/// workloads below one ring's capacity).
fn drain_until_closed(mut events: Subscriber) -> Vec<Event> {
    let mut all = Vec::new();
    loop {
        match events.recv() {
            Ok(event) => all.push(event),
            Err(RecvError::Closed) => return all,
            Err(RecvError::Lagged(missed)) => panic!("lagged by {missed}"),
        }
    }
}

/// Checks one job's events against its final view: they start with
/// `Submitted`, each starts in the state the one before ended in, a claim
/// adds one attempt and nothing else changes it, and the last ends in the
/// job's final state and attempt.
fn check_history(id: JobId, events: &[Event], last: &JobView) -> Result<(), String> {
    let first = events.first().ok_or(format!("{id}: no event"))?;
    if (first.kind, first.from) != (EventKind::Submitted, None) {
        return Err(format!("{id}: starts with {first:?}"));
    }
    for pair in events.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        if after.from != Some(before.to) {
            return Err(format!("{id}: {before:?} then {after:?}"));
        }
        let expected = before.attempt + u32::from(after.kind == EventKind::Claimed);
        if after.attempt != expected {
            return Err(format!("{id}: attempt {before:?} then {after:?}"));
        }
        if after.at < before.at {
            return Err(format!("{id}: time went back: {before:?} then {after:?}"));
        }
    }
    let end = events.last().unwrap();
    if (end.to, end.attempt) != (last.state, last.attempt) {
        return Err(format!("{id}: ends {end:?}, but the job is {last:?}"));
    }
    Ok(())
}

#[test]
fn racing_workers_histories_rebuilt_from_the_stream_match_the_final_states() {
    let q = Arc::new(JobQueue::new());
    let events = q.subscribe();
    let receiver = std::thread::spawn(move || drain_until_closed(events));
    let jobs = scale(600u64, 60);
    // A DAG: each job depends on up to two earlier ones; some fail and are
    // retried, some are cancelled while claimed or queued.
    let mut rng = Rng::new(5);
    for id in 0..jobs {
        let mut spec = JobSpec::new(JobId(id)).max_retries(1);
        for _ in 0..rng.below(3) {
            if id > 0 {
                spec = spec.depends_on_kind(DependencyKind::AfterAny, [JobId(rng.below(id))]);
            }
        }
        q.submit(spec).unwrap();
    }
    // Two cancels for certain (the racing ones may all come too late).
    q.cancel(JobId(jobs - 1)).unwrap();
    q.cancel(JobId(jobs - 2)).unwrap();
    race(4, |worker| {
        let mut rng = Rng::new(worker as u64 + 10);
        loop {
            if worker == 3 && rng.below(4) == 0 {
                let _ = q.cancel(JobId(rng.below(jobs)));
                let _ = q.reprioritize(JobId(rng.below(jobs)), Priority::High);
            }
            match q.claim(RunnerType::DEFAULT) {
                Some(claim) => {
                    let _ = q.start(&claim);
                    let outcome = if rng.below(5) == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    let _ = q.complete(claim, outcome);
                }
                None if q.status().by_state.get(JobState::Pending) == 0
                    && q.status().by_state.get(JobState::Scheduled) == 0
                    && q.status().by_state.get(JobState::Running) == 0
                    && q.status().by_state.get(JobState::Waiting) == 0 =>
                {
                    break
                }
                None => std::thread::yield_now(),
            }
        }
    });
    let views: Vec<JobView> = (0..jobs).map(|id| q.job(JobId(id)).unwrap()).collect();
    drop(Arc::into_inner(q).expect("the workers are done"));
    let stream = receiver.join().unwrap();
    let mut by_job: BTreeMap<JobId, Vec<Event>> = BTreeMap::new();
    for event in stream {
        by_job.entry(event.job).or_default().push(event);
    }
    assert_eq!(by_job.len() as u64, jobs, "every job has events");
    let mut kinds = std::collections::HashSet::new();
    for view in &views {
        let history = &by_job[&view.id];
        kinds.extend(history.iter().map(|e| e.kind));
        if let Err(problem) = check_history(view.id, history, view) {
            panic!("{problem}\n{history:#?}");
        }
        assert!(view.state.is_terminal(), "{view:?}");
    }
    for kind in [
        EventKind::Submitted,
        EventKind::Ready,
        EventKind::Claimed,
        EventKind::Started,
        EventKind::Retried,
        EventKind::Completed,
        EventKind::Cancelled,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} event in the run");
    }
}

#[test]
fn a_claim_racing_a_cancel_is_reported_in_the_order_it_happened() {
    let rounds = scale(2_000u64, 100);
    let q = JobQueue::new();
    let mut events = q.subscribe();
    for id in 0..rounds {
        q.submit(JobSpec::new(JobId(id))).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                if let Some(claim) = q.claim(RunnerType::DEFAULT) {
                    let _ = q.start(&claim);
                    let _ = q.complete(claim, Outcome::Success);
                }
            });
            s.spawn(|| {
                let _ = q.cancel(JobId(id));
            });
        });
        let mut history = Vec::new();
        while let Ok(event) = events.try_recv() {
            history.push(event);
        }
        let view = q.job(JobId(id)).unwrap();
        if let Err(problem) = check_history(JobId(id), &history, &view) {
            panic!("round {id}: {problem}\n{history:#?}");
        }
    }
}

#[test]
fn a_lagging_subscriber_is_told_exactly_how_many_events_it_missed() {
    let q = JobQueue::new();
    let mut events = q.subscribe();
    // One thread, so one ring: 4,196 events, 100 more than it holds.
    let total = EVENT_BUFFER as u64 + 100;
    for id in 0..total {
        q.submit(JobSpec::new(JobId(id))).unwrap();
    }
    assert_eq!(events.try_recv(), Err(TryRecvError::Lagged(100)));
    for id in 100..total {
        let event = events.try_recv().unwrap();
        assert_eq!((event.job, event.kind), (JobId(id), EventKind::Submitted));
    }
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    // The queue went on meanwhile, and another subscriber missed nothing.
    let mut fresh = q.subscribe();
    q.cancel(JobId(0)).unwrap();
    assert_eq!(fresh.try_recv().map(|e| e.kind), Ok(EventKind::Cancelled));
    assert_eq!(events.try_recv().map(|e| e.kind), Ok(EventKind::Cancelled));
}

#[test]
fn nothing_is_written_without_a_subscriber_and_a_dropped_queue_closes_the_stream() {
    let q = JobQueue::new();
    q.submit(JobSpec::new(JobId(1))).unwrap();
    let mut events = q.subscribe();
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    drop(events);
    q.submit(JobSpec::new(JobId(2))).unwrap(); // nobody subscribes: not written
    let mut events = q.subscribe();
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    q.submit(JobSpec::new(JobId(3))).unwrap();
    drop(q);
    assert_eq!(events.try_recv().map(|e| e.job), Ok(JobId(3)));
    assert_eq!(events.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(events.recv(), Err(RecvError::Closed));
}

#[test]
fn a_blocked_receiver_wakes_for_the_next_event_and_for_the_queues_end() {
    let q = Arc::new(JobQueue::new());
    let events = q.subscribe();
    let receiver = std::thread::spawn(move || drain_until_closed(events));
    std::thread::sleep(Duration::from_millis(50)); // let it block
    q.submit(JobSpec::new(JobId(1))).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    q.cancel(JobId(1)).unwrap();
    drop(Arc::into_inner(q).unwrap());
    let kinds: Vec<EventKind> = receiver.join().unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Submitted, EventKind::Cancelled]);
}

#[test]
fn async_receivers_under_tokio() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let q = Arc::new(JobQueue::new());
    let mut events = q.subscribe();
    let task = runtime.spawn(async move {
        let mut kinds = Vec::new();
        loop {
            match events.recv_async().await {
                Ok(event) => kinds.push(event.kind),
                Err(RecvError::Closed) => return kinds,
                Err(lagged) => panic!("{lagged}"),
            }
        }
    });
    // A receive that times out loses nothing.
    let mut impatient = q.subscribe();
    let timed_out = runtime.block_on(async {
        tokio::time::timeout(Duration::from_millis(20), impatient.recv_async()).await
    });
    assert!(timed_out.is_err());
    q.submit(JobSpec::new(JobId(1))).unwrap();
    let claim = q.claim(RunnerType::DEFAULT).unwrap();
    q.complete(claim, Outcome::Success).unwrap();
    assert_eq!(
        impatient.try_recv().map(|e| e.kind),
        Ok(EventKind::Submitted)
    );
    drop(Arc::into_inner(q).unwrap());
    let kinds = runtime.block_on(task).unwrap();
    assert_eq!(
        kinds,
        [
            EventKind::Submitted,
            EventKind::Claimed,
            EventKind::Completed
        ]
    );
}

/// Exactly the transitions an event reports, one thread: the state, the
/// declared priority or the cancel request changed. A dependency counted
/// down (still waiting), a reprioritize to the same priority and aging's
/// promotions change none of these and write nothing.
#[test]
fn exactly_the_reported_transitions_are_events() {
    let q = JobQueue::new();
    let mut events = q.subscribe();
    let next = |events: &mut Subscriber| {
        events
            .try_recv()
            .map(|e| (e.job.0, e.kind, e.from, e.to, e.priority))
    };
    q.submit(JobSpec::new(JobId(1))).unwrap();
    q.submit(JobSpec::new(JobId(2))).unwrap();
    q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]))
        .unwrap();
    for id in 1..=3 {
        assert_eq!(
            next(&mut events).map(|e| (e.0, e.1)),
            Ok((id, EventKind::Submitted))
        );
    }
    // Job 1 completes: job 3 counted down, still waiting: no event of job 3.
    let claim = q.claim(RunnerType::DEFAULT).unwrap();
    assert_eq!(claim.job(), JobId(1));
    q.complete(claim, Outcome::Success).unwrap();
    assert_eq!(next(&mut events).map(|e| e.1), Ok(EventKind::Claimed));
    assert_eq!(next(&mut events).map(|e| e.1), Ok(EventKind::Completed));
    assert_eq!(
        next(&mut events),
        Err(TryRecvError::Empty),
        "a count-down was reported"
    );
    // A reprioritize to the priority it has: nothing; to another: one event.
    q.reprioritize(JobId(2), Priority::Normal).unwrap();
    assert_eq!(next(&mut events), Err(TryRecvError::Empty));
    q.reprioritize(JobId(2), Priority::High).unwrap();
    assert_eq!(
        next(&mut events),
        Ok((
            2,
            EventKind::Reprioritized,
            Some(JobState::Pending),
            JobState::Pending,
            Priority::High
        ))
    );
    // A cancel request of a claimed job: one event, the state unchanged.
    let claim = q.claim(RunnerType::DEFAULT).unwrap();
    assert_eq!(next(&mut events).map(|e| e.1), Ok(EventKind::Claimed));
    assert_eq!(q.cancel(JobId(2)), Ok(CancelOutcome::Requested));
    assert_eq!(
        next(&mut events),
        Ok((
            2,
            EventKind::CancelRequested,
            Some(JobState::Scheduled),
            JobState::Scheduled,
            Priority::High
        ))
    );
    assert_eq!(
        q.complete(claim, Outcome::Success),
        Ok(Completion::Cancelled)
    );
    assert_eq!(next(&mut events).map(|e| e.1), Ok(EventKind::Cancelled));
    assert_eq!(
        next(&mut events).map(|e| (e.0, e.1)),
        Ok((3, EventKind::Cancelled))
    );
    assert_eq!(next(&mut events), Err(TryRecvError::Empty));
}

/// A subscriber asleep in `recv` before anything happens is woken by the
/// next event (the writer's side of `wake::CountedSignal`'s handshake): a
/// lost wake-up leaves it asleep and fails the bounded wait.
#[test]
fn a_subscriber_asleep_in_recv_is_woken_by_the_next_event() {
    let queue = JobQueue::new();
    queue.submit(JobSpec::new(JobId(1))).unwrap();
    let mut events = queue.subscribe();
    let (sender, received) = std::sync::mpsc::channel();
    let subscriber = std::thread::spawn(move || {
        let _ = sender.send(events.recv());
    });
    // Long enough for the subscriber to count itself asleep and sleep.
    std::thread::sleep(Duration::from_millis(50));
    queue.cancel(JobId(1)).unwrap();
    let event = received
        .recv_timeout(Duration::from_secs(5))
        .expect("the sleeping subscriber was not woken by the event")
        .unwrap();
    assert_eq!((event.job, event.kind), (JobId(1), EventKind::Cancelled));
    subscriber.join().unwrap();
}
