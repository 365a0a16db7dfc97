//! `dagqueue`: runs a realistic scheduler workload on the lock-free
//! [`JobQueue`] and on the parking_lot mutex baseline, verifies each from a
//! recorded event log, and prints jobs/s, claim latencies and the ratio.
//!
//! ```text
//! cargo run --release                       # the table
//! cargo run --release -- --json             # one JSON object
//! cargo run --release -- --jobs 20000 --threads 4 --seed 7 --only dagqueue
//! ```
//!
//! Each implementation runs the same plan on fresh queues: `--rounds`
//! *timed* runs that record nothing (jobs/s, claim latency), the two
//! implementations' alternating (JobQueue first in odd rounds, the
//! baseline first in even ones), of which each reports its median run;
//! then one *audited* run that records every event into [`harness::audit`]
//! and replays it (every job finished exactly once, never before its
//! dependencies, never over a cluster's capacity, never on a paused
//! cluster, none lost). A failed verification exits with status 1. The
//! last line, `VERDICT: PASS` or `VERDICT: FAIL`, sums it up.
//!
//! Several alternated rounds, not one run each: on a loaded machine one
//! run's throughput depends on what else the scheduler gave its time
//! slices to during it, and a single pair of runs put the ratio anywhere
//! from 0.9x to 3.4x between invocations (docs/BENCHMARKS.md, "The main
//! job under load"). Every round's figures are in the JSON.
//!
//! Progress goes to stderr: a bar per run on a terminal, otherwise (a CI
//! log, a pipe) a plain line when each run starts and ends and at most one
//! every couple of seconds in between.

use clap::{Parser, ValueEnum};
use dagqueue::{JobQueue, QueueConfig};
use harness::audit::AuditReport;
use harness::baseline::ParkingLotQueue;
use harness::workload::{self, Audit, Plan, Progress, RunStats};
use harness::Scheduler;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "dagqueue",
    version,
    about = "Runs a realistic DAG workload on the lock-free JobQueue and the parking_lot \
             baseline, verifies both from an event log, and compares them."
)]
struct Args {
    /// Number of jobs.
    #[arg(long, default_value_t = 1_000_000)]
    jobs: usize,
    /// Layers of the DAG.
    #[arg(long, default_value_t = 40)]
    layers: usize,
    /// Worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed of the workload.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Busy work per attempt, in nanoseconds (0: measure the queue alone).
    #[arg(long, default_value_t = 0)]
    work_ns: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only one implementation.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Timed runs of each implementation, alternated; each reports its
    /// median run (at least 1).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Which implementation `--only` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    /// The lock-free `JobQueue`.
    Dagqueue,
    /// The parking_lot mutex baseline.
    Baseline,
}

/// The runs of one implementation.
struct Outcome {
    name: &'static str,
    /// Its median timed run (by jobs/s).
    timed: RunStats,
    /// Every timed run's jobs/s, in round order.
    rounds: Vec<f64>,
    audit: Audit,
}

/// How often [`RunProgress::Lines`] prints a line while a run is going.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// Progress of one run on stderr: a bar when stderr is a terminal, plain
/// lines otherwise (indicatif hides its bar there, which would leave a CI
/// log silent for the whole run).
enum RunProgress {
    Bar(ProgressBar),
    Lines(Lines),
}

/// Plain progress lines: [`RunProgress`] when stderr is not a terminal.
struct Lines {
    label: String,
    total: u64,
    started: Instant,
    /// When the last line was printed (`update` may come from any thread).
    last_line: Mutex<Instant>,
}

impl RunProgress {
    /// Starts reporting the run `label` (e.g. "JobQueue timed run") of
    /// `total` jobs on `threads` workers.
    fn start(label: String, total: usize, threads: usize) -> RunProgress {
        if std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:>27} [{bar:40}] {pos}/{len} jobs settled ({elapsed})",
            )
            .expect("template")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label);
            RunProgress::Bar(bar)
        } else {
            eprintln!(
                "{label}: started ({} jobs, {})",
                thousands(total as f64),
                plural(threads, "thread")
            );
            let now = Instant::now();
            RunProgress::Lines(Lines {
                label,
                total: total as u64,
                started: now,
                last_line: Mutex::new(now),
            })
        }
    }

    /// Ends the run: clears the bar, or prints its duration and `note`.
    fn finish(self, note: &str) {
        match self {
            RunProgress::Bar(bar) => bar.finish_and_clear(),
            RunProgress::Lines(lines) => eprintln!(
                "{}: done in {:.2} s{note}",
                lines.label,
                lines.started.elapsed().as_secs_f64()
            ),
        }
    }
}

impl Progress for RunProgress {
    fn update(&self, settled: u64) {
        match self {
            RunProgress::Bar(bar) => bar.set_position(settled),
            RunProgress::Lines(lines) => lines.update(settled),
        }
    }
}

impl Lines {
    /// Prints a line if the last one is [`LINE_INTERVAL`] old (the end of
    /// the run is left to [`RunProgress::finish`]).
    fn update(&self, settled: u64) {
        if settled >= self.total {
            return;
        }
        // Another thread printing right now: this update can be skipped.
        let Ok(mut last_line) = self.last_line.try_lock() else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(*last_line) < LINE_INTERVAL {
            return;
        }
        *last_line = now;
        drop(last_line);
        eprintln!(
            "{}: {} / {} jobs settled ({:.0} s)",
            self.label,
            thousands(settled as f64),
            thousands(self.total as f64),
            now.duration_since(self.started).as_secs_f64()
        );
    }
}

/// One timed run of `name` on a fresh queue from `make` (round `round`).
fn timed_run<S: Scheduler>(
    name: &str,
    make: impl Fn() -> S,
    plan: &Plan,
    threads: usize,
    round: usize,
) -> RunStats {
    let progress = RunProgress::start(format!("{name} timed run {round}"), plan.len(), threads);
    let timed = workload::timed(&make(), plan, threads, &progress);
    progress.finish(&format!(
        " (timed span {:.2} s: {} jobs/s)",
        timed.elapsed.as_secs_f64(),
        thousands(timed.jobs_per_s)
    ));
    timed
}

/// The audited run of `name`, and the outcome with its timed runs `runs`.
fn finish_one<S: Scheduler>(
    name: &'static str,
    make: impl Fn() -> S,
    plan: &Plan,
    threads: usize,
    runs: Vec<RunStats>,
) -> Outcome {
    let rounds: Vec<f64> = runs.iter().map(|run| run.jobs_per_s).collect();
    let audit = {
        let progress = RunProgress::start(format!("{name} audited run"), plan.len(), threads);
        let audit = workload::audited(&make(), plan, threads, &progress);
        let note = match checked(&audit) {
            Ok(_) => " (run and replay), verified".to_string(),
            Err(why) => format!(" (run and replay), verification FAILED: {why}"),
        };
        progress.finish(&note);
        audit
    };
    Outcome {
        name,
        timed: median_run(runs),
        rounds,
        audit,
    }
}

/// The run with the median throughput (of an even number, the lower of
/// the middle two).
fn median_run(mut runs: Vec<RunStats>) -> RunStats {
    runs.sort_by(|a, b| a.jobs_per_s.total_cmp(&b.jobs_per_s));
    let middle = (runs.len() - 1) / 2;
    runs.swap_remove(middle)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let plan = Plan::new(args.jobs.max(1), args.layers, args.seed, args.work_ns);

    let rounds = args.rounds.max(1);
    let run_dagqueue = args.only != Some(Only::Baseline);
    let run_baseline = args.only != Some(Only::Dagqueue);
    let make_dagqueue = JobQueue::new;
    let make_baseline = || ParkingLotQueue::new(QueueConfig::default());
    let (mut dagqueue_runs, mut baseline_runs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Each goes first in every other round: neither always runs
        // right after the other's teardown, or always first.
        let dagqueue_first = round % 2 == 1;
        for side in [dagqueue_first, !dagqueue_first] {
            if side && run_dagqueue {
                dagqueue_runs.push(timed_run("JobQueue", make_dagqueue, &plan, threads, round));
            }
            if !side && run_baseline {
                baseline_runs.push(timed_run(
                    "ParkingLotQueue",
                    make_baseline,
                    &plan,
                    threads,
                    round,
                ));
            }
        }
    }
    let mut outcomes = Vec::new();
    if run_dagqueue {
        outcomes.push(finish_one(
            "JobQueue",
            make_dagqueue,
            &plan,
            threads,
            dagqueue_runs,
        ));
    }
    if run_baseline {
        outcomes.push(finish_one(
            "ParkingLotQueue",
            make_baseline,
            &plan,
            threads,
            baseline_runs,
        ));
    }

    let find = |name: &str| outcomes.iter().find(|o| o.name == name);
    let dagqueue = find("JobQueue");
    let baseline = find("ParkingLotQueue");
    let ratio = match (dagqueue, baseline) {
        (Some(d), Some(b)) => Some(d.timed.jobs_per_s / b.timed.jobs_per_s),
        _ => None,
    };
    let verified = outcomes.iter().all(|o| o.audit.passed());
    let verdict = verdict_line(&outcomes, ratio, plan.len(), threads, rounds);

    if args.json {
        println!(
            "{}",
            json(&args, threads, &plan, dagqueue, baseline, ratio, verified, &verdict)
        );
    } else {
        print_table(&args, threads, &plan, &outcomes);
        println!();
        println!("{verdict}");
    }
    if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_table(args: &Args, threads: usize, plan: &Plan, outcomes: &[Outcome]) {
    let clusters = workload::CLUSTERS
        .iter()
        .map(|(id, capacity)| format!("{id}:{capacity}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "dagqueue workload: {} jobs in {} layers, clusters (id: capacity) {} \
         (cluster {} paused mid-run), {} cancels, {}, seed {}, work {} ns",
        plan.len(),
        plan.layers,
        clusters,
        workload::PAUSED_CLUSTER.0,
        plan.cancels.len(),
        plural(threads, "worker thread"),
        args.seed,
        args.work_ns
    );
    println!();
    println!(
        "{:<16} {:>12} {:>10} {:>10} {:>10} {:>9}  {:<}",
        "queue",
        "jobs/s",
        "claim p50",
        "claim p99",
        "p99.9",
        "vs base",
        "verification (audited run)"
    );
    let base = outcomes
        .iter()
        .find(|o| o.name == "ParkingLotQueue")
        .map(|o| o.timed.jobs_per_s);
    for o in outcomes {
        let vs = base.map_or("-".to_string(), |b| {
            format!("{:.2}x", o.timed.jobs_per_s / b)
        });
        println!(
            "{:<16} {:>12} {:>10} {:>10} {:>10} {:>9}  {}",
            o.name,
            thousands(o.timed.jobs_per_s),
            nanos(o.timed.claim_quantile(0.5)),
            nanos(o.timed.claim_quantile(0.99)),
            nanos(o.timed.claim_quantile(0.999)),
            vs,
            verification(&o.audit)
        );
    }
    println!();
    let legend = [
        (
            "jobs/s",
            "jobs settled per second in its median timed run (wall clock, first submit to last \
             settle; the runs alternate with the other queue's)",
        ),
        (
            "claim p50/p99/p99.9",
            "latency of one claim call that handed out a job, measured in that run",
        ),
        (
            "vs base",
            "this queue's jobs/s divided by ParkingLotQueue's (the mutex baseline): same \
             invocation, same plan",
        ),
        (
            "verification",
            "the audited run (same plan, every event recorded) replayed by harness::audit::verify:",
        ),
        (
            "",
            "each job settled once, after its dependencies, within cluster capacity, none lost",
        ),
    ];
    for (column, meaning) in legend {
        let note = if column == "vs base" && base.is_none() {
            " (- : the baseline did not run)"
        } else {
            ""
        };
        println!("  {column:<19}  {meaning}{note}");
    }
    println!();
    for o in outcomes {
        let t = &o.timed;
        let rounds: Vec<String> = o.rounds.iter().map(|&r| thousands(r)).collect();
        println!(
            "{:<16} timed runs {} jobs/s; the median settled in {:.2} s: {} completed, {} failed, \
             {} cancelled, {} retries, {} claims; audited run {} jobs/s",
            o.name,
            rounds.join(", "),
            t.elapsed.as_secs_f64(),
            t.completed,
            t.failed,
            t.cancelled,
            t.retried,
            t.scheduled,
            thousands(o.audit.stats.jobs_per_s)
        );
        if let Err(violations) = &o.audit.verdict {
            for v in violations.iter().take(10) {
                println!("    violation: {v:?}");
            }
            if violations.len() > 10 {
                println!("    ... {} more", violations.len() - 10);
            }
        }
        for m in &o.audit.metric_mismatches {
            println!("    mismatch: {m}");
        }
    }
}

/// The replay's report when the audit passed, else why it failed.
fn checked(audit: &Audit) -> Result<&AuditReport, String> {
    match (&audit.verdict, audit.metric_mismatches.len()) {
        (Ok(report), 0) => Ok(report),
        (Ok(_), mismatches) => Err(plural(mismatches, "metric mismatch")),
        (Err(violations), _) => Err(plural(violations.len(), "violation")),
    }
}

/// The table's verification column.
fn verification(audit: &Audit) -> String {
    match checked(audit) {
        Ok(report) => format!(
            "OK: {} events, {} claims, every job settled once",
            report.events, report.claims
        ),
        Err(why) => format!("FAILED: {why}"),
    }
}

/// The one-line summary: `VERDICT: PASS` when every queue run verified
/// (with the throughput ratio when both ran), else `VERDICT: FAIL` and why.
fn verdict_line(
    outcomes: &[Outcome],
    ratio: Option<f64>,
    jobs: usize,
    threads: usize,
    rounds: usize,
) -> String {
    let size = format!(
        "{} jobs, {}, median of {}",
        thousands(jobs as f64),
        plural(threads, "thread"),
        plural(rounds, "timed run")
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            let why = checked(&o.audit).err()?;
            Some(format!("{} verification failed: {why}", o.name))
        })
        .collect();
    if !failures.is_empty() {
        let passed = outcomes
            .iter()
            .filter(|o| o.audit.passed())
            .map(|o| format!("{} verified", o.name));
        let parts: Vec<String> = failures.into_iter().chain(passed).collect();
        return format!("VERDICT: FAIL \u{2014} {} ({size})", parts.join("; "));
    }
    let who = match outcomes {
        [one] => format!("{} verified", one.name),
        _ => "both queues verified".to_string(),
    };
    match ratio {
        Some(ratio) => format!(
            "VERDICT: PASS \u{2014} {who}; JobQueue {ratio:.2}x the mutex baseline's throughput \
             ({size})"
        ),
        None => format!("VERDICT: PASS \u{2014} {who} ({size})"),
    }
}

/// `1 thread`, `2 threads`, `1 metric mismatch`, `3 metric mismatches`.
fn plural(n: usize, noun: &str) -> String {
    match (n, noun.ends_with("ch")) {
        (1, _) => format!("{n} {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

fn nanos(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1_000.0 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `value` as a JSON string literal.
fn json_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".to_string(),
    }
}

fn json_side(outcome: Option<&Outcome>) -> String {
    let Some(o) = outcome else {
        return "null".to_string();
    };
    let t = &o.timed;
    let violations = match &o.audit.verdict {
        Ok(_) => 0,
        Err(v) => v.len(),
    };
    format!(
        concat!(
            "{{\"jobs_per_s\":{},\"elapsed_s\":{:.4},\"claim_p50_ns\":{},\"claim_p99_ns\":{},",
            "\"claim_p999_ns\":{},\"completed\":{},\"failed\":{},\"cancelled\":{},\"retried\":{},",
            "\"claims\":{},\"audited_jobs_per_s\":{},\"verified\":{},\"violations\":{},",
            "\"metric_mismatches\":{},\"submit_s\":{:.4},\"empty_claims\":{},\"idle_waits\":{},",
            "\"waiting_s\":{:.4},\"submitter_voluntary_switches\":{},",
            "\"submitter_involuntary_switches\":{},\"rounds_jobs_per_s\":[{}]}}"
        ),
        json_number(Some(t.jobs_per_s)),
        t.elapsed.as_secs_f64(),
        json_number(Some(t.claim_quantile(0.5))),
        json_number(Some(t.claim_quantile(0.99))),
        json_number(Some(t.claim_quantile(0.999))),
        t.completed,
        t.failed,
        t.cancelled,
        t.retried,
        t.scheduled,
        json_number(Some(o.audit.stats.jobs_per_s)),
        o.audit.passed(),
        violations,
        o.audit.metric_mismatches.len(),
        t.submit_elapsed.as_secs_f64(),
        t.empty_claims,
        t.idle_waits,
        t.waiting.as_secs_f64(),
        t.submitter_switches.0,
        t.submitter_switches.1,
        o.rounds
            .iter()
            .map(|&jobs_per_s| json_number(Some(jobs_per_s)))
            .collect::<Vec<_>>()
            .join(",")
    )
}

#[allow(clippy::too_many_arguments)]
fn json(
    args: &Args,
    threads: usize,
    plan: &Plan,
    dagqueue: Option<&Outcome>,
    baseline: Option<&Outcome>,
    ratio: Option<f64>,
    verified: bool,
    verdict: &str,
) -> String {
    format!(
        concat!(
            "{{\"jobs\":{},\"layers\":{},\"threads\":{},\"seed\":{},\"work_ns\":{},\"rounds\":{},",
            "\"dagqueue_jobs_per_s\":{},\"baseline_jobs_per_s\":{},\"ratio\":{},\"verified\":{},",
            "\"dagqueue\":{},\"baseline\":{},\"verdict\":{}}}"
        ),
        plan.len(),
        plan.layers,
        threads,
        args.seed,
        args.work_ns,
        args.rounds.max(1),
        json_number(dagqueue.map(|o| o.timed.jobs_per_s)),
        json_number(baseline.map(|o| o.timed.jobs_per_s)),
        json_number(ratio),
        verified,
        json_side(dagqueue),
        json_side(baseline),
        json_string(verdict)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(jobs_per_s: f64, completed: u64) -> RunStats {
        RunStats {
            jobs_per_s,
            completed,
            ..RunStats::default()
        }
    }

    #[test]
    fn the_median_run_is_the_middle_one_by_throughput_and_keeps_its_other_figures() {
        let median = median_run(vec![run(300.0, 3), run(100.0, 1), run(200.0, 2)]);
        assert_eq!((median.jobs_per_s, median.completed), (200.0, 2));
        // Of an even number, the lower of the middle two.
        let median = median_run(vec![run(4.0, 4), run(1.0, 1), run(3.0, 3), run(2.0, 2)]);
        assert_eq!((median.jobs_per_s, median.completed), (2.0, 2));
        let median = median_run(vec![run(7.0, 7)]);
        assert_eq!(median.completed, 7);
    }
}
