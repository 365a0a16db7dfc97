//! `bench_report`: turns Criterion's measurements into the figures of
//! `docs/BENCHMARKS.md` — a CSV of every benchmark, Markdown tables with the
//! ratios against the baselines and the floor, the targets of issue 4 with
//! met / missed, and an SVG plot (throughput against threads, claim cost
//! against queue size).
//!
//! ```text
//! cargo bench                                   # measure (writes target/criterion)
//! cargo run --release --bin bench_report        # target/criterion -> docs/bench/*
//! cargo run --release --bin bench_report -- --from-csv docs/bench/results.csv
//! ```
//!
//! Options: `--criterion DIR` (default `target/criterion`), `--out DIR`
//! (default `docs/bench`), `--from-csv FILE` (re-render from a committed
//! CSV instead of reading Criterion's directory). The Markdown goes to
//! stdout and to `OUT/tables.md`.
//!
//! No dependencies: the few fields needed are read from Criterion's JSON by
//! hand, and the SVG is written by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One benchmark's result.
#[derive(Clone, Debug)]
struct Row {
    group: String,
    function: String,
    parameter: String,
    /// Elements per iteration (jobs), if a throughput was declared.
    elements: Option<u64>,
    /// Median time per iteration, and its 95% confidence interval, in ns.
    median_ns: f64,
    lower_ns: f64,
    upper_ns: f64,
}

impl Row {
    /// Elements (jobs) per second at the median time.
    fn per_second(&self) -> Option<f64> {
        self.elements.map(|e| e as f64 * 1e9 / self.median_ns)
    }
    /// Nanoseconds per element (per job) at the median time.
    fn ns_per_element(&self) -> f64 {
        self.median_ns / self.elements.unwrap_or(1).max(1) as f64
    }
}

/// The engines, in the column order of every table.
const ENGINES: [&str; 6] = [
    "JobQueue",
    "JobQueueLeased",
    "StdMutex",
    "ParkingLot",
    "Floor",
    "ScanSort",
];

fn main() -> ExitCode {
    let mut criterion = PathBuf::from("target/criterion");
    let mut out = PathBuf::from("docs/bench");
    let mut from_csv: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match arg.as_str() {
            "--criterion" => criterion = value("--criterion"),
            "--out" => out = value("--out"),
            "--from-csv" => from_csv = Some(value("--from-csv")),
            "-h" | "--help" => {
                println!("usage: bench_report [--criterion DIR] [--out DIR] [--from-csv FILE]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?} (try --help)");
                return ExitCode::FAILURE;
            }
        }
    }

    let rows = match &from_csv {
        Some(csv) => read_csv(csv),
        None => read_criterion(&criterion),
    };
    let rows = match rows {
        Ok(rows) if !rows.is_empty() => rows,
        Ok(_) => {
            eprintln!("no benchmark results found (run `cargo bench` first)");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("cannot read results: {e}");
            return ExitCode::FAILURE;
        }
    };

    if let Err(e) = fs::create_dir_all(&out) {
        eprintln!("cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let markdown = markdown(&rows);
    let mut written = vec![out.join("tables.md"), out.join("plot.svg")];
    let mut result = fs::write(out.join("tables.md"), &markdown)
        .and_then(|()| fs::write(out.join("plot.svg"), svg(&rows)));
    if from_csv.is_none() {
        result = result.and_then(|()| fs::write(out.join("results.csv"), csv(&rows)));
        written.push(out.join("results.csv"));
    }
    if let Err(e) = result {
        eprintln!("cannot write the report: {e}");
        return ExitCode::FAILURE;
    }
    print!("{markdown}");
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------- input

/// Every `*/new/benchmark.json` under `dir`, with its `estimates.json`.
fn read_criterion(dir: &Path) -> std::io::Result<Vec<Row>> {
    let mut found = Vec::new();
    find_benchmarks(dir, &mut found)?;
    let mut rows = Vec::new();
    for new_dir in found {
        let benchmark = fs::read_to_string(new_dir.join("benchmark.json"))?;
        let estimates = fs::read_to_string(new_dir.join("estimates.json"))?;
        let (Some(group), Some(function)) = (
            json_string(&benchmark, "group_id"),
            json_string(&benchmark, "function_id"),
        ) else {
            continue;
        };
        let parameter = json_string(&benchmark, "value_str").unwrap_or_default();
        let elements = json_number(&benchmark, "\"Elements\"").map(|e| e as u64);
        let Some(median) = json_object(&estimates, "median") else {
            continue;
        };
        let (Some(point), Some(lower), Some(upper)) = (
            json_number(median, "\"point_estimate\""),
            json_number(median, "\"lower_bound\""),
            json_number(median, "\"upper_bound\""),
        ) else {
            continue;
        };
        rows.push(Row {
            group,
            function,
            parameter,
            elements,
            median_ns: point,
            lower_ns: lower,
            upper_ns: upper,
        });
    }
    rows.sort_by(|a, b| {
        (
            group_rank(&a.group),
            &a.group,
            param_key(&a.parameter),
            engine_rank(&a.function),
        )
            .cmp(&(
                group_rank(&b.group),
                &b.group,
                param_key(&b.parameter),
                engine_rank(&b.function),
            ))
    });
    Ok(rows)
}

fn find_benchmarks(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if path.join("benchmark.json").is_file() && path.join("estimates.json").is_file() {
                found.push(path);
            }
        } else if path.file_name().is_none_or(|n| n != "report") {
            find_benchmarks(&path, found)?;
        }
    }
    Ok(())
}

/// The string value of `"key":"..."` (no escapes in Criterion's ids).
fn json_string(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = text[at..].find('"')?;
    Some(text[at..at + end].to_string())
}

/// The number after the first `key:` (key given with its quotes).
fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("{key}:"))? + key.len() + 1;
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The text of the object `"key":{...}`.
fn json_object<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(&format!("\"{key}\":{{"))? + key.len() + 3;
    let mut depth = 0usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(&text[start..start + i + 1]),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

const CSV_HEADER: &str = "group,function,parameter,elements,median_ns,lower_ns,upper_ns";

fn csv(rows: &[Row]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let elements = r.elements.map_or(String::new(), |e| e.to_string());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.group, r.function, r.parameter, elements, r.median_ns, r.lower_ns, r.upper_ns
        );
    }
    out
}

fn read_csv(path: &Path) -> std::io::Result<Vec<Row>> {
    let text = fs::read_to_string(path)?;
    let bad = |line: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, line.to_string());
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(bad(line));
        }
        let number = |s: &str| s.parse::<f64>().map_err(|_| bad(line));
        rows.push(Row {
            group: f[0].to_string(),
            function: f[1].to_string(),
            parameter: f[2].to_string(),
            elements: if f[3].is_empty() {
                None
            } else {
                Some(f[3].parse().map_err(|_| bad(line))?)
            },
            median_ns: number(f[4])?,
            lower_ns: number(f[5])?,
            upper_ns: number(f[6])?,
        });
    }
    Ok(rows)
}

// ---------------------------------------------------------------- ordering

fn group_rank(group: &str) -> usize {
    [
        "lifecycle",
        "produce_consume",
        "dag",
        "contention",
        "scale",
        "status",
    ]
    .iter()
    .position(|g| *g == group)
    .unwrap_or(99)
}

fn engine_rank(engine: &str) -> usize {
    ENGINES.iter().position(|e| *e == engine).unwrap_or(99)
}

/// Sorts parameters like "chain/2" or "1000" naturally: shape order, then
/// numbers by value.
fn param_key(parameter: &str) -> (usize, String, u64, String) {
    let shapes = ["chain", "fan_out", "fan_in", "layered", "status", "metrics"];
    let (shape, rest) = parameter.split_once('/').unwrap_or(("", parameter));
    let rank = shapes
        .iter()
        .position(|s| *s == shape || *s == parameter)
        .unwrap_or(0);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (
        rank,
        shape.to_string(),
        digits.parse().unwrap_or(0),
        rest.to_string(),
    )
}

/// The result of one (group, engine, parameter).
fn find<'a>(rows: &'a [Row], group: &str, engine: &str, parameter: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.group == group && r.function == engine && r.parameter == parameter)
}

// ---------------------------------------------------------------- markdown

fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1} k/s", per_s / 1e3)
    } else {
        format!("{per_s:.1} /s")
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn markdown(rows: &[Row]) -> String {
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    let mut out = String::new();
    for group in groups {
        let in_group: Vec<&Row> = rows.iter().filter(|r| r.group == group).collect();
        let engines: Vec<&str> = ENGINES
            .iter()
            .copied()
            .filter(|e| in_group.iter().any(|r| r.function == *e))
            .collect();
        let mut params: Vec<&str> = in_group.iter().map(|r| r.parameter.as_str()).collect();
        params.sort_by_key(|p| param_key(p));
        params.dedup();
        let throughput = in_group.iter().all(|r| r.elements.is_some()) && group != "scale";
        let _ = writeln!(out, "### `{group}`\n");
        let unit = if throughput {
            "jobs/s (median; higher is better)"
        } else if group == "scale" {
            "time per claim + start + complete (median; lower is better)"
        } else {
            "time per call (median; lower is better)"
        };
        let _ = writeln!(out, "Cells: {unit}.\n");

        let mut header = vec!["parameter".to_string()];
        header.extend(engines.iter().map(|e| e.to_string()));
        let has = |e: &str| engines.contains(&e);
        if has("StdMutex") {
            header.push("JobQueue ÷ StdMutex".into());
        }
        if has("ParkingLot") {
            header.push("JobQueue ÷ ParkingLot".into());
        }
        if has("Floor") {
            header.push("JobQueue time ÷ Floor time".into());
        }
        if has("ScanSort") {
            header.push("ScanSort time ÷ JobQueue time".into());
        }
        if group == "scale" {
            header.push("JobQueue ÷ JobQueue at 1000".into());
        }
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
        for param in params {
            let get = |e: &str| find(rows, group, e, param);
            let mut cells = vec![format!("`{param}`")];
            for e in &engines {
                cells.push(match get(e) {
                    Some(r) if throughput => fmt_rate(r.per_second().unwrap_or(0.0)),
                    Some(r) => fmt_ns(r.ns_per_element()),
                    None => "—".into(),
                });
            }
            let lf = get("JobQueue");
            // Ratios of speed: other time ÷ JobQueue time.
            let speedup = |e: &str| match (lf, get(e)) {
                (Some(l), Some(o)) => format!("{:.2}×", o.median_ns / l.median_ns),
                _ => "—".into(),
            };
            if has("StdMutex") {
                cells.push(speedup("StdMutex"));
            }
            if has("ParkingLot") {
                cells.push(speedup("ParkingLot"));
            }
            if has("Floor") {
                cells.push(match (lf, get("Floor")) {
                    (Some(l), Some(f)) => format!("{:.1}×", l.median_ns / f.median_ns),
                    _ => "—".into(),
                });
            }
            if has("ScanSort") {
                cells.push(speedup("ScanSort"));
            }
            if group == "scale" {
                cells.push(match (lf, find(rows, group, "JobQueue", "1000")) {
                    (Some(l), Some(base)) => format!("{:.2}×", l.median_ns / base.median_ns),
                    _ => "—".into(),
                });
            }
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out.push('\n');
    }
    out.push_str(&targets(rows));
    out
}

/// The targets of issue 4, each with its measured value.
fn targets(rows: &[Row]) -> String {
    let time = |group: &str, engine: &str, param: &str| {
        find(rows, group, engine, param).map(|r| r.median_ns)
    };
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    // (target, measured, bound, at least?)
    let checks: Vec<(&str, Option<f64>, f64, bool)> = vec![
        (
            "`lifecycle` 1 thread: JobQueue ≥ 1.0× ParkingLot throughput",
            ratio(
                time("lifecycle", "ParkingLot", "1"),
                time("lifecycle", "JobQueue", "1"),
            ),
            1.0,
            true,
        ),
        (
            "`lifecycle` 2 threads: JobQueue ≥ 1.5× ParkingLot throughput",
            ratio(
                time("lifecycle", "ParkingLot", "2"),
                time("lifecycle", "JobQueue", "2"),
            ),
            1.5,
            true,
        ),
        (
            "`lifecycle` 1 thread: JobQueue time per job ≤ 3× Floor's",
            ratio(
                time("lifecycle", "JobQueue", "1"),
                time("lifecycle", "Floor", "1"),
            ),
            3.0,
            false,
        ),
        (
            "`lifecycle` 2 threads: JobQueue time per job ≤ 3× Floor's",
            ratio(
                time("lifecycle", "JobQueue", "2"),
                time("lifecycle", "Floor", "2"),
            ),
            3.0,
            false,
        ),
        (
            "`scale`: JobQueue cost at 1M queued ≤ 1.5× its cost at 1k",
            ratio(
                time("scale", "JobQueue", "1000000"),
                time("scale", "JobQueue", "1000"),
            ),
            1.5,
            false,
        ),
        (
            "`scale`: JobQueue ≥ 100× faster than ScanSort at 10k queued",
            ratio(
                time("scale", "ScanSort", "10000"),
                time("scale", "JobQueue", "10000"),
            ),
            100.0,
            true,
        ),
        (
            "`dag` layered, 2 threads: JobQueue ≥ 1.5× ParkingLot throughput",
            ratio(
                time("dag", "ParkingLot", "layered/2"),
                time("dag", "JobQueue", "layered/2"),
            ),
            1.5,
            true,
        ),
        (
            "`lifecycle` 16 threads (16-core machine): JobQueue ≥ 3× ParkingLot throughput",
            ratio(
                time("lifecycle", "ParkingLot", "16"),
                time("lifecycle", "JobQueue", "16"),
            ),
            3.0,
            true,
        ),
    ];
    let mut out =
        String::from("### Targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
    for (name, measured, bound, at_least) in checks {
        let (value, verdict) = match measured {
            None => ("—".to_string(), "not measured".to_string()),
            Some(v) => {
                let met = if at_least { v >= bound } else { v <= bound };
                (
                    format!("{v:.2}×"),
                    if met { "**met**" } else { "**missed**" }.to_string(),
                )
            }
        };
        let _ = writeln!(out, "| {name} | {value} | {verdict} |");
    }
    out.push('\n');
    out
}

// ---------------------------------------------------------------- svg

const COLORS: [(&str, &str); 5] = [
    ("JobQueue", "#1b6ec2"),
    ("StdMutex", "#d9822b"),
    ("ParkingLot", "#c23b22"),
    ("Floor", "#555555"),
    ("ScanSort", "#7b3fa0"),
];

fn color(engine: &str) -> &'static str {
    COLORS
        .iter()
        .find(|(e, _)| *e == engine)
        .map_or("#000000", |(_, c)| c)
}

/// One engine's points, keyed by engine rank: (engine, points).
type Series<'a> = BTreeMap<usize, (&'a str, Vec<(f64, f64)>)>;

/// One panel: series of (x, y) points per engine on log-log axes.
struct Panel<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: Series<'a>,
    x_log: bool,
}

fn svg(rows: &[Row]) -> String {
    let mut throughput = Panel {
        title: "lifecycle: throughput against threads",
        x_label: "threads",
        y_label: "jobs/s (log)",
        series: BTreeMap::new(),
        x_log: false,
    };
    let mut scale = Panel {
        title: "scale: claim + complete cost against queue size",
        x_label: "jobs queued (log)",
        y_label: "ns per claim + complete (log)",
        series: BTreeMap::new(),
        x_log: true,
    };
    for r in rows {
        let Ok(x) = r.parameter.parse::<f64>() else {
            continue;
        };
        let rank = engine_rank(&r.function);
        if r.group == "lifecycle" {
            if let Some(y) = r.per_second() {
                throughput
                    .series
                    .entry(rank)
                    .or_insert((ENGINES.get(rank).copied().unwrap_or("?"), Vec::new()))
                    .1
                    .push((x, y));
            }
        } else if r.group == "scale" {
            scale
                .series
                .entry(rank)
                .or_insert((ENGINES.get(rank).copied().unwrap_or("?"), Vec::new()))
                .1
                .push((x, r.ns_per_element()));
        }
    }
    for panel in [&mut throughput, &mut scale] {
        for (_, points) in panel.series.values_mut() {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
    let (width, height) = (1000.0, 420.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    draw_panel(&mut out, &throughput, 0.0, 500.0, height);
    draw_panel(&mut out, &scale, 500.0, 500.0, height);
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel<'_>, left: f64, width: f64, height: f64) {
    let (ml, mr, mt, mb) = (70.0, 20.0, 40.0, 90.0);
    let (x0, x1) = (left + ml, left + width - mr);
    let (y0, y1) = (height - mb, mt);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        left + width / 2.0,
        panel.title
    );
    let points: Vec<(f64, f64)> = panel
        .series
        .values()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    if points.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">no data</text>"#,
            left + width / 2.0,
            height / 2.0
        );
        return;
    }
    // Axes ranges: y always log (decades), x log or linear.
    let (ymin, ymax) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (ylo, yhi) = (
        ymin.log10().floor(),
        ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
    );
    let (xmin, xmax) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (xlo, xhi) = if panel.x_log {
        (
            xmin.log10().floor(),
            xmax.log10().ceil().max(xmin.log10().floor() + 1.0),
        )
    } else {
        (0.0, xmax.max(2.0))
    };
    let sx = |x: f64| {
        let v = if panel.x_log { x.log10() } else { x };
        x0 + (v - xlo) / (xhi - xlo) * (x1 - x0)
    };
    let sy = |y: f64| y0 - (y.log10() - ylo) / (yhi - ylo) * (y0 - y1);
    // Frame and grid.
    let _ = writeln!(
        out,
        r##"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        x1 - x0,
        y0 - y1
    );
    let mut decade = ylo;
    while decade <= yhi + 1e-9 {
        let y = sy(10f64.powf(decade));
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            si(10f64.powf(decade))
        );
        decade += 1.0;
    }
    let x_ticks: Vec<f64> = if panel.x_log {
        (xlo as i32..=xhi as i32).map(|d| 10f64.powi(d)).collect()
    } else {
        let mut ticks: Vec<f64> = points.iter().map(|p| p.0).collect();
        ticks.sort_by(f64::total_cmp);
        ticks.dedup();
        ticks
    };
    for x in x_ticks {
        let px = sx(x);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{y1}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            y0 + 16.0,
            si(x)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        y0 + 34.0,
        panel.x_label
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>"#,
        left + 16.0,
        (y0 + y1) / 2.0,
        left + 16.0,
        (y0 + y1) / 2.0,
        panel.y_label
    );
    // Series and legend.
    for (i, (engine, pts)) in panel.series.values().enumerate() {
        let c = color(engine);
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for &(x, y) in pts {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{c}"/>"#,
                sx(x),
                sy(y)
            );
        }
        let lx = x0 + (i as f64) * 85.0;
        let ly = height - 24.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="3"/><text x="{}" y="{}">{engine}</text>"#,
            lx + 18.0,
            lx + 22.0,
            ly + 4.0
        );
    }
}

/// 1000 → "1k", 2500000 → "2.5M".
fn si(v: f64) -> String {
    let (scaled, suffix) = if v >= 1e9 {
        (v / 1e9, "G")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if (scaled - scaled.round()).abs() < 1e-9 {
        format!("{scaled:.0}{suffix}")
    } else {
        format!("{scaled:.1}{suffix}")
    }
}
