//! What the durable queue asks of its embedded store: tables of rows keyed
//! by a `u64`, atomic multi-row commits, a sync, a scan, a compaction
//! (docs/DURABILITY.md). One adapter implements it for the store chosen by
//! measurement (docs/BENCHMARKS.md, "Embedded stores for the durable
//! queue"); the committer is its only writer.

use std::fmt;

/// The tables a durable queue keeps; every key is a `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Table {
    /// Record number → [`SpecRow`](super::codec::SpecRow).
    Specs,
    /// Record number → [`StateRow`](super::codec::StateRow).
    States,
    /// Record number → [`EdgesRow`](super::codec::EdgesRow).
    Edges,
    /// Cluster id → [`ClusterRow`](super::codec::ClusterRow).
    Clusters,
    /// [`META_VERSION`], [`META_NEXT_RECORD`] → their values.
    Meta,
}

impl Table {
    /// Every table.
    pub(crate) const ALL: [Table; 5] = [
        Table::Specs,
        Table::States,
        Table::Edges,
        Table::Clusters,
        Table::Meta,
    ];

    /// Its name in the store.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Specs => "specs",
            Table::States => "states",
            Table::Edges => "edges",
            Table::Clusters => "clusters",
            Table::Meta => "meta",
        }
    }
}

/// Meta key: the format version the store was written with.
pub(crate) const META_VERSION: u64 = 0;
/// Meta key: the next record number to draw.
pub(crate) const META_NEXT_RECORD: u64 = 1;

/// One commit's changes, applied all or none.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Each row written (`Some`) or deleted (`None`), in order.
    pub(crate) rows: Vec<(Table, u64, Option<Vec<u8>>)>,
}

impl Changes {
    pub(crate) fn put(&mut self, table: Table, key: u64, value: Vec<u8>) {
        self.rows.push((table, key, Some(value)));
    }

    pub(crate) fn delete(&mut self, table: Table, key: u64) {
        self.rows.push((table, key, None));
    }
}

/// What a scan calls with each row (key, value); an error stops the scan.
pub(crate) type RowVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), DurabilityError> + 'a;

/// The store, as the durable queue uses it.
pub(crate) trait Store: Send + 'static {
    /// Whether the directory says a store was created in it (a marker
    /// written once the new store's format version was synced): a store
    /// then found without its version has lost its contents.
    fn is_marked(&self) -> bool;

    /// Writes that marker (durably).
    fn mark(&mut self) -> Result<(), DurabilityError>;

    /// Applies `changes` in one atomic commit; durable before it returns
    /// when `sync`, else at the next sync.
    fn commit(&mut self, changes: Changes, sync: bool) -> Result<(), DurabilityError>;

    /// Makes every commit so far durable.
    fn sync(&mut self) -> Result<(), DurabilityError>;

    /// Calls `each` with every row of `table`, in key order.
    fn scan(&self, table: Table, each: &mut RowVisitor<'_>) -> Result<(), DurabilityError>;

    /// Gives the space of deleted rows back (the store's own compaction).
    fn compact(&mut self) -> Result<(), DurabilityError>;
}

/// What went wrong with a durable queue's store ([`Error::Durability`]).
///
/// [`Error::Durability`]: crate::Error::Durability
///
/// ```
/// use dagqueue::{DurabilityError, DurabilityErrorKind};
/// let error = DurabilityError {
///     kind: DurabilityErrorKind::Corrupt,
///     detail: "table states, key 7: CRC at byte 14".into(),
/// };
/// assert_eq!(error.to_string(), "corrupt store: table states, key 7: CRC at byte 14");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurabilityError {
    /// What kind of failure.
    pub kind: DurabilityErrorKind,
    /// What failed, and where (file, table, key, offset).
    pub detail: String,
}

/// The kinds of [`DurabilityError`].
///
/// ```
/// use dagqueue::DurabilityErrorKind;
/// assert_ne!(DurabilityErrorKind::Io, DurabilityErrorKind::Corrupt);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DurabilityErrorKind {
    /// Reading, writing or syncing failed. After a failed commit the queue's
    /// memory may be ahead of its disk: it refuses every further operation
    /// that must be durable; open it again to recover what was synced.
    Io,
    /// A row or file does not decode (the detail says which and where):
    /// recovery stops rather than open a smaller queue.
    Corrupt,
    /// The store was written by a newer format version than this build's.
    NewerFormat,
    /// The directory holds part of a store: a file is missing.
    Missing,
}

impl DurabilityError {
    pub(crate) fn new(kind: DurabilityErrorKind, detail: impl Into<String>) -> DurabilityError {
        DurabilityError {
            kind,
            detail: detail.into(),
        }
    }

    /// An I/O failure, with what was being done.
    pub(crate) fn io(doing: &str, error: impl fmt::Display) -> DurabilityError {
        DurabilityError::new(DurabilityErrorKind::Io, format!("{doing}: {error}"))
    }

    /// A row that does not decode.
    pub(crate) fn corrupt_row(
        table: Table,
        key: u64,
        error: &super::codec::DecodeError,
    ) -> DurabilityError {
        DurabilityError::new(
            DurabilityErrorKind::Corrupt,
            format!(
                "table {}, key {key}: {} at byte {}",
                table.name(),
                error.what,
                error.at
            ),
        )
    }
}

impl fmt::Display for DurabilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DurabilityErrorKind::Io => "store I/O failed",
            DurabilityErrorKind::Corrupt => "corrupt store",
            DurabilityErrorKind::NewerFormat => "store written by a newer format version",
            DurabilityErrorKind::Missing => "incomplete store",
        };
        write!(f, "{kind}: {}", self.detail)
    }
}

impl std::error::Error for DurabilityError {}

impl From<DurabilityError> for crate::Error {
    fn from(error: DurabilityError) -> crate::Error {
        crate::Error::Durability(error)
    }
}
