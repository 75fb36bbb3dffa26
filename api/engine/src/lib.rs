//! The command pipeline: load the aggregates a command needs, decide in
//! `paylog_core`, append with the loaded versions as expectations, retry on conflict.
//!
//! Why a crate of its own: core must stay pure (no I/O) and store must not know what
//! an order is, so the piece that joins them lives here, independent of HTTP. The
//! application (HTTP and CLI), the projections' tests, the benchmark and the tests
//! all drive the same [`Engine`].
//!
//! - `load.rs`: reading and folding streams, with a bounded cache of folded states
//!   so that a hot product (one `StockReserved` per order) is not refolded from
//!   version 1 on every command: only the events after the cached version are read;
//! - `run.rs`: the decide → append → retry loop shared by every command;
//! - `commands/`: one file per command.
//!
//! Concurrency control is optimistic: every stream a decision touches is appended
//! with `ExpectedVersion::Exact(v)` (or `NoStream`) for the version it was decided
//! on. Two commands that raced on the same stream cannot both commit; the loser
//! reloads and decides again, up to [`MAX_ATTEMPTS`] times.

mod clock;
/// The 3-node NATS test cluster of the store's contract suite, included, not copied.
#[cfg(test)]
#[path = "../../../store/tests/store/cluster.rs"]
#[allow(dead_code, clippy::expect_used)]
mod cluster;
mod commands;
mod error;
mod key;
mod load;
mod run;
mod stream_id;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use paylog_store::EventStore;
use uuid::Uuid;

pub use clock::{Clock, SystemClock};
pub use error::EngineError;
pub use key::CommandKey;
pub use load::Loaded;
pub use run::encode_events;
pub use stream_id::StreamId;

/// How many times a command is decided again after losing a version race.
pub const MAX_ATTEMPTS: u32 = 8;

/// The identity and time of a command, supplied by whoever issues it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandMeta {
    /// Idempotency key: a command id that already committed appends nothing again.
    pub command_id: Uuid,
    /// Ties together everything one request (or one notify) caused.
    pub correlation_id: Uuid,
    /// The event or command that caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// When the command was issued; the events record it.
    pub at: DateTime<Utc>,
}

impl CommandMeta {
    /// A fresh command at the current time, with a new id that is also its correlation id.
    pub fn now() -> Self {
        let id = Uuid::now_v7();
        Self {
            command_id: id,
            correlation_id: id,
            causation_id: None,
            at: Utc::now(),
        }
    }

    /// The same command with a given idempotency key.
    pub fn with_command_id(mut self, command_id: Uuid) -> Self {
        self.command_id = command_id;
        self
    }

    /// The same command, part of a given correlation (e.g. an HTTP request id).
    pub fn with_correlation_id(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// The same command at another instant (tests, replays of external facts).
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }
}

/// What a command did to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The log position a reader must reach to see this command's effect: the last
    /// appended position, or for a command that appended nothing, the head at the
    /// time it decided (its effect, if any, was already there).
    pub position: u64,
    /// How many events this call appended (0 for a no-op or a duplicate).
    pub appended: usize,
    /// The command id had already committed; nothing was appended this time.
    pub duplicate: bool,
    /// The command's name (`PlaceOrder`, `ConfirmPayment`…), from its type: what
    /// metrics count it under.
    pub command: &'static str,
}

/// The command pipeline. Cheap to clone; share one per store.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn EventStore>,
    cache: Arc<load::StateCache>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("head", &self.store.head())
            .finish()
    }
}

impl Engine {
    /// An engine over `store`, caching up to `load::DEFAULT_CACHE_STREAMS` folded streams.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self::with_cache_capacity(store, load::DEFAULT_CACHE_STREAMS)
    }

    /// An engine whose state cache holds at most `streams` streams (0 disables it).
    pub fn with_cache_capacity(store: Arc<dyn EventStore>, streams: usize) -> Self {
        Self {
            store,
            cache: Arc::new(load::StateCache::new(streams)),
        }
    }

    /// The log this engine appends to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }
}
