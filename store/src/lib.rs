//! paylog's event log: an append-only store of opaque event envelopes, on RocksDB
//! ([`RocksStore`], one machine) or on a replicated NATS JetStream cluster ([`NatsStore`]).
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
//! - an append returns only once it is **durable**: on RocksDB the WAL is fsynced (unless
//!   the store was opened with [`Durability::Buffered`]); on NATS a quorum of the stream's
//!   replicas (2 of 3) has the batch. Concurrent appends are group-committed.
//!
//! Map of the crate:
//! - [`types`]: the envelope and request/response types, and [`ExpectedVersion`];
//! - [`EventStore`]: the trait every backend implements;
//! - [`open()`] / [`open_read_only`]: either backend from a [`StoreLocation`] (`nats://…` or
//!   a directory), as an `Arc<dyn EventStore>`;
//! - [`rocks`]: the RocksDB backend, [`RocksStore`] (writer, reads, subscriptions, codec);
//! - [`nats`]: the NATS JetStream backend, [`NatsStore`]; its module docs give its
//!   layout (subjects, headers, stream config), why positions live in a header, and its
//!   durability and limits;
//! - [`error`]: the one error type, [`StoreError`]; nothing of a backend shows in it
//!   (a backend's failure is [`StoreError::Backend`]);
//! - `validate`: [`AppendRequest::validate`], the shape checks every backend shares;
//! - `follow`: the catch-up-then-follow loop behind both backends' `subscribe` (each
//!   backend only reads pages);
//! - `import_order`: the order checks both importers make on a log arriving whole.
//!
//! # Invariants
//!
//! - Positions are gapless and strictly increasing from 1; stream versions contiguous from 1.
//! - [`EventStore::head`] advances, and subscribers wake, only after the batch holding the
//!   events is durable (see [`Durability`]). Reads never return an event past the head, so
//!   no reader (projection, API) ever acts on an event a crash could still take back.
//! - `recorded_at` is non-decreasing along the log (the writer never lets it go back,
//!   even if the wall clock does), so "the state as of instant T" is a prefix of the log.
//!   All events of one batch share one `recorded_at`.
//! - An append that fails (conflict, invalid request) writes nothing, not even its command
//!   id: fixing and retrying the same command is allowed.
//! - If [`EventStore::append`] returns an error other than `Conflict`/`InvalidRequest`
//!   (`Backend`, `Closed`), the append may or may not have committed; retrying with
//!   the same `command_id` is always safe and returns the original outcome if it had.
//!   Dropping an append's future does not cancel it once queued.
//!
//! # Backends
//!
//! | | [`RocksStore`] | [`NatsStore`] |
//! |---|---|---|
//! | where | one directory, one process (locked) | one JetStream stream, any number of processes |
//! | survives | a process crash; power loss under [`Durability::Sync`] | the loss of any one of three machines |
//! | acknowledged when | the WAL is fsynced | the Raft group has the batch from a quorum (JetStream fsyncs every `sync_interval`) |
//! | positions | the `events` key | a header, kept gapless by `Nats-Expected-Last-Sequence` |
//! | idempotency | `commands` column family | one marker per command, `Nats-Expected-Last-Subject-Sequence: 0` |
//! | read-only open | RocksDB read-only instance beside the writer | a client that never appends; head fixed at open |
//! | limits | [`MAX_EVENTS_PER_REQUEST`] events per request | also at most 999 events per request (the server's batch limit) |
//!
//! The rest of this page describes the RocksDB backend; [`nats`] describes the other.
//!
//! # Write path (RocksDB): one writer, group commit
//!
//! [`RocksStore`] has one dedicated writer thread that owns every write. Callers send their
//! request over a bounded channel (back-pressure when full) and await a oneshot answer. The
//! writer takes everything already queued (at most `max_batch_requests` requests /
//! `max_batch_events` events), checks each request in order against RocksDB *plus the
//! changes staged earlier in the same batch* (stream heads, command ids), stages the
//! accepted ones into one `WriteBatch`, writes it with one WAL sync, publishes the new
//! head, and only then answers every caller. A rejected request (conflict) is simply left
//! out; it does not affect the others. One writer makes gapless positions and
//! expected-version checks trivially correct; the group commit makes one fsync pay for
//! many appends. [`RocksStore::stats`] reports batches, requests and events, so the
//! mean group size is observable.
//!
//! Durability: [`Durability::Sync`] (default) fsyncs the WAL before answering.
//! [`Durability::Buffered`] writes the WAL to the OS without fsync: acknowledged appends
//! survive a crash of the process but **can be lost on power loss or a kernel crash**;
//! never use it for a shop taking real money.
//!
//! Recovery on open: the head is the last key of `events`. Nothing else needs recovering,
//! because each batch (events, index entries, heads, command records) is one atomic
//! RocksDB `WriteBatch`. Open cross-checks the last event against `heads` and `commands`
//! and refuses a directory with an unknown layout.
//!
//! # On-disk layout (RocksDB column families, layout version 1)
//!
//! All integers in keys are unsigned 64-bit **big-endian**, so RocksDB's bytewise key
//! order is numeric order: iterating `events` is iterating by position, and a stream's
//! index entries iterate by version.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `events` | position (u64 BE) | envelope: tag byte `0x01` ++ postcard(`stream_id`, `stream_version`, `event_type`, `schema_version`, `recorded_secs` i64, `recorded_nanos` u32, `command_id` `[u8; 16]`, `correlation_id` `[u8; 16]`, `causation_id` `Option<[u8; 16]>`, `payload` bytes) |
//! | `streams` | stream id (UTF-8) ++ `0x00` ++ version (u64 BE) | position (u64 BE) |
//! | `heads` | stream id (UTF-8) | current version (u64 BE) |
//! | `commands` | command id (the UUID's 16 bytes) | tag byte `0x01` ++ postcard(`first_position`, `last_position`, `recorded_secs`, `recorded_nanos`, [(stream id, version)]) |
//! | `meta` | `layout` | layout version, one byte (`0x01`) |
//! | `default` | — | unused (RocksDB requires it) |
//!
//! - The envelope's position is its key and is not repeated in the value.
//! - Stream ids are 1..=256 bytes and may not contain `0x00`: the NUL separator keeps
//!   each stream's index keys contiguous, and since `0x00` sorts below every byte an id can
//!   continue with, stream `a`'s keys never interleave with stream `ab`'s.
//! - `heads` holds one small key per stream. The writer keeps the heads of the last
//!   streams it wrote in a bounded LRU (`HEAD_CACHE_STREAMS`; exact, as it is the only
//!   writer) and looks the others up (bloom-filtered, block-cached) in one batched
//!   `MultiGet` per group: memory does not grow with the log.
//! - `commands` keeps every committed command id for idempotency (one small record per
//!   append; bloom-filtered because most lookups are for new ids; looked up for a whole
//!   group in one batched `MultiGet`).
//! - Value tag bytes let a future layout be read side by side with this one.

pub mod error;
mod follow;
mod import_order;
pub mod nats;
mod open;
pub mod rocks;
mod stats;
pub mod types;
mod validate;

pub use error::StoreError;
pub use nats::{NatsImporter, NatsOptions, NatsStore};
pub use open::{StoreLocation, open, open_read_only};
pub use rocks::{Durability, RocksStore, StoreOptions};
pub use stats::StoreStats;
pub use types::*;
pub use validate::{MAX_EVENT_TYPE_LEN, MAX_EVENTS_PER_REQUEST, MAX_STREAM_ID_LEN};

use async_trait::async_trait;
use futures::stream::BoxStream;

/// The whole API of an event log. Small on purpose, so that a replicated
/// backend can implement it later without the rest of paylog noticing.
///
/// Positions and versions are 1-based; `0` means "before the first event".
#[async_trait]
pub trait EventStore: std::fmt::Debug + Send + Sync + 'static {
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

    /// The outcome of `command_id` if it committed (`duplicate = true`, as a repeat of
    /// it would be answered), `None` if it never did. Lets a re-sent command get its
    /// original result before anything is decided again.
    async fn committed(&self, command_id: uuid::Uuid) -> Result<Option<AppendOutcome>, StoreError>;

    /// The position of the last durable event (`0` for an empty log).
    fn head(&self) -> u64;

    /// Every event with `position > after`: first the ones already in the log (read in
    /// bounded batches), then new ones as they are appended. Never ends on its own.
    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;

    /// Stops accepting appends and waits for the appends in hand to be answered. Reads
    /// keep working until the store is dropped; subscriptions end with
    /// [`StoreError::Closed`] once caught up. Idempotent.
    async fn close(&self);

    /// Counters since the store was opened.
    fn stats(&self) -> StoreStats;

    /// Whether appends can succeed now, as far as this process knows (for readiness
    /// checks): open, writable, and its writer running.
    fn is_writable(&self) -> bool;
}
