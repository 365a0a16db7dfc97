//! The one store abstraction the cases drive, and its implementations:
//! redb, fjall and SQLite (rusqlite, bundled, WAL mode), each on its own
//! directory. Written from each crate's documentation (docs.rs).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One journal write: a job row put (created or updated) or deleted (pruned).
#[derive(Clone, Debug)]
pub enum Op {
    Put(u64, Vec<u8>),
    Delete(u64),
}

pub trait Store: Send {
    /// Applies the batch in one atomic write transaction; with `durable`, the
    /// commit is on disk (fsync'd) when this returns.
    fn apply(&mut self, batch: &[Op], durable: bool) -> Res<()>;
    /// Makes every commit so far durable (the periodic sync of the relaxed mode).
    fn sync(&mut self) -> Res<()>;
    /// Reads every row.
    fn scan_all(&mut self) -> Res<Scan>;
    /// The store's own way of giving back the space of deleted rows; returns
    /// what it did, in words.
    fn compact(&mut self) -> Res<String>;
    /// The directory holding every file of the store.
    fn dir(&self) -> &Path;
    /// The bytes of every file of the store (apparent length, allocated).
    fn disk_bytes(&self) -> (u64, u64) {
        dir_bytes(self.dir())
    }
}

/// What a full scan saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub rows: u64,
    /// The sum of the value lengths.
    pub bytes: u64,
    /// An order-independent digest of every (key, value), to tell a scan that
    /// silently returned altered data from one that returned the data written.
    pub digest: u64,
}

impl Scan {
    fn add(&mut self, key: u64, v: &[u8]) {
        self.rows += 1;
        self.bytes += v.len() as u64;
        let mut h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for c in v.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w))
                .wrapping_mul(0x0000_0100_0000_01B3)
                .rotate_left(29);
        }
        self.digest = self.digest.wrapping_add(h);
    }
}

/// The stores (and the two configuration variants worth measuring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// redb, default settings: 1-phase commit + checksums, one fdatasync a
    /// durable commit; after a crash the allocator state is rebuilt on open.
    Redb,
    /// redb with `set_quick_repair(true)` on every write transaction: the
    /// allocator state is saved with each commit (and 2-phase commit), so
    /// recovery after a crash is quick, at a cost to every commit.
    RedbQuickRepair,
    /// fjall, durable = `PersistMode::SyncAll` (fsync).
    Fjall,
    /// fjall, durable = `PersistMode::SyncData` (fdatasync, what redb and
    /// SQLite use on Linux).
    FjallSyncData,
    /// SQLite, WAL mode, `synchronous=FULL` for durable commits.
    Sqlite,
}

impl Kind {
    pub const DEFAULT: [Kind; 3] = [Kind::Redb, Kind::Fjall, Kind::Sqlite];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Redb => "redb",
            Kind::RedbQuickRepair => "redb-qr",
            Kind::Fjall => "fjall",
            Kind::FjallSyncData => "fjall-data",
            Kind::Sqlite => "sqlite",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Redb,
            Kind::RedbQuickRepair,
            Kind::Fjall,
            Kind::FjallSyncData,
            Kind::Sqlite,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Opens (creating if absent) the store of `kind` in `dir`. With `verify`, the
/// open checks the whole file where the store offers that (redb:
/// `set_check_integrity_on_open`; SQLite: `PRAGMA quick_check`); fjall has no
/// such switch (its blocks' checksums are checked on every read).
pub fn open(kind: Kind, dir: &Path, verify: bool) -> Res<Box<dyn Store>> {
    fs::create_dir_all(dir)?;
    Ok(match kind {
        Kind::Redb | Kind::RedbQuickRepair => {
            Box::new(RedbStore::open(dir, kind == Kind::RedbQuickRepair, verify)?)
        }
        Kind::Fjall => Box::new(FjallStore::open(dir, fjall::PersistMode::SyncAll)?),
        Kind::FjallSyncData => Box::new(FjallStore::open(dir, fjall::PersistMode::SyncData)?),
        Kind::Sqlite => Box::new(SqliteStore::open(dir, verify)?),
    })
}

/// (apparent length, allocated bytes) of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    let mut len = 0;
    let mut alloc = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return (0, 0);
    };
    for e in entries.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            let (l, a) = dir_bytes(&e.path());
            len += l;
            alloc += a;
        } else {
            len += md.len();
            alloc += md.blocks() * 512;
        }
    }
    (len, alloc)
}

// ---------------------------------------------------------------- redb

const REDB_JOBS: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("jobs");

pub struct RedbStore {
    db: redb::Database,
    dir: PathBuf,
    quick_repair: bool,
    /// A non-durable commit has been made since the last durable one.
    dirty: bool,
}

impl RedbStore {
    fn open(dir: &Path, quick_repair: bool, verify: bool) -> Res<Self> {
        let mut builder = redb::Database::builder();
        builder.set_check_integrity_on_open(verify);
        let db = builder.create(dir.join("jobs.redb"))?;
        let mut s = RedbStore {
            db,
            dir: dir.to_path_buf(),
            quick_repair,
            dirty: false,
        };
        // Create the table, so that a read of an empty store finds it.
        let mut tx = s.db.begin_write()?;
        tx.set_quick_repair(s.quick_repair);
        tx.open_table(REDB_JOBS)?;
        tx.commit()?;
        s.dirty = false;
        Ok(s)
    }
}

impl Store for RedbStore {
    fn apply(&mut self, batch: &[Op], durable: bool) -> Res<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(if durable {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        })?;
        tx.set_quick_repair(self.quick_repair);
        {
            let mut t = tx.open_table(REDB_JOBS)?;
            for op in batch {
                match op {
                    Op::Put(id, v) => {
                        t.insert(*id, v.as_slice())?;
                    }
                    Op::Delete(id) => {
                        t.remove(*id)?;
                    }
                }
            }
        }
        tx.commit()?;
        self.dirty = !durable;
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        if self.dirty {
            // An (empty) Immediate commit makes the earlier None commits durable.
            let mut tx = self.db.begin_write()?;
            tx.set_durability(redb::Durability::Immediate)?;
            tx.set_quick_repair(self.quick_repair);
            tx.commit()?;
            self.dirty = false;
        }
        Ok(())
    }

    fn scan_all(&mut self) -> Res<Scan> {
        use redb::{ReadableDatabase, ReadableTable};
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(REDB_JOBS)?;
        let mut scan = Scan::default();
        for e in t.iter()? {
            let (k, v) = e?;
            scan.add(k.value(), v.value());
        }
        Ok(scan)
    }

    fn compact(&mut self) -> Res<String> {
        self.sync()?;
        let mut rounds = 0;
        while rounds < 32 && self.db.compact()? {
            rounds += 1;
        }
        Ok(format!("Database::compact() returned true {rounds}x"))
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

// ---------------------------------------------------------------- fjall

pub struct FjallStore {
    db: fjall::Database,
    ks: fjall::Keyspace,
    dir: PathBuf,
    mode: fjall::PersistMode,
}

impl FjallStore {
    fn open(dir: &Path, mode: fjall::PersistMode) -> Res<Self> {
        let db = fjall::Database::builder(dir).open()?;
        let ks = db.keyspace("jobs", fjall::KeyspaceCreateOptions::default)?;
        Ok(FjallStore {
            db,
            ks,
            dir: dir.to_path_buf(),
            mode,
        })
    }
}

impl Store for FjallStore {
    fn apply(&mut self, batch: &[Op], durable: bool) -> Res<()> {
        let mut b = self.db.batch();
        for op in batch {
            match op {
                Op::Put(id, v) => b.insert(&self.ks, id.to_be_bytes(), v.as_slice()),
                Op::Delete(id) => b.remove(&self.ks, id.to_be_bytes()),
            }
        }
        // Without a persist mode the batch is written to the journal and
        // flushed to the OS (survives kill -9, not power loss).
        if durable {
            b = b.durability(Some(self.mode));
        }
        b.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        self.db.persist(self.mode)?;
        Ok(())
    }

    fn scan_all(&mut self) -> Res<Scan> {
        let mut scan = Scan::default();
        for g in self.ks.iter() {
            let (k, v) = g.into_inner()?;
            let k: [u8; 8] = (*k).try_into()?;
            scan.add(u64::from_be_bytes(k), &v);
        }
        Ok(scan)
    }

    fn compact(&mut self) -> Res<String> {
        // fjall compacts in the background on its own; it documents no public
        // call to force it. These two are `pub` but `#[doc(hidden)]`:
        // flush the memtable to a table, then a blocking major compaction.
        self.db.persist(self.mode)?;
        self.ks.rotate_memtable_and_wait()?;
        self.ks.major_compact()?;
        Ok("Keyspace::rotate_memtable_and_wait + major_compact (doc-hidden)".into())
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

// ---------------------------------------------------------------- SQLite

pub struct SqliteStore {
    conn: rusqlite::Connection,
    dir: PathBuf,
    /// The connection's current `synchronous` setting is FULL.
    sync_full: bool,
}

impl SqliteStore {
    fn open(dir: &Path, verify: bool) -> Res<Self> {
        let conn = rusqlite::Connection::open(dir.join("jobs.sqlite"))?;
        // auto_vacuum must be chosen before the first table is created.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal_mode is {mode}, not wal").into());
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, rec BLOB NOT NULL)",
        )?;
        if verify {
            let r: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            if r != "ok" {
                return Err(format!("quick_check: {r}").into());
            }
        }
        Ok(SqliteStore {
            conn,
            dir: dir.to_path_buf(),
            sync_full: true,
        })
    }
}

fn sql_id(id: u64) -> Res<i64> {
    Ok(i64::try_from(id)?)
}

impl Store for SqliteStore {
    fn apply(&mut self, batch: &[Op], durable: bool) -> Res<()> {
        if durable != self.sync_full {
            // In WAL mode, FULL fsyncs the WAL at every commit; NORMAL only at
            // checkpoints (consistent, but the last commits may be lost on
            // power loss; none on an application crash).
            let v = if durable { "FULL" } else { "NORMAL" };
            self.conn.pragma_update(None, "synchronous", v)?;
            self.sync_full = durable;
        }
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO jobs(id, rec) VALUES (?1, ?2) \
                 ON CONFLICT(id) DO UPDATE SET rec = excluded.rec",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM jobs WHERE id = ?1")?;
            for op in batch {
                match op {
                    Op::Put(id, v) => {
                        put.execute(rusqlite::params![sql_id(*id)?, v.as_slice()])?;
                    }
                    Op::Delete(id) => {
                        del.execute([sql_id(*id)?])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        // The documented way to make NORMAL-mode WAL commits durable: a
        // checkpoint syncs the WAL before copying it into the database.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn scan_all(&mut self) -> Res<Scan> {
        let mut st = self.conn.prepare_cached("SELECT id, rec FROM jobs")?;
        let mut rows = st.query([])?;
        let mut scan = Scan::default();
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            scan.add(u64::try_from(id)?, r.get_ref(1)?.as_blob()?);
        }
        Ok(scan)
    }

    fn compact(&mut self) -> Res<String> {
        // Gives the free pages back (auto_vacuum=INCREMENTAL), then copies the
        // WAL into the database and truncates it.
        // Step it to the end: it frees pages while it is stepped (rusqlite's
        // `execute_batch` steps a statement once, which frees next to nothing).
        let mut freed = 0u64;
        {
            let mut st = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {
                freed += 1;
            }
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(format!(
            "PRAGMA incremental_vacuum ({freed} steps) + wal_checkpoint(TRUNCATE)"
        ))
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}
