//! store-bench: redb, fjall and SQLite on the durable queue's journal
//! workload (docs/bench/store_compare.md). See store-bench/README.md.
//!
//! `store-bench [CASE] [--stores a,b,..] [--threads 1,4,16] [--secs S]
//!  [--rows N] [--batch N] [--big N] [--dir PATH] [--cold] [--keep] [--reps N]`
//!
//! CASE: fsync | group | relaxed | churn | bigbatch | recovery | bounded | corrupt |
//! all (default: every case but churn).

mod store;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use store::{Kind, Op, Res, Scan, Store};

/// The size of an encoded job record.
const VALUE_LEN: usize = 160;
/// The relaxed mode's sync period.
const RELAXED_SYNC: Duration = Duration::from_millis(10);

struct Cfg {
    stores: Option<Vec<Kind>>,
    threads: Vec<usize>,
    secs: f64,
    rows: u64,
    batch: u64,
    big: u64,
    dir: PathBuf,
    cold: bool,
    /// Keep the bounded case's data directory (to look at its files).
    keep: bool,
    /// Runs of each (clients, store) pair in the group cases, interleaved;
    /// the table shows the run of median ops/s and the range.
    reps: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: store-bench [fsync|group|relaxed|churn|bigbatch|recovery|bounded|corrupt|all] \
         [--stores redb,fjall,sqlite,redb-qr,fjall-data] [--threads 1,4,16] [--secs 3] \
         [--rows 1000000] [--batch 10000] [--big 100000] [--dir PATH] [--cold] [--keep] [--reps 1]"
    );
    std::process::exit(2)
}

fn parse_list<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> Vec<T> {
    s.split(',')
        .map(|x| f(x.trim()).unwrap_or_else(|| usage()))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__crashload") {
        if let Err(e) = crash_child(&args[1..]) {
            eprintln!("crash child: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut case = "all".to_string();
    let mut cfg = Cfg {
        stores: None,
        threads: vec![1, 4, 16],
        secs: 3.0,
        rows: 1_000_000,
        batch: 10_000,
        big: 100_000,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/store-data"),
        cold: false,
        keep: false,
        reps: 1,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--stores" => cfg.stores = Some(parse_list(&val(), Kind::parse)),
            "--threads" => cfg.threads = parse_list(&val(), |x| x.parse().ok()),
            "--secs" => cfg.secs = val().parse().unwrap_or_else(|_| usage()),
            "--rows" => cfg.rows = val().parse().unwrap_or_else(|_| usage()),
            "--batch" => cfg.batch = val().parse().unwrap_or_else(|_| usage()),
            "--big" => cfg.big = val().parse().unwrap_or_else(|_| usage()),
            "--dir" => cfg.dir = PathBuf::from(val()),
            "--cold" => cfg.cold = true,
            "--keep" => cfg.keep = true,
            "--reps" => cfg.reps = val().parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            c if !c.starts_with('-') => case = c.to_string(),
            _ => usage(),
        }
    }
    if let Err(e) = run(&case, &cfg) {
        eprintln!("store-bench: {e}");
        std::process::exit(1);
    }
}

fn run(case: &str, cfg: &Cfg) -> Res<()> {
    std::fs::create_dir_all(&cfg.dir)?;
    let dir = cfg.dir.canonicalize()?;
    println!(
        "# store-bench {case}: dir {} ({}), {} rows of {VALUE_LEN} B values",
        dir.display(),
        fs_type(&dir),
        cfg.rows
    );
    let mut tables = Vec::new();
    let all = case == "all";
    let mut any = false;
    if all || case == "fsync" {
        tables.push(case_fsync(cfg)?);
        any = true;
    }
    if all || case == "group" {
        tables.push(case_group(cfg, Mode::Durable)?);
        any = true;
    }
    if all || case == "relaxed" {
        tables.push(case_group(cfg, Mode::Relaxed)?);
        any = true;
    }
    if all || case == "corrupt" {
        tables.push(case_corrupt(cfg)?);
        any = true;
    }
    if case == "churn" {
        tables.push(case_group(cfg, Mode::Churn)?);
        any = true;
    }
    if all || case == "bigbatch" {
        tables.push(case_bigbatch(cfg)?);
        any = true;
    }
    if all || case == "recovery" {
        tables.push(case_recovery(cfg)?);
        any = true;
    }
    if all || case == "bounded" {
        tables.push(case_bounded(cfg)?);
        any = true;
    }
    if !any {
        usage();
    }
    println!();
    for t in &tables {
        t.print();
    }
    Ok(())
}

/// The file system type of `dir`, from /proc/mounts (longest mount prefix).
fn fs_type(dir: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best = (0, String::from("?"));
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 && dir.starts_with(f[1]) && f[1].len() >= best.0 {
            best = (f[1].len(), format!("{} on {}", f[2], f[0]));
        }
    }
    best.1
}

// ---------------------------------------------------------------- output

struct Table {
    title: String,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: &str, header: &[&'static str]) -> Table {
        Table {
            title: title.to_string(),
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    fn print(&self) {
        println!("### {}\n", self.title);
        println!("| {} |", self.header.join(" | "));
        println!(
            "|{}",
            self.header
                .iter()
                .map(|_| "---|")
                .collect::<Vec<_>>()
                .concat()
        );
        for r in &self.rows {
            println!("| {} |", r.join(" | "));
        }
        println!();
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

/// A disk size cell: the files' length in MiB, and what is allocated where
/// that differs by more than 10% (fjall's preallocated journal, sparse files).
fn disk_cell((len, alloc): (u64, u64)) -> String {
    let (l, a) = (len as f64, alloc as f64);
    if (l - a).abs() > 0.1 * l.max(a) {
        format!("{} ({} alloc.)", mib(len), mib(alloc))
    } else {
        mib(len)
    }
}

fn kinds(cfg: &Cfg) -> Vec<Kind> {
    cfg.stores.clone().unwrap_or_else(|| Kind::DEFAULT.to_vec())
}

/// A fresh, empty directory for one case of one store.
fn fresh_dir(cfg: &Cfg, case: &str, kind: Kind) -> Res<PathBuf> {
    let d = cfg.dir.join(format!("{case}-{}", kind.name()));
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn remove_dir(d: &Path) -> Res<()> {
    if d.exists() {
        std::fs::remove_dir_all(d)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- data

/// splitmix64: the values' random-ish bytes.
fn next_rand(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A job record of VALUE_LEN bytes laid out like the real one: id, 4
/// dependency ids, state, attempt, priority, cluster, two timestamps, and the
/// spec's text (printable random bytes).
fn make_value(id: u64, state: u8, rng: &mut u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(VALUE_LEN);
    v.extend_from_slice(&id.to_be_bytes());
    for k in 0..4u64 {
        v.extend_from_slice(&id.saturating_sub(k * 7 + 1).to_be_bytes());
    }
    v.push(state);
    v.extend_from_slice(&u32::from(state).to_be_bytes()); // attempt
    v.push((id % 4) as u8); // priority
    v.extend_from_slice(&((id % 16) as u32).to_be_bytes()); // cluster
    v.extend_from_slice(&next_rand(rng).to_be_bytes());
    v.extend_from_slice(&next_rand(rng).to_be_bytes());
    while v.len() < VALUE_LEN {
        let r = next_rand(rng);
        for b in r.to_le_bytes() {
            if v.len() < VALUE_LEN {
                v.push(b' ' + b % 95);
            }
        }
    }
    v
}

/// Writes rows `from..to` as puts, `batch` rows a durable transaction.
fn load(s: &mut dyn Store, from: u64, to: u64, batch: u64, rng: &mut u64) -> Res<()> {
    let mut id = from;
    let mut ops = Vec::with_capacity(batch as usize);
    while id < to {
        ops.clear();
        let end = (id + batch).min(to);
        for i in id..end {
            ops.push(Op::Put(i, make_value(i, 0, rng)));
        }
        s.apply(&ops, true)?;
        id = end;
    }
    Ok(())
}

// ---------------------------------------------------------------- 1, 2: group commit

struct Req {
    op: Op,
    reply: SyncSender<()>,
}

struct GroupOut {
    ops: u64,
    commits: u64,
    syncs: u64,
    secs: f64,
    p50_us: u32,
    p99_us: u32,
    max_us: u32,
    disk: (u64, u64),
}

impl GroupOut {
    fn ops_s(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    fn mean_batch(&self) -> f64 {
        self.ops as f64 / self.commits.max(1) as f64
    }
}

/// T clients, each: put a new job, put it again (completed), delete it
/// (pruned), each op acknowledged before the next. One committer drains
/// everything pending into one transaction, commits it (durably, or, relaxed,
/// without sync plus a sync every RELAXED_SYNC), then acks the batch.
fn run_group(store: Box<dyn Store>, threads: usize, secs: f64, relaxed: bool) -> Res<GroupOut> {
    let (tx, rx) = mpsc::channel::<Req>();
    let committer = thread::spawn(move || -> Res<(Box<dyn Store>, u64, u64)> {
        let mut store = store;
        let (mut commits, mut syncs) = (0u64, 0u64);
        let mut last_sync = Instant::now();
        let mut dirty = false;
        let mut ops = Vec::new();
        let mut replies = Vec::new();
        loop {
            let first = if relaxed {
                let wait = RELAXED_SYNC.saturating_sub(last_sync.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        if dirty {
                            store.sync()?;
                            syncs += 1;
                            dirty = false;
                        }
                        last_sync = Instant::now();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            ops.push(first.op);
            replies.push(first.reply);
            while let Ok(r) = rx.try_recv() {
                ops.push(r.op);
                replies.push(r.reply);
            }
            store.apply(&ops, !relaxed)?;
            commits += 1;
            if relaxed {
                dirty = true;
                if last_sync.elapsed() >= RELAXED_SYNC {
                    store.sync()?;
                    syncs += 1;
                    dirty = false;
                    last_sync = Instant::now();
                }
            } else {
                syncs += 1;
            }
            for r in replies.drain(..) {
                let _ = r.send(());
            }
            ops.clear();
        }
        if dirty {
            store.sync()?;
            syncs += 1;
        }
        Ok((store, commits, syncs))
    });

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let clients: Vec<_> = (0..threads)
        .map(|c| {
            let tx = tx.clone();
            thread::spawn(move || {
                let (rtx, rrx) = mpsc::sync_channel::<()>(1);
                let mut rng = 0x5EED ^ (c as u64) << 32;
                let mut lat = Vec::with_capacity(1 << 16);
                let mut n = 0u64;
                'outer: while Instant::now() < deadline {
                    let id = ((c as u64) << 40) | n;
                    n += 1;
                    for step in 0..3u8 {
                        let op = match step {
                            0 => Op::Put(id, make_value(id, 0, &mut rng)),
                            1 => Op::Put(id, make_value(id, 2, &mut rng)),
                            _ => Op::Delete(id),
                        };
                        let t0 = Instant::now();
                        let req = Req {
                            op,
                            reply: rtx.clone(),
                        };
                        if tx.send(req).is_err() || rrx.recv().is_err() {
                            break 'outer;
                        }
                        let us = t0.elapsed().as_micros();
                        lat.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                }
                lat
            })
        })
        .collect();
    drop(tx);
    let mut lat: Vec<u32> = Vec::new();
    for c in clients {
        lat.extend(c.join().map_err(|_| "client panicked")?);
    }
    let secs = start.elapsed().as_secs_f64();
    let (store, commits, syncs) = committer.join().map_err(|_| "committer panicked")??;
    lat.sort_unstable();
    let pct = |q: f64| -> u32 {
        if lat.is_empty() {
            0
        } else {
            lat[((q * lat.len() as f64) as usize).min(lat.len() - 1)]
        }
    };
    let out = GroupOut {
        ops: lat.len() as u64,
        commits,
        syncs,
        secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: lat.last().copied().unwrap_or(0),
        disk: store.disk_bytes(),
    };
    drop(store);
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Case 1: every op durable before its ack.
    Durable,
    /// Case 2: commits without sync, a sync every RELAXED_SYNC.
    Relaxed,
    /// Case 5b: case 1 run longer, for the disk a long churn leaves.
    Churn,
}

fn case_group(cfg: &Cfg, mode: Mode) -> Res<Table> {
    let relaxed = mode == Mode::Relaxed;
    let name = match mode {
        Mode::Durable => "group",
        Mode::Relaxed => "relaxed",
        Mode::Churn => "churn",
    };
    let reps = if cfg.reps > 1 {
        format!(
            ", {} runs each (interleaved): the run of median ops/s, and the range",
            cfg.reps
        )
    } else {
        String::new()
    };
    let title = match mode {
        Mode::Durable => format!(
            "1. Group commit, durable (every op fsync'd before its ack), {} s a run{reps}",
            cfg.secs
        ),
        Mode::Relaxed => format!(
            "2. Group commit, relaxed (commits without sync, one sync every {} ms), {} s a run{reps}",
            RELAXED_SYNC.as_millis(),
            cfg.secs
        ),
        Mode::Churn => format!(
            "5b. Steady churn: case 1 for {} s (put, put, delete: ~0 live rows), disk left after it",
            cfg.secs
        ),
    };
    let mut header = vec!["store", "clients", "ops/s"];
    if cfg.reps > 1 {
        header.push("ops/s range");
    }
    header.push("commits/s");
    if relaxed {
        header.push("syncs/s");
    }
    header.extend(["mean batch", "p50 µs", "p99 µs", "max µs", "disk after MiB"]);
    let mut t = Table::new(&title, &header);
    let stores = kinds(cfg);
    let mut runs: Vec<Vec<GroupOut>> = Vec::new();
    for _ in 0..cfg.threads.len() * stores.len() {
        runs.push(Vec::new());
    }
    for _rep in 0..cfg.reps.max(1) {
        for (ti, &threads) in cfg.threads.iter().enumerate() {
            for (si, &kind) in stores.iter().enumerate() {
                let d = fresh_dir(cfg, name, kind)?;
                let s = store::open(kind, &d, false)?;
                let o = run_group(s, threads, cfg.secs, relaxed)?;
                remove_dir(&d)?;
                println!(
                    "case={name} store={} clients={threads} ops={} secs={:.2} ops/s={:.0} \
                     commits/s={:.0} syncs/s={:.0} mean_batch={:.2} \
                     p50_us={} p99_us={} max_us={} disk_after={:?}",
                    kind.name(),
                    o.ops,
                    o.secs,
                    o.ops_s(),
                    o.commits as f64 / o.secs,
                    o.syncs as f64 / o.secs,
                    o.mean_batch(),
                    o.p50_us,
                    o.p99_us,
                    o.max_us,
                    o.disk
                );
                runs[ti * stores.len() + si].push(o);
            }
        }
    }
    for (ti, &threads) in cfg.threads.iter().enumerate() {
        for (si, &kind) in stores.iter().enumerate() {
            let rs = &mut runs[ti * stores.len() + si];
            rs.sort_by(|a, b| a.ops_s().total_cmp(&b.ops_s()));
            let o = &rs[rs.len() / 2];
            let mut row = vec![
                kind.name().to_string(),
                threads.to_string(),
                format!("{:.0}", o.ops_s()),
            ];
            if cfg.reps > 1 {
                row.push(format!(
                    "{:.0}–{:.0}",
                    rs[0].ops_s(),
                    rs[rs.len() - 1].ops_s()
                ));
            }
            row.push(format!("{:.0}", o.commits as f64 / o.secs));
            if relaxed {
                row.push(format!("{:.0}", o.syncs as f64 / o.secs));
            }
            row.extend([
                format!("{:.2}", o.mean_batch()),
                o.p50_us.to_string(),
                o.p99_us.to_string(),
                o.max_us.to_string(),
                disk_cell(o.disk),
            ]);
            t.rows.push(row);
        }
    }
    Ok(t)
}

// ---------------------------------------------------------------- 0: the disk

/// What one fdatasync costs on this disk: 4 KiB overwritten in place, and
/// 4 KiB appended (the file grows), each followed by `sync_data`.
fn case_fsync(cfg: &Cfg) -> Res<Table> {
    let mut t = Table::new(
        "0. The disk: one 4 KiB write + fdatasync (File::sync_data), 2 s each",
        &["pattern", "syncs/s", "mean µs"],
    );
    let d = cfg.dir.join("fsync-probe");
    remove_dir(&d)?;
    std::fs::create_dir_all(&d)?;
    for append in [false, true] {
        let path = d.join(if append { "append" } else { "overwrite" });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let block = vec![0xA5u8; 4096];
        f.write_all(&block)?;
        f.sync_all()?;
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed() < Duration::from_secs(2) {
            if !append {
                use std::io::Seek;
                f.seek(std::io::SeekFrom::Start(0))?;
            }
            f.write_all(&block)?;
            f.sync_data()?;
            n += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let what = if append { "append" } else { "overwrite" };
        println!(
            "case=fsync pattern={what} syncs={n} secs={secs:.2} syncs/s={:.0} mean_us={:.0}",
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
        t.rows.push(vec![
            what.into(),
            format!("{:.0}", n as f64 / secs),
            format!("{:.0}", secs * 1e6 / n as f64),
        ]);
    }
    remove_dir(&d)?;
    Ok(t)
}

// ---------------------------------------------------------------- 3: one big batch

fn case_bigbatch(cfg: &Cfg) -> Res<Table> {
    let mut t = Table::new(
        &format!(
            "3. One big batch: {} rows in one transaction, one sync",
            cfg.big
        ),
        &["store", "rows", "ms", "ns/row", "disk after MiB"],
    );
    for kind in kinds(cfg) {
        let d = fresh_dir(cfg, "bigbatch", kind)?;
        let mut s = store::open(kind, &d, false)?;
        let mut rng = 7;
        let ops: Vec<Op> = (0..cfg.big)
            .map(|i| Op::Put(i, make_value(i, 0, &mut rng)))
            .collect();
        let t0 = Instant::now();
        s.apply(&ops, true)?;
        let dt = t0.elapsed().as_secs_f64();
        let n = s.scan_all()?.rows;
        if n != cfg.big {
            return Err(format!("{}: {n} rows after the batch", kind.name()).into());
        }
        let disk = s.disk_bytes();
        drop(s);
        remove_dir(&d)?;
        let ns = dt * 1e9 / cfg.big as f64;
        println!(
            "case=bigbatch store={} rows={} ms={:.1} ns/row={ns:.0} disk_after={disk:?}",
            kind.name(),
            cfg.big,
            dt * 1e3
        );
        t.rows.push(vec![
            kind.name().into(),
            cfg.big.to_string(),
            format!("{:.1}", dt * 1e3),
            format!("{ns:.0}"),
            disk_cell(disk),
        ]);
    }
    Ok(t)
}

// ---------------------------------------------------------------- 4: recovery

/// Child process of the recovery case: loads `rows` rows durably, says
/// "loaded SECS", then keeps writing durable batches of new rows until the
/// parent kills it with SIGKILL.
fn crash_child(args: &[String]) -> Res<()> {
    let [kind, dir, rows, batch] = args else {
        return Err("__crashload KIND DIR ROWS BATCH".into());
    };
    let kind = Kind::parse(kind).ok_or("kind")?;
    let rows: u64 = rows.parse()?;
    let batch: u64 = batch.parse()?;
    let mut s = store::open(kind, Path::new(dir), false)?;
    let mut rng = 11;
    let t0 = Instant::now();
    load(&mut *s, 0, rows, batch, &mut rng)?;
    let dt = t0.elapsed().as_secs_f64();
    let mut out = std::io::stdout();
    writeln!(out, "loaded {dt:.3}")?;
    out.flush()?;
    let mut next = rows;
    loop {
        load(&mut *s, next, next + batch, batch, &mut rng)?;
        next += batch;
    }
}

/// Drops the page cache (root only), for a cold open.
fn drop_caches() -> Res<()> {
    let st = Command::new("sync").status()?;
    if !st.success() {
        return Err("sync failed".into());
    }
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")?;
    Ok(())
}

/// Opens the store and reads every row: (open s, scan s, rows, value bytes).
fn open_scan(kind: Kind, d: &Path, verify: bool) -> Res<(f64, f64, u64, u64)> {
    let t0 = Instant::now();
    let mut s = store::open(kind, d, verify)?;
    let t1 = Instant::now();
    let scan = s.scan_all()?;
    let t2 = Instant::now();
    drop(s);
    Ok((
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        scan.rows,
        scan.bytes,
    ))
}

fn case_recovery(cfg: &Cfg) -> Res<Table> {
    let mut t = Table::new(
        &format!(
            "4. Recovery: {} rows loaded in durable batches of {}; open + full scan (s)",
            cfg.rows, cfg.batch
        ),
        &[
            "store",
            "load (s)",
            "file MiB",
            "after kill -9: open + scan",
            "rows found",
            "clean close: open + scan",
            "clean, cold cache",
            "verified open + scan",
        ],
    );
    let exe = std::env::current_exe()?;
    for kind in kinds(cfg) {
        let d = fresh_dir(cfg, "recovery", kind)?;
        // Load in a child, killed with SIGKILL while it keeps writing.
        let mut child = Command::new(&exe)
            .arg("__crashload")
            .arg(kind.name())
            .arg(&d)
            .arg(cfg.rows.to_string())
            .arg(cfg.batch.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("child stdout")?).read_line(&mut line)?;
        let load_s: f64 = line
            .strip_prefix("loaded ")
            .and_then(|x| x.trim().parse().ok())
            .ok_or_else(|| format!("child said {line:?}"))?;
        thread::sleep(Duration::from_millis(100));
        child.kill()?;
        let st = child.wait()?;
        let disk = store::dir_bytes(&d);

        let (ko, ks, kn, kb) = open_scan(kind, &d, false)?;
        if kn < cfg.rows {
            return Err(format!("{}: {kn} rows after kill -9, < {}", kind.name(), cfg.rows).into());
        }
        let cold = if cfg.cold {
            drop_caches()?;
            let (o, s, _, _) = open_scan(kind, &d, false)?;
            Some((o, s))
        } else {
            None
        };
        let (co, cs, cn, _) = open_scan(kind, &d, false)?;
        let verified = match kind {
            Kind::Redb | Kind::RedbQuickRepair | Kind::Sqlite => {
                let (o, s, _, _) = open_scan(kind, &d, true)?;
                Some((o, s))
            }
            _ => None,
        };
        let disk_clean = store::dir_bytes(&d);
        remove_dir(&d)?;
        println!(
            "case=recovery store={} rows={} load_s={load_s:.2} disk={disk:?} child={st} \
             kill9_open_s={ko:.3} kill9_scan_s={ks:.3} kill9_rows={kn} kill9_value_bytes={kb} \
             cold_open_s={} cold_scan_s={} clean_open_s={co:.3} clean_scan_s={cs:.3} clean_rows={cn} \
             verified_open_s={} verified_scan_s={} disk_after_clean_close={disk_clean:?}",
            kind.name(),
            cfg.rows,
            cold.map_or("-".into(), |c| format!("{:.3}", c.0)),
            cold.map_or("-".into(), |c| format!("{:.3}", c.1)),
            verified.map_or("-".into(), |c| format!("{:.3}", c.0)),
            verified.map_or("-".into(), |c| format!("{:.3}", c.1)),
        );
        let fmt = |o: f64, s: f64| format!("{:.2} ({o:.2} + {s:.2})", o + s);
        t.rows.push(vec![
            kind.name().into(),
            format!("{load_s:.1}"),
            disk_cell(disk),
            fmt(ko, ks),
            kn.to_string(),
            fmt(co, cs),
            cold.map_or("-".into(), |c| fmt(c.0, c.1)),
            verified.map_or("n/a".into(), |c| fmt(c.0, c.1)),
        ]);
    }
    Ok(t)
}

// ---------------------------------------------------------------- 5: bounded disk

fn case_bounded(cfg: &Cfg) -> Res<Table> {
    let keep_every = 100;
    let mut t = Table::new(
        &format!(
            "5. Bounded disk: {} rows written, all but every {keep_every}th deleted, then compaction (MiB)",
            cfg.rows
        ),
        &[
            "store",
            "after writes",
            "after deletes",
            "compaction (s)",
            "after compaction",
            "after reopen",
            "live rows",
            "how",
        ],
    );
    for kind in kinds(cfg) {
        let d = fresh_dir(cfg, "bounded", kind)?;
        let mut s = store::open(kind, &d, false)?;
        let mut rng = 13;
        let t0 = Instant::now();
        load(&mut *s, 0, cfg.rows, cfg.batch, &mut rng)?;
        let load_s = t0.elapsed().as_secs_f64();
        let after_writes = s.disk_bytes();
        let t0 = Instant::now();
        let mut ops = Vec::with_capacity(cfg.batch as usize);
        for id in (0..cfg.rows).filter(|i| i % keep_every != 0) {
            ops.push(Op::Delete(id));
            if ops.len() as u64 == cfg.batch {
                s.apply(&ops, true)?;
                ops.clear();
            }
        }
        if !ops.is_empty() {
            s.apply(&ops, true)?;
        }
        let delete_s = t0.elapsed().as_secs_f64();
        let after_deletes = s.disk_bytes();
        let t0 = Instant::now();
        let how = s.compact()?;
        let compact_s = t0.elapsed().as_secs_f64();
        let after_compact = s.disk_bytes();
        let live = s.scan_all()?.rows;
        drop(s);
        let s = store::open(kind, &d, false)?;
        let after_reopen = s.disk_bytes();
        drop(s);
        if !cfg.keep {
            remove_dir(&d)?;
        }
        println!(
            "case=bounded store={} rows={} load_s={load_s:.2} delete_s={delete_s:.2} \
             after_writes={after_writes:?} after_deletes={after_deletes:?} compact_s={compact_s:.3} \
             after_compact={after_compact:?} after_reopen={after_reopen:?} live={live} how={how:?}",
            kind.name(),
            cfg.rows
        );
        t.rows.push(vec![
            kind.name().into(),
            disk_cell(after_writes),
            disk_cell(after_deletes),
            format!("{compact_s:.2}"),
            disk_cell(after_compact),
            disk_cell(after_reopen),
            live.to_string(),
            how,
        ]);
    }
    Ok(t)
}

// ---------------------------------------------------------------- 7: corruption

/// Selects the files to garble by path.
type FilePick = fn(&Path) -> bool;

/// The files of `dir` (recursively) whose name satisfies `pick`, largest first.
fn files_by_size(dir: &Path, pick: &dyn Fn(&Path) -> bool, out: &mut Vec<(u64, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_by_size(&p, pick, out);
        } else if pick(&p) {
            out.push((e.metadata().map_or(0, |m| m.len()), p));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
}

/// Overwrites `spots` runs of 64 bytes, evenly spaced over the file, each at
/// a random place inside its 4 KiB page, and only where the 64 bytes read
/// back are not all zero (written data, not a hole or preallocated space).
fn corrupt_file(path: &Path, spots: u64) -> Res<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut hit = 0;
    let mut rng = 99u64;
    for i in 1..=spots {
        // Search forward from the spot (not page aligned: somewhere inside a
        // 4 KiB page) for 64 written (non-zero) bytes.
        let mut off = len * i / (spots + 1) + 256 + next_rand(&mut rng) % 3500;
        let mut buf = [0u8; 64];
        while off + 64 <= len {
            f.seek(SeekFrom::Start(off))?;
            f.read_exact(&mut buf)?;
            if buf.iter().any(|&b| b != 0) {
                break;
            }
            off += 4096;
        }
        if off + 64 > len {
            continue;
        }
        for b in buf.iter_mut() {
            *b ^= (next_rand(&mut rng) as u8) | 1;
        }
        f.seek(SeekFrom::Start(off))?;
        f.write_all(&buf)?;
        hit += 1;
    }
    f.sync_all()?;
    Ok(hit)
}

/// What an open + full scan of a damaged store did: an error, a panic, the
/// data intact, or different data without any error.
fn damaged_outcome(kind: Kind, d: &Path, verify: bool, good: Scan) -> String {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Res<Scan> {
        let mut s = store::open(kind, d, verify)?;
        s.scan_all()
    }));
    let mut msg = match r {
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            format!("PANIC: {m}")
        }
        Ok(Err(e)) => format!("error: {e}"),
        Ok(Ok(sc)) if sc == good => "no error, data intact".to_string(),
        Ok(Ok(sc)) => format!(
            "NO ERROR, data differs: {} of {} rows, digest {}",
            sc.rows,
            good.rows,
            if sc.digest == good.digest {
                "same"
            } else {
                "differs"
            }
        ),
    };
    msg = msg.replace(['\n', '|'], " ");
    if msg.len() > 110 {
        let mut cut = 110;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    msg
}

fn copy_dir(from: &Path, to: &Path) -> Res<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        let q = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &q)?;
        } else {
            std::fs::copy(&p, &q)?;
        }
    }
    Ok(())
}

/// Garbles `spots` runs of the largest file `pick` selects, in a copy of the
/// store `d`, and reports what a plain and a verified open + scan do.
fn corrupt_one(
    kind: Kind,
    d: &Path,
    what: &str,
    pick: &dyn Fn(&Path) -> bool,
    spots: u64,
    good: Scan,
) -> Res<Vec<String>> {
    let damaged = d.with_extension("damaged");
    remove_dir(&damaged)?;
    copy_dir(d, &damaged)?;
    let mut files = Vec::new();
    files_by_size(&damaged, pick, &mut files);
    let Some((_, file)) = files.first() else {
        remove_dir(&damaged)?;
        return Ok(vec![
            kind.name().into(),
            what.into(),
            "0".into(),
            "no such file".into(),
            "-".into(),
        ]);
    };
    let name = file
        .strip_prefix(&damaged)
        .unwrap_or(file)
        .display()
        .to_string();
    let hit = corrupt_file(file, spots)?;
    // Two copies: a repairing open may rewrite the file.
    let damaged2 = d.with_extension("damaged2");
    remove_dir(&damaged2)?;
    copy_dir(&damaged, &damaged2)?;
    let plain = damaged_outcome(kind, &damaged, false, good);
    let verified = match kind {
        Kind::Redb | Kind::RedbQuickRepair | Kind::Sqlite => {
            damaged_outcome(kind, &damaged2, true, good)
        }
        _ => "n/a".into(),
    };
    remove_dir(&damaged)?;
    remove_dir(&damaged2)?;
    println!(
        "case=corrupt store={} file={name:?} spots={hit} plain={plain:?} verified={verified:?}",
        kind.name()
    );
    Ok(vec![
        kind.name().into(),
        format!("{what} ({name})"),
        hit.to_string(),
        plain,
        verified,
    ])
}

fn case_corrupt(cfg: &Cfg) -> Res<Table> {
    let mut t = Table::new(
        &format!(
            "7. Corruption: {} rows, cleanly closed; 1 or 16 runs of 64 written bytes garbled in one file; open + full scan",
            cfg.rows
        ),
        &["store", "file garbled", "spots", "plain open + scan", "verified open + scan"],
    );
    // The default panic hook would print each caught panic's message and
    // backtrace note; the outcome column says it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let res = (|| -> Res<()> {
        for kind in kinds(cfg) {
            let d = fresh_dir(cfg, "corrupt", kind)?;
            let mut s = store::open(kind, &d, false)?;
            let mut rng = 17;
            load(&mut *s, 0, cfg.rows, cfg.batch, &mut rng)?;
            let good = s.scan_all()?;
            drop(s);
            let targets: Vec<(&str, FilePick)> = match kind {
                Kind::Fjall | Kind::FjallSyncData => vec![
                    ("largest table file", |p: &Path| {
                        p.parent().is_some_and(|q| q.ends_with("tables"))
                    }),
                    ("largest journal (.jnl)", |p: &Path| {
                        p.extension().is_some_and(|e| e == "jnl")
                    }),
                ],
                _ => vec![("the database file", |p: &Path| {
                    p.extension().is_some_and(|e| e == "redb" || e == "sqlite")
                })],
            };
            for (what, pick) in &targets {
                for spots in [1u64, 16] {
                    let row = corrupt_one(kind, &d, what, pick, spots, good)?;
                    t.rows.push(row);
                }
            }
            remove_dir(&d)?;
        }
        Ok(())
    })();
    std::panic::set_hook(hook);
    res?;
    Ok(t)
}
