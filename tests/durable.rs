//! The durable queue (feature `durable`, issue 13): what a reopened queue
//! holds, group commit under racing callers, bounded disk, and each file
//! fault's documented result. Crashes with real processes are in
//! tests/durable_crash.rs.
#![cfg(feature = "durable")]

use dagqueue::{
    CancelOutcome, ClusterId, Completion, DependencyKind, DurabilityErrorKind, DurableQueue, Error,
    JobEnd, JobId, JobQueue, JobSpec, JobState, Outcome, Priority, Resources, RunnerType,
    SyncPolicy,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const R: RunnerType = RunnerType::DEFAULT;

/// A fresh directory under the target directory, removed first.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("durable-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open<T: dagqueue::DurablePayload + Send + Sync + 'static>(dir: &Path) -> DurableQueue<T> {
    DurableQueue::open(dir, JobQueue::builder(), SyncPolicy::Always).unwrap()
}

fn store_file(dir: &Path) -> PathBuf {
    dir.join("queue.redb")
}

#[test]
fn a_reopened_queue_holds_what_was_acknowledged() {
    let dir = fresh_dir("reopen");
    {
        let q = open::<String>(&dir);
        q.set_cluster_capacity(ClusterId(1), 3).unwrap();
        q.set_cluster_resources(
            ClusterId(1),
            Resources {
                cores: 16,
                memory_gb: 64,
            },
        )
        .unwrap();
        q.pause_cluster(ClusterId(2)).unwrap();
        q.submit(JobSpec::new(JobId(1)).payload("one".to_string()))
            .unwrap();
        q.submit(
            JobSpec::new(JobId(2))
                .depends_on([JobId(1)])
                .payload("two".to_string()),
        )
        .unwrap();
        q.submit(
            JobSpec::new(JobId(3))
                .depends_on_kind(DependencyKind::AfterFailure, [JobId(1)])
                .payload(String::new()),
        )
        .unwrap();
        q.submit(
            JobSpec::new(JobId(4))
                .priority(Priority::Low)
                .payload("four".to_string()),
        )
        .unwrap();
        q.reprioritize(JobId(4), Priority::Critical).unwrap();
        q.submit(JobSpec::new(JobId(5)).payload("five".to_string()))
            .unwrap();
        q.add_dependencies(JobId(5), &[JobId(4)]).unwrap();
        q.submit(
            JobSpec::new(JobId(6))
                .cluster(ClusterId(2))
                .payload("paused".to_string()),
        )
        .unwrap();
        q.submit(
            JobSpec::new(JobId(7))
                .delay(Duration::from_secs(3600))
                .payload("later".to_string()),
        )
        .unwrap();
        // Job 4 (Critical) first, then 1.
        let four = q.claim(R).unwrap();
        assert_eq!(four.job(), JobId(4));
        q.complete(four, Outcome::Success).unwrap();
        let one = q.claim(R).unwrap();
        assert_eq!((one.job(), one.payload().as_str()), (JobId(1), "one"));
        q.fail(one, "disk full").unwrap();
        q.submit(JobSpec::new(JobId(8)).payload("cancelled".to_string()))
            .unwrap();
        assert_eq!(q.cancel(JobId(8)), Ok(CancelOutcome::Cancelled));
    }
    let q = open::<String>(&dir);
    let end = |id| q.job(JobId(id)).unwrap().end;
    assert_eq!(
        end(1),
        Some(JobEnd::Failed {
            attempts: 1,
            reason: Some("disk full".into())
        })
    );
    assert_eq!(
        end(2),
        Some(JobEnd::DependencyFailed {
            dependency: JobId(1)
        })
    );
    assert_eq!(q.state(JobId(3)), Ok(JobState::Pending)); // its error handler
    assert_eq!(end(4), Some(JobEnd::Succeeded));
    assert_eq!(q.job(JobId(4)).unwrap().priority, Priority::Critical);
    assert_eq!(q.state(JobId(5)), Ok(JobState::Pending)); // its added dependency completed
    assert_eq!(q.state(JobId(6)), Ok(JobState::Pending));
    assert_eq!(q.state(JobId(7)), Ok(JobState::Waiting)); // an hour to go
    assert!(q
        .next_due()
        .is_some_and(|due| due > Duration::from_secs(3500)));
    assert_eq!(end(8), Some(JobEnd::Cancelled));
    let status = q.status();
    let clusters = &status.clusters;
    assert_eq!(clusters[&ClusterId(1)].capacity, 3);
    assert_eq!(
        clusters[&ClusterId(1)].resources,
        Some(Resources {
            cores: 16,
            memory_gb: 64
        })
    );
    assert!(clusters[&ClusterId(2)].paused);
    // Payloads came back; the paused cluster's job is not served.
    let mut served = Vec::new();
    while let Some(claim) = q.claim(R) {
        served.push((claim.job().0, claim.payload().clone()));
        q.complete(claim, Outcome::Success).unwrap();
    }
    served.sort();
    assert_eq!(served, vec![(3, String::new()), (5, "five".to_string())]);
    q.resume_cluster(ClusterId(2)).unwrap();
    assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(6)));
}

#[test]
fn a_claimed_job_comes_back_with_its_attempt_counted() {
    let dir = fresh_dir("claimed");
    {
        let q = open::<()>(&dir);
        q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
        q.submit(JobSpec::new(JobId(2))).unwrap();
        q.submit(JobSpec::new(JobId(3)).max_retries(5)).unwrap();
        let first = q.claim(R).unwrap();
        let second = q.claim(R).unwrap();
        let third = q.claim(R).unwrap();
        q.start(&first).unwrap();
        assert_eq!(q.cancel(JobId(3)), Ok(CancelOutcome::Requested));
        // The process stops with all three claimed (dropping the claims
        // reports nothing).
        std::mem::forget((first, second, third));
    }
    let q = open::<()>(&dir);
    let view = q.job(JobId(1)).unwrap();
    assert_eq!((view.state, view.attempt), (JobState::Pending, 1));
    assert_eq!(
        q.job(JobId(2)).unwrap().end,
        Some(JobEnd::LeaseExpired { attempts: 1 })
    );
    assert_eq!(q.job(JobId(3)).unwrap().end, Some(JobEnd::Cancelled));
    let retry = q.claim(R).unwrap();
    assert_eq!((retry.job(), retry.attempt()), (JobId(1), 2));
    assert_eq!(
        q.complete(retry, Outcome::Success),
        Ok(Completion::Completed)
    );
    drop(q);
    // Recovery wrote what it decided: a second reopen agrees.
    let q = open::<()>(&dir);
    assert_eq!(q.job(JobId(1)).unwrap().attempt, 2);
    assert_eq!(q.state(JobId(1)), Ok(JobState::Completed));
    assert_eq!(q.state(JobId(2)), Ok(JobState::Failed));
}

#[test]
fn pruned_jobs_leave_the_store_and_named_ones_still_settle_their_dependents() {
    let dir = fresh_dir("prune");
    {
        let q = open::<()>(&dir);
        q.submit(JobSpec::new(JobId(1))).unwrap();
        q.submit(JobSpec::new(JobId(2))).unwrap();
        // 3 waits on 1 (which completes and is pruned) and on 2.
        q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]))
            .unwrap();
        let one = q.claim(R).unwrap();
        assert_eq!(one.job(), JobId(1));
        q.complete(one, Outcome::Success).unwrap();
        let pruned = q.prune_finished().unwrap();
        assert_eq!(pruned.len(), 1);
        // Id 1 again: a new job.
        q.submit(JobSpec::new(JobId(1)).priority(Priority::Low))
            .unwrap();
    }
    let q = open::<()>(&dir);
    assert_eq!(q.state(JobId(3)), Ok(JobState::Waiting)); // still on 2
    assert_eq!(q.job(JobId(1)).unwrap().priority, Priority::Low);
    let two = q.claim(R).unwrap();
    assert_eq!(two.job(), JobId(2));
    q.complete(two, Outcome::Success).unwrap();
    assert_eq!(q.state(JobId(3)), Ok(JobState::Pending));
    while let Some(claim) = q.claim(R) {
        q.complete(claim, Outcome::Success).unwrap();
    }
    assert_eq!(q.prune_finished().unwrap().len(), 3);
    drop(q);
    let q = open::<()>(&dir);
    assert_eq!(q.status().by_state.total(), 0);
}

#[test]
fn the_store_stays_proportional_to_live_jobs() {
    let dir = fresh_dir("bounded");
    // Relaxed: the size does not depend on when commits are synced, and
    // 10,000 synced reports would take a minute.
    let relaxed = SyncPolicy::Every(Duration::from_millis(100));
    let q: DurableQueue<Vec<u8>> = DurableQueue::open(&dir, JobQueue::builder(), relaxed).unwrap();
    let payload = vec![7u8; 200];
    let size = || std::fs::metadata(store_file(&dir)).unwrap().len();
    let mut full = Vec::new();
    let mut sizes = Vec::new();
    for round in 0..3u64 {
        let batch = (0..600).map(|i| JobSpec::new(JobId(round * 600 + i)).payload(payload.clone()));
        q.submit_many(batch).unwrap();
        while let Some(claim) = q.claim(R) {
            q.complete(claim, Outcome::Success).unwrap();
        }
        q.sync().unwrap();
        full.push(size());
        assert_eq!(q.prune_finished().unwrap().len(), 600);
        q.compact().unwrap();
        sizes.push(size());
    }
    eprintln!("store file with 600 jobs: {full:?}; pruned and compacted: {sizes:?}");
    // Pruned and compacted, the file is back to what an empty store
    // takes, round after round.
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
    assert!(
        full.iter().all(|&f| f > 4 * sizes[0]),
        "{full:?} vs {sizes:?}"
    );
    drop(q);
    let q = open::<Vec<u8>>(&dir);
    assert_eq!(q.status().by_state.total(), 0);
}

#[test]
fn racing_callers_share_commits_and_lose_nothing() {
    let dir = fresh_dir("race");
    const THREADS: u64 = 4;
    const JOBS: u64 = 150;
    {
        let q = Arc::new(open::<()>(&dir));
        let submitters: Vec<_> = (0..THREADS)
            .map(|t| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    for i in 0..JOBS {
                        let id = JobId(t * 1_000 + i);
                        let spec = if i > 0 {
                            JobSpec::new(id).depends_on([JobId(t * 1_000 + i - 1)])
                        } else {
                            JobSpec::new(id)
                        };
                        q.submit(spec).unwrap();
                    }
                })
            })
            .collect();
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    let mut done = 0;
                    while done < JOBS / 2 {
                        match q.claim_wait(R, Duration::from_secs(10)) {
                            Ok(claim) => {
                                q.complete(claim, Outcome::Success).unwrap();
                                done += 1;
                            }
                            Err(error) => panic!("{error:?}"),
                        }
                    }
                    done
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        let completed: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(completed, THREADS * JOBS / 2);
    }
    let q = open::<()>(&dir);
    let status = q.status();
    assert_eq!(status.by_state.total() as u64, THREADS * JOBS);
    assert_eq!(
        status.by_state.get(JobState::Completed) as u64,
        THREADS * JOBS / 2
    );
    // Every chain is a prefix of completed jobs, then one pending, then waiting.
    for t in 0..THREADS {
        let states: Vec<JobState> = (0..JOBS)
            .map(|i| q.state(JobId(t * 1_000 + i)).unwrap())
            .collect();
        let completed = states
            .iter()
            .take_while(|s| **s == JobState::Completed)
            .count();
        if completed < JOBS as usize {
            assert_eq!(states[completed], JobState::Pending, "chain {t}");
            assert!(states[completed + 1..]
                .iter()
                .all(|s| *s == JobState::Waiting));
        }
    }
}

#[test]
fn relaxed_sync_writes_everything_by_its_stop() {
    // What a kill between two syncs loses is tests/durable_crash.rs's.
    let dir = fresh_dir("relaxed");
    {
        let q: DurableQueue<()> = DurableQueue::open(
            &dir,
            JobQueue::builder(),
            SyncPolicy::Every(Duration::from_millis(50)),
        )
        .unwrap();
        for i in 0..100 {
            q.submit(JobSpec::new(JobId(i))).unwrap();
        }
        q.sync().unwrap();
        for i in 100..150 {
            q.submit(JobSpec::new(JobId(i))).unwrap();
        }
    }
    let q = open::<()>(&dir);
    assert_eq!(q.status().by_state.get(JobState::Pending), 150);
}

/// Opens `dir` and expects a durability error of `kind`.
fn refused(dir: &Path, kind: DurabilityErrorKind) -> String {
    match DurableQueue::<()>::open(dir, JobQueue::builder(), SyncPolicy::Always) {
        Err(Error::Durability(error)) => {
            assert_eq!(error.kind, kind, "{error}");
            error.to_string()
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened"),
    }
}

/// A store holding a few jobs, closed.
fn filled(name: &str) -> PathBuf {
    let dir = fresh_dir(name);
    let q = open::<()>(&dir);
    q.submit_many((0..200).map(|i| JobSpec::new(JobId(i))))
        .unwrap();
    drop(q);
    dir
}

#[test]
fn file_faults_give_their_documented_results() {
    // An empty store file (the marker says there was a store).
    let dir = filled("empty-file");
    std::fs::write(store_file(&dir), b"").unwrap();
    refused(&dir, DurabilityErrorKind::Corrupt);

    // The store file missing.
    let dir = filled("missing-file");
    std::fs::remove_file(store_file(&dir)).unwrap();
    let message = refused(&dir, DurabilityErrorKind::Missing);
    assert!(message.contains("queue.redb"), "{message}");

    // The marker missing.
    let dir = filled("missing-marker");
    std::fs::remove_file(dir.join("DAGQUEUE")).unwrap();
    refused(&dir, DurabilityErrorKind::Missing);

    // Written by a newer format.
    let dir = filled("newer");
    std::fs::write(dir.join("DAGQUEUE"), "dagqueue store, format 99\n").unwrap();
    refused(&dir, DurabilityErrorKind::NewerFormat);

    // Another program's directory.
    let foreign = fresh_dir("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "hello").unwrap();
    refused(&foreign, DurabilityErrorKind::Missing);
}

#[test]
fn a_damaged_store_never_opens_smaller() {
    // Every flipped byte along the file: opening either fails with an
    // error or recovers every job; never a panic, never fewer jobs.
    let dir = filled("flipped");
    let original = std::fs::read(store_file(&dir)).unwrap();
    let mut refused_count = 0;
    let step = (original.len() / 64).max(1);
    for at in (0..original.len()).step_by(step) {
        let mut damaged = original.clone();
        damaged[at] ^= 0x5a;
        std::fs::write(store_file(&dir), &damaged).unwrap();
        match DurableQueue::<()>::open(&dir, JobQueue::builder(), SyncPolicy::Always) {
            Ok(q) => assert_eq!(q.status().by_state.total(), 200, "byte {at}"),
            Err(Error::Durability(error)) => {
                // It names the file (and redb's or the row's account of where).
                assert!(error.detail.contains("queue.redb"), "{error}");
                refused_count += 1;
            }
            Err(other) => panic!("byte {at}: {other:?}"),
        }
    }
    assert!(refused_count > 0);
    eprintln!("{refused_count} of the damaged stores refused");

    // A torn tail: the file cut short.
    std::fs::write(store_file(&dir), &original[..original.len() / 2]).unwrap();
    match DurableQueue::<()>::open(&dir, JobQueue::builder(), SyncPolicy::Always) {
        Ok(q) => assert_eq!(q.status().by_state.total(), 200),
        Err(Error::Durability(_)) => {}
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn jobs_stored_out_of_dependency_order_come_back() {
    // A batch naming its jobs dependents first, and a dependency added to
    // an older job on a newer one: record order is not a topological order.
    let dir = fresh_dir("order");
    {
        let q = open::<()>(&dir);
        q.submit(JobSpec::new(JobId(1))).unwrap();
        q.submit_many([
            JobSpec::new(JobId(4)).depends_on([JobId(3)]),
            JobSpec::new(JobId(3)).depends_on([JobId(2)]),
            JobSpec::new(JobId(2)),
        ])
        .unwrap();
        q.add_dependencies(JobId(1), &[JobId(4)]).unwrap();
    }
    let q = open::<()>(&dir);
    let mut order = Vec::new();
    while let Some(claim) = q.claim(R) {
        order.push(claim.job().0);
        q.complete(claim, Outcome::Success).unwrap();
    }
    assert_eq!(order, vec![2, 3, 4, 1]);
}

#[test]
fn a_retry_waiting_for_its_backoff_keeps_waiting() {
    let dir = fresh_dir("backoff");
    let hour = Duration::from_secs(3600);
    {
        let q = open::<()>(&dir);
        let backoff = dagqueue::RetryBackoff::new(hour, hour).unwrap();
        q.submit(JobSpec::new(JobId(1)).max_retries(3).retry_backoff(backoff))
            .unwrap();
        let claim = q.claim(R).unwrap();
        assert_eq!(q.fail(claim, "try later"), Ok(Completion::Retrying));
        assert_eq!(q.state(JobId(1)), Ok(JobState::Waiting));
    }
    let q = open::<()>(&dir);
    let view = q.job(JobId(1)).unwrap();
    assert_eq!((view.state, view.attempt), (JobState::Waiting, 1));
    assert!(q.claim(R).is_none());
    // Full jitter: due somewhere in the hour, not at once.
    assert!(q
        .next_due()
        .is_some_and(|due| due > Duration::ZERO && due <= hour));
}
