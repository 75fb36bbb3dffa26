//! paylog's event log: an append-only store of opaque event envelopes on RocksDB.
//!
//! The store knows nothing of orders, users or WeChat. It keeps envelopes
//! (`RecordedEvent`) whose payload is an opaque byte string, and guarantees:
//!
//! - every event gets a **global position**: gapless, strictly increasing, starting at 1;
//! - every event gets a **stream version**: contiguous per stream, starting at 1;
//! - an append to several streams is **atomic**, each stream checked against its
//!   [`ExpectedVersion`]; on any mismatch nothing is appended;
//! - an append carrying a `command_id` that already committed appends nothing and
//!   returns the original [`AppendOutcome`] (with `duplicate = true`);
//! - an append returns only once it is **durable** (WAL fsynced) unless the store was
//!   opened with [`Durability::Buffered`]; concurrent appends are group-committed.
//!
//! Map of the crate:
//! - [`types`]: the envelope and request/response types, and [`ExpectedVersion`];
//! - [`EventStore`]: the trait every backend implements (RocksDB today, a replicated one later);
//! - [`rocks`]: the RocksDB backend, [`RocksStore`];
//! - [`error`]: [`StoreError`].

pub mod error;
pub mod rocks;
pub mod types;

pub use error::StoreError;
pub use rocks::{Durability, RocksStore, StoreOptions};
pub use types::*;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// The whole API of an event log. Small on purpose, so that a replicated
/// backend can implement it later without the rest of paylog noticing.
///
/// Positions and versions are 1-based; `0` means "before the first event".
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically to one or more streams. Returns once durable.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// Events of one stream with `stream_version >= from_version`, at most `limit`, in order.
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events of the whole log with `position > after`, at most `limit`, in order.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The current version of a stream (`0` if it does not exist).
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError>;

    /// The position of the last durable event (`0` for an empty log).
    fn head(&self) -> u64;

    /// Every event with `position > after`: first the ones already in the log (read in
    /// bounded batches), then new ones as they are appended. Never ends on its own.
    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;
}
