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
//! Each implementation runs the same plan twice on a fresh queue: a *timed*
//! run that records nothing (jobs/s, claim latency) and an *audited* run that
//! records every event into [`harness::audit`] and replays it (every job
//! finished exactly once, never before its dependencies, never over a
//! cluster's capacity, never on a paused cluster, none lost). A failed
//! verification exits with status 1.

use clap::{Parser, ValueEnum};
use dagqueue::{JobQueue, QueueConfig};
use harness::baseline::ParkingLotQueue;
use harness::workload::{self, Audit, Plan, Progress, RunStats};
use harness::Scheduler;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::process::ExitCode;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "dagqueue",
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
}

/// Which implementation `--only` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    /// The lock-free `JobQueue`.
    Dagqueue,
    /// The parking_lot mutex baseline.
    Baseline,
}

/// Both runs of one implementation.
struct Outcome {
    name: &'static str,
    timed: RunStats,
    audit: Audit,
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
struct Bar(ProgressBar);

impl Bar {
    fn new(total: usize, label: &str) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>24} [{bar:40}] {pos}/{len} jobs settled ({elapsed})",
        )
        .expect("template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Bar(bar)
    }
}

impl Progress for Bar {
    fn update(&self, settled: u64) {
        self.0.set_position(settled);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn run_one<S: Scheduler>(
    name: &'static str,
    make: impl Fn() -> S,
    plan: &Plan,
    threads: usize,
) -> Outcome {
    let timed = {
        let bar = Bar::new(plan.len(), &format!("{name} timed"));
        workload::timed(&make(), plan, threads, &bar)
    };
    let audit = {
        let bar = Bar::new(plan.len(), &format!("{name} audited"));
        workload::audited(&make(), plan, threads, &bar)
    };
    Outcome { name, timed, audit }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let plan = Plan::new(args.jobs.max(1), args.layers, args.seed, args.work_ns);

    let mut outcomes = Vec::new();
    if args.only != Some(Only::Baseline) {
        let make = JobQueue::new;
        outcomes.push(run_one("JobQueue", make, &plan, threads));
    }
    if args.only != Some(Only::Dagqueue) {
        let make = || ParkingLotQueue::new(QueueConfig::default());
        outcomes.push(run_one("ParkingLotQueue", make, &plan, threads));
    }

    let find = |name: &str| outcomes.iter().find(|o| o.name == name);
    let dagqueue = find("JobQueue");
    let baseline = find("ParkingLotQueue");
    let ratio = match (dagqueue, baseline) {
        (Some(d), Some(b)) => Some(d.timed.jobs_per_s / b.timed.jobs_per_s),
        _ => None,
    };
    let verified = outcomes.iter().all(|o| o.audit.passed());

    if args.json {
        println!(
            "{}",
            json(&args, threads, &plan, dagqueue, baseline, ratio, verified)
        );
    } else {
        print_table(&args, threads, &plan, &outcomes, ratio);
    }
    if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_table(args: &Args, threads: usize, plan: &Plan, outcomes: &[Outcome], ratio: Option<f64>) {
    println!(
        "dagqueue workload: {} jobs in {} layers, clusters {:?} (cluster {} paused mid-run), \
         {} cancels, {} worker threads, seed {}, work {} ns",
        plan.len(),
        plan.layers,
        workload::CLUSTERS,
        workload::PAUSED_CLUSTER.0,
        plan.cancels.len(),
        threads,
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
            verdict(&o.audit)
        );
    }
    println!();
    for o in outcomes {
        let t = &o.timed;
        println!(
            "{:<16} settled in {:.2} s: {} completed, {} failed, {} cancelled, {} retries, {} claims; \
             audited run {} jobs/s",
            o.name,
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
    if let Some(ratio) = ratio {
        println!();
        println!("JobQueue / ParkingLotQueue throughput: {ratio:.2}x");
    }
}

fn verdict(audit: &Audit) -> String {
    match (&audit.verdict, audit.metric_mismatches.is_empty()) {
        (Ok(report), true) => format!(
            "OK: {} events, {} claims, every job settled once",
            report.events, report.claims
        ),
        (Ok(_), false) => format!(
            "FAILED: {} metric mismatches",
            audit.metric_mismatches.len()
        ),
        (Err(violations), _) => format!("FAILED: {} violations", violations.len()),
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
            "\"metric_mismatches\":{}}}"
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
        o.audit.metric_mismatches.len()
    )
}

fn json(
    args: &Args,
    threads: usize,
    plan: &Plan,
    dagqueue: Option<&Outcome>,
    baseline: Option<&Outcome>,
    ratio: Option<f64>,
    verified: bool,
) -> String {
    format!(
        concat!(
            "{{\"jobs\":{},\"layers\":{},\"threads\":{},\"seed\":{},\"work_ns\":{},",
            "\"dagqueue_jobs_per_s\":{},\"baseline_jobs_per_s\":{},\"ratio\":{},\"verified\":{},",
            "\"dagqueue\":{},\"baseline\":{}}}"
        ),
        plan.len(),
        plan.layers,
        threads,
        args.seed,
        args.work_ns,
        json_number(dagqueue.map(|o| o.timed.jobs_per_s)),
        json_number(baseline.map(|o| o.timed.jobs_per_s)),
        json_number(ratio),
        verified,
        json_side(dagqueue),
        json_side(baseline)
    )
}
