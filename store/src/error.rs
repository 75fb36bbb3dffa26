//! [`StoreError`]: everything that can go wrong in the event log.

use crate::types::ExpectedVersion;

/// The one error type of the store. Callers match on [`StoreError::Conflict`] to
/// retry a command (reload the aggregates, decide again); everything else is
/// either the caller's mistake ([`StoreError::InvalidRequest`]) or an operational
/// failure that retrying the same command will not fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A stream was not at the version the append expected. Nothing was appended.
    #[error("stream {stream_id:?} is at version {actual}, the append expected {expected:?}")]
    Conflict {
        stream_id: String,
        expected: ExpectedVersion,
        actual: u64,
    },

    /// The request is malformed (empty, empty or invalid stream id, a stream twice, …).
    /// Nothing was appended.
    #[error("invalid append request: {0}")]
    InvalidRequest(String),

    /// Stored bytes could not be decoded, or the layout is not the one this code
    /// understands. The store must not be written to until someone looks at it.
    #[error("event store is corrupt: {0}")]
    Corrupt(String),

    /// The store was closed (or its writer thread is gone); the append may or may not
    /// have been committed if it was already queued — retry with the same command id
    /// after reopening, idempotency makes that safe.
    #[error("event store is closed")]
    Closed,

    /// The storage engine underneath (RocksDB, the NATS cluster) reported an error or
    /// did not answer in time. For an append, the outcome is unknown (the batch may have
    /// reached the log); retrying with the same command id is safe, idempotency returns
    /// the original outcome if it had committed.
    #[error("{backend}: {source}")]
    Backend {
        /// Which backend failed, e.g. `"rocksdb"` or `"nats"`.
        backend: &'static str,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// An operating-system error outside the storage engine (e.g. spawning a thread).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// A [`StoreError::Backend`] from any error of the named backend.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        StoreError::Backend {
            backend,
            source: source.into(),
        }
    }

    /// True for an expected-version conflict: the one error a command pipeline retries.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
