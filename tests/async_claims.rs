//! Async claims without a runtime: futures polled by hand, with a waker that
//! counts its wake-ups, dropped at random points. No job may be lost or
//! claimed twice, whatever point a future is dropped at.

use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType, WaitError};
use harness::rng::Rng;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

const R: RunnerType = RunnerType::DEFAULT;

/// A waker that counts how often it was woken.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn iterations() -> u64 {
    std::env::var("DAGQUEUE_ASYNC_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn futures_dropped_at_random_points_lose_no_job_and_claim_none_twice() {
    let jobs = iterations();
    let queue = JobQueue::new();
    let claimed: Vec<AtomicU64> = (0..jobs).map(|_| AtomicU64::new(0)).collect();
    let dropped = AtomicU64::new(0);
    std::thread::scope(|s| {
        // A producer submits the jobs one by one while the workers poll.
        s.spawn(|| {
            for id in 0..jobs {
                queue.submit(JobSpec::new(JobId(id))).unwrap();
                if id % 64 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        for worker in 0..3u64 {
            let (queue, claimed, dropped) = (&queue, &claimed, &dropped);
            s.spawn(move || {
                let mut rng = Rng::new(worker + 1);
                let waker = Waker::from(Arc::new(Counting(AtomicUsize::new(0))));
                let mut cx = Context::from_waker(&waker);
                loop {
                    let mut future = pin!(queue.claim_async(R));
                    // Poll it 1 to 4 times, then drop it if still pending.
                    let polls = 1 + rng.below(4);
                    let mut result = None;
                    for _ in 0..polls {
                        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                            result = Some(out);
                            break;
                        }
                        std::thread::yield_now();
                    }
                    match result {
                        Some(Ok(claim)) => {
                            claimed[claim.job().0 as usize].fetch_add(1, Ordering::SeqCst);
                            queue.complete(claim, Outcome::Success).unwrap();
                        }
                        Some(Err(WaitError::Closed)) => return,
                        Some(Err(other)) => panic!("unexpected {other:?}"),
                        None => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        // Close once every job completed: the workers then get `Closed`.
        s.spawn(|| {
            while queue.metrics().completed < jobs {
                std::thread::yield_now();
            }
            queue.close();
        });
    });
    for (id, count) in claimed.iter().enumerate() {
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "job {id} claimed that often"
        );
    }
    let metrics = queue.metrics();
    assert_eq!((metrics.scheduled, metrics.completed), (jobs, jobs));
    // The run must have exercised drops of pending futures (a run that
    // dropped none would prove nothing about them).
    assert!(
        dropped.load(Ordering::Relaxed) > 0,
        "no future was dropped pending"
    );
}

#[test]
fn a_pending_future_is_woken_by_a_job_of_its_runner_type_and_by_close() {
    let queue = JobQueue::new();
    let woken = Arc::new(Counting(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let mut first = pin!(queue.claim_any_async(&[RunnerType(1), RunnerType(2)]));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    // Another runner type's job wakes nobody here.
    queue
        .submit(JobSpec::new(JobId(1)).runner(RunnerType(3)))
        .unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);
    // One of its runner types' does.
    queue
        .submit(JobSpec::new(JobId(2)).runner(RunnerType(2)))
        .unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    let Poll::Ready(Ok(claim)) = first.as_mut().poll(&mut cx) else {
        panic!("woken but not ready");
    };
    assert_eq!(claim.job(), JobId(2));
    // A second pending future is woken by close and ends `Closed`.
    let mut second = pin!(queue.claim_async(RunnerType(1)));
    assert!(second.as_mut().poll(&mut cx).is_pending());
    queue.close();
    assert_eq!(woken.0.load(Ordering::SeqCst), 2);
    assert!(matches!(
        second.as_mut().poll(&mut cx),
        Poll::Ready(Err(WaitError::Closed))
    ));
}

#[test]
fn one_ready_job_wakes_one_of_several_pending_futures() {
    let queue = JobQueue::new();
    let counters: Vec<Arc<Counting>> = (0..4)
        .map(|_| Arc::new(Counting(AtomicUsize::new(0))))
        .collect();
    let wakers: Vec<Waker> = counters
        .iter()
        .map(|c| Waker::from(Arc::clone(c)))
        .collect();
    let mut futures: Vec<_> = (0..4).map(|_| Box::pin(queue.claim_async(R))).collect();
    for (future, waker) in futures.iter_mut().zip(&wakers) {
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
    }
    let woken = || -> Vec<usize> {
        counters
            .iter()
            .map(|c| c.0.load(Ordering::SeqCst))
            .collect()
    };
    queue.submit(JobSpec::new(JobId(1))).unwrap();
    assert_eq!(woken().iter().sum::<usize>(), 1, "one job, one wake-up");
    // The woken future has not looked yet: it will see the second job too,
    // so the second job wakes nobody from the submitting thread.
    queue.submit(JobSpec::new(JobId(2))).unwrap();
    assert_eq!(woken().iter().sum::<usize>(), 1, "no second wake-up yet");
    // The woken future claims one job and passes the wake-up on.
    let first = woken().iter().position(|&n| n == 1).unwrap();
    let Poll::Ready(Ok(a)) = futures[first]
        .as_mut()
        .poll(&mut Context::from_waker(&wakers[first]))
    else {
        panic!("woken but not ready");
    };
    let counts = woken();
    assert_eq!(counts.iter().sum::<usize>(), 2, "the wake-up is passed on");
    let second = (0..4).find(|&i| i != first && counts[i] == 1).unwrap();
    let Poll::Ready(Ok(b)) = futures[second]
        .as_mut()
        .poll(&mut Context::from_waker(&wakers[second]))
    else {
        panic!("woken but not ready");
    };
    let mut jobs = [a.job(), b.job()];
    jobs.sort();
    assert_eq!(jobs, [JobId(1), JobId(2)]);
    // Nothing left: the last claimer wakes nobody.
    assert_eq!(woken().iter().sum::<usize>(), 2);
}
