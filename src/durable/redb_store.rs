//! The [`Store`] on redb: one file, `queue.redb`, beside a marker file
//! naming the format (docs/BENCHMARKS.md, "Embedded stores for the durable
//! queue", says why redb).
//!
//! redb gives atomic multi-table commits, a two-phase-free crash-safe
//! commit with checksums (a torn last commit is rolled back at open),
//! page reuse, and `compact` to give freed pages back.

use super::codec::FORMAT_VERSION;
use super::store::{Changes, DurabilityError, DurabilityErrorKind, RowVisitor, Store, Table};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::fs;
use std::path::Path;

/// The store's file in the queue's directory.
pub(crate) const STORE_FILE: &str = "queue.redb";
/// The marker file: says the directory holds a queue, and its format.
pub(crate) const MARKER_FILE: &str = "DAGQUEUE";

fn definition(table: Table) -> TableDefinition<'static, u64, &'static [u8]> {
    TableDefinition::new(table.name())
}

/// A redb error, as a [`DurabilityError`]: corruption as `Corrupt`, the
/// rest as `Io`.
fn failed(doing: &str, error: impl Into<redb::Error>) -> DurabilityError {
    let error: redb::Error = error.into();
    let kind = match &error {
        redb::Error::Corrupted(_) => DurabilityErrorKind::Corrupt,
        _ => DurabilityErrorKind::Io,
    };
    DurabilityError::new(kind, format!("{doing}: {error}"))
}

/// The redb store of one queue directory.
pub(crate) struct RedbStore {
    db: redb::Database,
    /// A commit since the last synced one was not synced.
    unsynced: bool,
    marker: Marker,
}

impl RedbStore {
    /// Opens the store in `dir` (creating the directory and the file if
    /// missing). Refuses a directory whose marker names a store file that
    /// is gone, and one that holds other files but no queue. Every page's
    /// checksum is verified (redb's integrity check on open: a file altered
    /// outside redb is an error, where a plain open may panic).
    pub(crate) fn open(dir: &Path) -> Result<RedbStore, DurabilityError> {
        fs::create_dir_all(dir)
            .map_err(|error| DurabilityError::io(&format!("creating {}", dir.display()), error))?;
        let file = dir.join(STORE_FILE);
        let marker = dir.join(MARKER_FILE);
        let marked = marker.exists();
        if marked {
            check_marker(&marker)?;
            if !file.exists() {
                return Err(missing(&file));
            }
        } else if !file.exists() {
            let foreign = fs::read_dir(dir)
                .map_err(|error| DurabilityError::io(&format!("reading {}", dir.display()), error))?
                .next()
                .is_some();
            if foreign {
                return Err(DurabilityError::new(
                    DurabilityErrorKind::Missing,
                    format!("{} holds other files and no queue", dir.display()),
                ));
            }
        }
        let db = redb::Database::builder()
            .set_check_integrity_on_open(true)
            .create(&file)
            .map_err(|error| failed(&format!("opening {}", file.display()), error))?;
        let store = RedbStore {
            db,
            unsynced: false,
            marker: if marked {
                Marker::Present
            } else {
                Marker::Absent(marker)
            },
        };
        // Every table exists from the first open on, so reads find them.
        let tx = store
            .db
            .begin_write()
            .map_err(|error| failed("creating the tables", error))?;
        for table in Table::ALL {
            tx.open_table(definition(table))
                .map_err(|error| failed("creating the tables", error))?;
        }
        tx.commit()
            .map_err(|error| failed("creating the tables", error))?;
        Ok(store)
    }
}

/// Whether the directory's marker file exists (else where to write it).
enum Marker {
    Present,
    Absent(std::path::PathBuf),
}

fn missing(path: &Path) -> DurabilityError {
    DurabilityError::new(
        DurabilityErrorKind::Missing,
        format!("{} is missing", path.display()),
    )
}

/// The marker names a format this build reads.
fn check_marker(marker: &Path) -> Result<(), DurabilityError> {
    let text = fs::read_to_string(marker)
        .map_err(|error| DurabilityError::io(&format!("reading {}", marker.display()), error))?;
    let version = text
        .trim()
        .strip_prefix("dagqueue store, format ")
        .and_then(|version| version.parse::<u64>().ok())
        .ok_or_else(|| {
            DurabilityError::new(
                DurabilityErrorKind::Corrupt,
                format!("{}: not a dagqueue marker", marker.display()),
            )
        })?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(DurabilityError::new(
            DurabilityErrorKind::NewerFormat,
            format!(
                "{}: format {version}; this build reads up to {FORMAT_VERSION}",
                marker.display()
            ),
        ));
    }
    Ok(())
}

/// Syncs a directory, so that a file just created in it survives a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl Store for RedbStore {
    fn is_marked(&self) -> bool {
        matches!(self.marker, Marker::Present)
    }

    fn mark(&mut self) -> Result<(), DurabilityError> {
        if let Marker::Absent(path) = &self.marker {
            let text = format!("dagqueue store, format {FORMAT_VERSION}\n");
            let dir = path.parent().unwrap_or(Path::new("."));
            fs::write(path, text)
                .and_then(|()| fs::File::open(path)?.sync_all())
                .and_then(|()| sync_dir(dir))
                .map_err(|error| {
                    DurabilityError::io(&format!("writing {}", path.display()), error)
                })?;
            self.marker = Marker::Present;
        }
        Ok(())
    }

    fn commit(&mut self, changes: Changes, sync: bool) -> Result<(), DurabilityError> {
        let mut tx = self
            .db
            .begin_write()
            .map_err(|error| failed("beginning a commit", error))?;
        let durability = if sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        tx.set_durability(durability)
            .map_err(|error| failed("setting durability", error))?;
        {
            let mut tables = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                tables.push(
                    tx.open_table(definition(table))
                        .map_err(|error| failed("opening a table", error))?,
                );
            }
            for (table, key, value) in &changes.rows {
                let at = Table::ALL
                    .iter()
                    .position(|t| t == table)
                    .expect("every table is opened");
                let written = match value {
                    Some(value) => tables[at].insert(*key, value.as_slice()).map(drop),
                    None => tables[at].remove(*key).map(drop),
                };
                written.map_err(|error| failed("writing a row", error))?;
            }
        }
        tx.commit().map_err(|error| failed("committing", error))?;
        self.unsynced = !sync;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), DurabilityError> {
        if self.unsynced {
            // An empty synced commit makes the unsynced ones before it durable.
            self.commit(Changes::default(), true)?;
        }
        Ok(())
    }

    fn scan(&self, table: Table, each: &mut RowVisitor<'_>) -> Result<(), DurabilityError> {
        let tx = self
            .db
            .begin_read()
            .map_err(|error| failed("beginning a read", error))?;
        let rows = tx
            .open_table(definition(table))
            .map_err(|error| failed("opening a table", error))?;
        for row in rows
            .iter()
            .map_err(|error| failed("reading a table", error))?
        {
            let (key, value) = row.map_err(|error| failed("reading a row", error))?;
            each(key.value(), value.value())?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), DurabilityError> {
        self.sync()?;
        // Each call moves pages towards the front; it says whether it did.
        for _ in 0..32 {
            if !self
                .db
                .compact()
                .map_err(|error| failed("compacting", error))?
            {
                break;
            }
        }
        Ok(())
    }
}
