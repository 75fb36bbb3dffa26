//! The RocksDB backend: [`RocksStore`].
//!
//! - `mod.rs` (this file): opening, closing, statistics, the [`EventStore`] impl;
//! - `options.rs`: [`StoreOptions`], [`Durability`], RocksDB tuning;
//! - `writer.rs`: the single writer thread and its group commit;
//! - `read.rs`: blocking reads and recovery of the tail on open;
//! - `subscribe.rs`: catch-up-then-follow subscriptions;
//! - `tail.rs`: the last durable events in memory, for subscribers following the head;
//! - `codec.rs`: keys and values on disk.

#[cfg(test)]
mod batch_tests;
mod codec;
mod import;
#[cfg(test)]
mod layout_tests;
pub mod memory;
mod options;
mod read;
mod read_only;
mod subscribe;
mod tail;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use chrono::DateTime;
use futures::stream::BoxStream;
use rocksdb::DB;
use tokio::sync::{mpsc, oneshot, watch};

pub use crate::stats::StoreStats;
pub use import::{ImportStats, Importer};
pub use options::{Durability, StoreOptions};

/// The column family holding the log's events (key: position as u64 big-endian),
/// for tools that measure raw RocksDB against the store (`paylog bench`) without
/// spelling the store's private layout themselves.
pub const EVENTS_COLUMN_FAMILY: &str = codec::CF_EVENTS;

use crate::EventStore;
use crate::error::StoreError;
use crate::types::{AppendOutcome, AppendRequest, RecordedEvent};
use codec::{CF_META, LAYOUT_VERSION, META_LAYOUT_KEY, READABLE_LAYOUTS};
use writer::{Msg, Writer};

/// The event log on RocksDB. Open it once per directory and share it (`Arc`); every
/// method takes `&self`.
pub struct RocksStore {
    shared: Arc<Shared>,
    /// `None` only while dropping: dropping the sender is what stops the writer.
    tx: Option<mpsc::Sender<Msg>>,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// RocksDB errors become the backend-neutral [`StoreError::Backend`]: nothing of RocksDB
/// leaks into the store's API.
impl From<rocksdb::Error> for StoreError {
    fn from(error: rocksdb::Error) -> Self {
        StoreError::backend("rocksdb", error)
    }
}

/// What the store, its writer and its readers share.
pub(crate) struct Shared {
    db: DB,
    /// The last durable position, as published by the writer.
    head: watch::Receiver<u64>,
    stats: Counters,
    read_page: usize,
    /// The writer's last durable batches, so that live subscribers need not read them back.
    recent: tail::Recent,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    events: AtomicU64,
    duplicates: AtomicU64,
    conflicts: AtomicU64,
    /// Whether the last batch write failed (cleared by the next one that succeeds).
    last_write_failed: AtomicBool,
}

impl RocksStore {
    /// Opens (or creates) the store in `path` and starts its writer thread.
    /// Blocking: call it at start-up, or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let (shared, writer, tx) = prepare(path.as_ref(), &options)?;
        let handle = std::thread::Builder::new()
            .name("paylog-store-writer".into())
            .spawn(move || {
                let done = writer.run();
                // The writer (and its reference to the DB) is gone before close() returns.
                if let Some(done) = done {
                    let _ = done.send(());
                }
            })?;
        tracing::info!(head = *shared.head.borrow(), "event store opened");
        Ok(RocksStore {
            shared,
            tx: Some(tx),
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stops accepting appends, lets the writer finish the batch in hand (appends still
    /// queued get [`StoreError::Closed`]), flushes the WAL and waits for the writer to
    /// exit. Reads keep working until the store is dropped; dropping it releases the
    /// directory. Idempotent.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = oneshot::channel();
        if tx.send(Msg::Shutdown(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    /// Counters since open; `mean_batch_requests()` shows how well group commit works.
    pub fn stats(&self) -> StoreStats {
        let c = &self.shared.stats;
        StoreStats {
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
        }
    }

    /// Whether appends can succeed now: the writer runs, the store is open, and the
    /// last batch write did not fail (for readiness checks).
    pub fn is_writable(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
            && self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
            && !self.shared.stats.last_write_failed.load(Ordering::Relaxed)
    }

    /// Runs a blocking read on tokio's blocking pool, with the head as of now.
    async fn blocking_read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&DB, u64) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let head = *shared.head.borrow();
            read(&shared.db, head)
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

/// Opens the DB, recovers the head and builds the writer, without starting its thread
/// (unit tests drive the writer's batches by hand).
fn prepare(
    path: &Path,
    options: &StoreOptions,
) -> Result<(Arc<Shared>, Writer, mpsc::Sender<Msg>), StoreError> {
    let db = DB::open_cf_descriptors(&options::db_options(), path, options::column_families())?;
    check_layout(&db)?;
    let tail = recover_tail(&db)?;
    let head = tail.as_ref().map_or(0, |t| t.position);
    let last_recorded_at = tail.map_or(DateTime::UNIX_EPOCH, |t| t.recorded_at);

    let (head_tx, head_rx) = watch::channel(head);
    let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
    let shared = Arc::new(Shared {
        db,
        head: head_rx,
        stats: Counters::default(),
        read_page: options.read_page.max(1),
        recent: tail::Recent::default(),
    });
    let writer = Writer {
        shared: Arc::clone(&shared),
        rx,
        head_tx,
        write_options: options.write_options(),
        max_batch_requests: options.max_batch_requests.max(1),
        max_batch_events: options.max_batch_events.max(1),
        next_position: head + 1,
        last_recorded_at,
        heads: writer::HeadCache::new(),
    };
    Ok((shared, writer, tx))
}

/// Refuses a directory written with a layout this build does not read, and stamps a
/// new one (or an older readable one) with [`LAYOUT_VERSION`].
fn check_layout(db: &DB) -> Result<(), StoreError> {
    match layout_marker(db)? {
        Some(LAYOUT_VERSION) => return Ok(()),
        Some(_) => {}
        None if read::read_tail(db)?.is_some() => {
            return Err(StoreError::Corrupt(
                "events present but no layout marker".into(),
            ));
        }
        None => {}
    }
    let meta = read::cf(db, CF_META)?;
    let mut options = rocksdb::WriteOptions::default();
    options.set_sync(true);
    db.put_cf_opt(meta, META_LAYOUT_KEY, [LAYOUT_VERSION], &options)?;
    Ok(())
}

/// The directory's layout version if it carries one this build reads, `None` if it
/// carries none yet; any other layout is refused.
fn layout_marker(db: &DB) -> Result<Option<u8>, StoreError> {
    let meta = read::cf(db, CF_META)?;
    match db.get_cf(meta, META_LAYOUT_KEY)? {
        Some(version) => match version.as_slice() {
            [v] if READABLE_LAYOUTS.contains(v) => Ok(Some(*v)),
            _ => Err(StoreError::Corrupt(format!(
                "unknown store layout {version:?}, this build reads layouts {READABLE_LAYOUTS:?}"
            ))),
        },
        None => Ok(None),
    }
}

/// `true` if the directory carries a layout marker this build reads, `false` if it
/// carries none yet; any other layout is refused.
fn has_layout_marker(db: &DB) -> Result<bool, StoreError> {
    Ok(layout_marker(db)?.is_some())
}

/// The last event, cross-checked against its stream head and command record.
fn recover_tail(db: &DB) -> Result<Option<read::Tail>, StoreError> {
    let tail = read::read_tail(db)?;
    if let Some(tail) = &tail {
        read::check_tail(db, tail)?;
    }
    Ok(tail)
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        // Dropping the only long-lived sender ends the writer once the queue is drained
        // (queued appends still commit). Joining means that, once the store is dropped,
        // the directory can be opened again.
        drop(self.tx.take());
        let handle = match self.writer.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("event store: the writer thread panicked");
        }
    }
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.shared.db.path())
            .field("head", &*self.shared.head.borrow())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

#[async_trait]
impl EventStore for RocksStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        request.validate()?;
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Append { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        // Dropping this future from here on does not cancel the append: it is queued.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream_id = stream_id.to_owned();
        self.blocking_read(move |db, head| {
            read::read_stream(db, head, &stream_id, from_version, limit)
        })
        .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.blocking_read(move |db, head| read::read_all(db, head, after, limit))
            .await
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        // Inline, not on the blocking pool: one point lookup in `heads` (a small,
        // bloom-filtered column family read through the block cache) costs a few
        // microseconds, less than the hop to another thread and back. It is what a
        // cached state is checked with on every command.
        read::stream_version(&self.shared.db, stream_id)
    }

    async fn committed(&self, command_id: uuid::Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        self.blocking_read(move |db, _| read::committed(db, command_id))
            .await
    }

    fn head(&self) -> u64 {
        *self.shared.head.borrow()
    }

    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        subscribe::subscribe(&self.shared, after)
    }

    async fn close(&self) {
        RocksStore::close(self).await
    }

    fn is_writable(&self) -> bool {
        RocksStore::is_writable(self)
    }

    fn stats(&self) -> StoreStats {
        RocksStore::stats(self)
    }
}
