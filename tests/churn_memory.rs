//! Memory after churn (issue 12, item 5), alone in its test binary so that
//! no other test's allocations count: a million `reprioritize` calls on one
//! pending job grow the resident set by less than 8 MiB. Before compaction
//! each call left a 24-byte lane entry behind (2M calls: +47 MB, measured
//! by `harness/src/bin/churn.rs`, docs/BENCHMARKS.md).

use dagqueue::{JobId, JobQueue, JobSpec, Priority, RunnerType};

/// This process's resident memory in KiB (`/proc/self/statm`), if known.
fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn a_million_reprioritize_calls_keep_memory_flat() {
    let queue = JobQueue::new();
    queue
        .submit(JobSpec::new(JobId(1)).priority(Priority::Low))
        .unwrap();
    let Some(before) = resident_kib() else {
        eprintln!("no /proc/self/statm here: memory not measured");
        return;
    };
    for call in 0..1_000_000u32 {
        let priority = if call % 2 == 0 {
            Priority::High
        } else {
            Priority::Low
        };
        queue.reprioritize(JobId(1), priority).unwrap();
    }
    let grown = resident_kib().unwrap().saturating_sub(before);
    let entries = queue.lane_entries();
    assert!(grown < 8 * 1024, "resident memory grew {grown} KiB");
    // Its entry, and at most 31 stale ones in each of the two lanes.
    assert!(entries <= 1 + 2 * 31, "{entries} lane entries for one job");
    assert_eq!(
        queue.claim(RunnerType::DEFAULT).map(|c| c.job()),
        Some(JobId(1))
    );
}
