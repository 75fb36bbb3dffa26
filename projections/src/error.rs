//! [`ProjectionError`]: everything that can go wrong while building or reading views.

use paylog_core::codec::CodecError;
use paylog_store::StoreError;

/// The one error type of the projections crate.
///
/// The HTTP layer maps [`ProjectionError::InvalidCursor`] and
/// [`ProjectionError::InvalidArgument`] to 400 (the caller's mistake); everything else
/// is an operational failure (500) whose details belong in logs, not in responses.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A pagination cursor that this crate did not hand out (or that was tampered with).
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),

    /// A query argument out of range (e.g. a date range that is too long).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An event of the log could not be decoded into a domain event.
    #[error(
        "event at position {position} ({event_type} v{schema_version}) does not decode: {source}"
    )]
    Decode {
        position: u64,
        event_type: String,
        schema_version: u16,
        #[source]
        source: CodecError,
    },

    /// The log handed the projector a batch that does not continue its checkpoint:
    /// applying it would skip or repeat events, so nothing is applied.
    #[error("log out of sequence: expected position {expected}, got {got}")]
    OutOfSequence { expected: u64, got: u64 },

    /// Stored view bytes could not be decoded, or the directory is not a views database.
    #[error("views are corrupt: {0}")]
    Corrupt(String),

    /// The event log failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),

    /// RocksDB (the views database) failed.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),

    /// A blocking task could not be joined (it panicked or the runtime is shutting down).
    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;
