//! The single writer thread: group commit of appends.
//!
//! Why one writer: positions must be gapless and stream versions contiguous, and each
//! expected-version check must see every append committed before it. One thread that
//! owns the write path gets all of that without locks, and it turns N concurrent appends
//! into one `WriteBatch` and one WAL fsync — the fsync is the cost that matters, so the
//! more callers wait, the cheaper each append gets.
//!
//! Why a plain thread and not a tokio task: every step (lookups, the write, the fsync)
//! blocks, and a dedicated thread keeps that off the async workers.
//!
//! What a group costs besides the write: the checks of its requests against the log
//! (has this command id committed? what version is each stream at?). Being the only
//! writer, the writer knows the heads it wrote itself: it keeps the last
//! [`HEAD_CACHE_STREAMS`] of them in memory (bounded: memory must not grow with the
//! log), and asks RocksDB for everything else in two batched lookups per group (one
//! `MultiGet` for the command ids, one for the heads it does not hold), not two point
//! lookups per request.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use lru::LruCache;
use rocksdb::{ColumnFamily, DB, DBPinnableSlice, WriteBatch, WriteOptions};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::Shared;
use super::codec::{
    self, CF_COMMANDS, CF_EVENTS, CF_HEADS, CF_STREAMS, EnvelopeRef, encode_event, encode_outcome,
    position_key, stream_index_key,
};
use super::read::{cf, read_tail};
use crate::error::StoreError;
use crate::types::{AppendOutcome, AppendRequest, ExpectedVersion, StreamHead};

pub(super) type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

/// How many stream heads the writer keeps in memory (the streams written last); the
/// others are looked up in `heads`. ~100 bytes each.
pub const HEAD_CACHE_STREAMS: usize = 16_384;

/// The committed heads of the streams the writer wrote or looked up last. Exact, not
/// a hint: nothing but this writer writes the directory while it runs.
pub(super) struct HeadCache(LruCache<String, u64>);

impl HeadCache {
    pub fn new() -> Self {
        HeadCache(LruCache::new(
            NonZeroUsize::new(HEAD_CACHE_STREAMS).unwrap_or(NonZeroUsize::MIN),
        ))
    }
}

/// What callers send to the writer.
pub(super) enum Msg {
    Append {
        request: AppendRequest,
        reply: Reply,
    },
    /// Finish the current batch, refuse everything still queued, then stop.
    Shutdown(oneshot::Sender<()>),
}

pub(super) struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Msg>,
    /// Owned here and nowhere else: the head advances only after a durable write, and
    /// subscribers learn the store closed when this sender is dropped with the writer.
    pub head_tx: watch::Sender<u64>,
    pub write_options: WriteOptions,
    pub max_batch_requests: usize,
    pub max_batch_events: usize,
    /// The position the next event will get.
    pub next_position: u64,
    /// `recorded_at` never goes backwards along the log, even if the wall clock does,
    /// so "state as of instant T" is a prefix of the log.
    pub last_recorded_at: DateTime<Utc>,
    /// Heads already known, so that most checks read nothing.
    pub heads: HeadCache,
}

/// What the log held before this batch, for the requests of the batch: looked up
/// together, before any request is checked.
struct Stored<'db> {
    /// Each request's command record if its id committed before (by request index).
    commands: Vec<Option<DBPinnableSlice<'db>>>,
    /// The committed version of every stream the batch touches (0: no such stream).
    heads: HashMap<String, u64>,
}

/// Changes staged by earlier requests of the batch being built, which later requests of
/// the same batch must see as if they were already committed.
#[derive(Default)]
struct Pending {
    heads: HashMap<String, u64>,
    commands: HashMap<Uuid, AppendOutcome>,
}

/// Which column family a staged put goes to.
#[derive(Clone, Copy)]
enum Family {
    Events,
    Streams,
    Heads,
    Commands,
}

/// The puts one accepted request adds to the batch. Staged per request, so a request
/// that fails halfway (an encoding error) leaves the batch untouched.
struct Staged {
    puts: Vec<(Family, Vec<u8>, Vec<u8>)>,
    outcome: AppendOutcome,
}

/// The column family handles of the write path, resolved once per batch.
struct Handles<'a> {
    events: &'a ColumnFamily,
    streams: &'a ColumnFamily,
    heads: &'a ColumnFamily,
    commands: &'a ColumnFamily,
}

impl<'a> Handles<'a> {
    fn resolve(db: &'a DB) -> Result<Self, StoreError> {
        Ok(Handles {
            events: cf(db, CF_EVENTS)?,
            streams: cf(db, CF_STREAMS)?,
            heads: cf(db, CF_HEADS)?,
            commands: cf(db, CF_COMMANDS)?,
        })
    }

    /// Adds the request's puts to `batch`, and its events' encoded envelopes to
    /// `events` (kept for live subscribers once the batch is durable).
    fn add(
        &self,
        batch: &mut WriteBatch,
        events: &mut Vec<(u64, Vec<u8>)>,
        staged: Staged,
    ) -> AppendOutcome {
        let mut position = staged.outcome.first_position;
        for (family, key, value) in staged.puts {
            let handle = match family {
                Family::Events => self.events,
                Family::Streams => self.streams,
                Family::Heads => self.heads,
                Family::Commands => self.commands,
            };
            batch.put_cf(handle, key, &value);
            if let Family::Events = family {
                // Staged in position order, one put per event.
                events.push((position, value));
                position += 1;
            }
        }
        staged.outcome
    }
}

impl Writer {
    /// Runs until every sender is gone or a shutdown arrives; returns the shutdown's
    /// acknowledgement so that the caller can send it once this writer is dropped.
    pub fn run(mut self) -> Option<oneshot::Sender<()>> {
        loop {
            let Some(first) = self.rx.blocking_recv() else {
                self.flush_wal();
                return None;
            };
            let mut jobs = Vec::new();
            let mut events = 0usize;
            let mut shutdown = None;
            let mut next = Some(first);
            // Drain what is already queued, up to the bounds: this is the group in
            // group commit. Nobody waits for stragglers; the next batch takes them.
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append { request, reply } => {
                        events += request
                            .streams
                            .iter()
                            .map(|s| s.events.len())
                            .sum::<usize>();
                        jobs.push((request, reply));
                    }
                    Msg::Shutdown(done) => {
                        shutdown = Some(done);
                        break;
                    }
                }
                if jobs.len() < self.max_batch_requests && events < self.max_batch_events {
                    next = self.rx.try_recv().ok();
                }
            }
            if !jobs.is_empty() {
                self.commit(jobs);
            }
            if let Some(done) = shutdown {
                self.rx.close();
                while let Ok(msg) = self.rx.try_recv() {
                    match msg {
                        Msg::Append { reply, .. } => {
                            let _ = reply.send(Err(StoreError::Closed));
                        }
                        Msg::Shutdown(other) => {
                            let _ = other.send(());
                        }
                    }
                }
                self.flush_wal();
                return Some(done);
            }
        }
    }

    fn flush_wal(&self) {
        if let Err(e) = self.shared.db.flush_wal(true) {
            tracing::warn!(error = %e, "event store: WAL flush on shutdown failed");
        }
    }

    /// Validates every request against the store and the batch so far, writes the
    /// accepted ones in one `WriteBatch`, then answers everybody.
    pub(super) fn commit(&mut self, jobs: Vec<(AppendRequest, Reply)>) {
        let shared = Arc::clone(&self.shared);
        let handles = match Handles::resolve(&shared.db) {
            Ok(handles) => handles,
            Err(e) => {
                for (_, reply) in jobs {
                    let _ = reply.send(Err(StoreError::Corrupt(e.to_string())));
                }
                return;
            }
        };
        let stored = match self.look_up(&shared.db, &handles, &jobs) {
            Ok(stored) => stored,
            Err(e) => {
                // Nothing was written; every caller may retry.
                for (_, reply) in jobs {
                    let _ = reply.send(Err(match &e {
                        StoreError::Corrupt(message) => StoreError::Corrupt(message.clone()),
                        other => StoreError::backend("rocksdb", other.to_string()),
                    }));
                }
                return;
            }
        };
        let recorded_at = Utc::now().max(self.last_recorded_at);
        let mut pending = Pending::default();
        let mut batch = WriteBatch::default();
        let mut envelopes = Vec::new();
        let mut next = self.next_position;
        let mut answers = Vec::with_capacity(jobs.len());
        let (mut committed_requests, mut duplicates, mut conflicts) = (0u64, 0u64, 0u64);

        for (index, (request, reply)) in jobs.into_iter().enumerate() {
            let result = self.stage(&request, &stored, index, &pending, next, recorded_at);
            let answer = match result {
                Ok(Stage::Duplicate(mut outcome)) => {
                    duplicates += 1;
                    outcome.duplicate = true;
                    Ok(outcome)
                }
                Ok(Stage::New(staged)) => {
                    let outcome = handles.add(&mut batch, &mut envelopes, staged);
                    committed_requests += 1;
                    next = outcome.last_position + 1;
                    for head in &outcome.streams {
                        pending.heads.insert(head.stream_id.clone(), head.version);
                    }
                    pending.commands.insert(request.command_id, outcome.clone());
                    Ok(outcome)
                }
                Err(e) => {
                    if e.is_conflict() {
                        conflicts += 1;
                    }
                    Err(e)
                }
            };
            answers.push((reply, answer));
        }

        let new_events = next - self.next_position;
        if new_events > 0 {
            if let Err(e) = shared.db.write_opt(batch, &self.write_options) {
                shared
                    .stats
                    .last_write_failed
                    .store(true, Ordering::Relaxed);
                // The batch may or may not have landed: no head in memory can be trusted.
                self.heads.0.clear();
                shared.recent.clear();
                self.after_failed_write(&e);
                // The outcome of every request in the batch is now unknown to its
                // caller (the batch may have reached the WAL); retrying with the same
                // command id is safe either way.
                for (reply, _) in answers {
                    let _ = reply.send(Err(StoreError::from(e.clone())));
                }
                return;
            }
            self.next_position = next;
            self.last_recorded_at = recorded_at;
            for (stream_id, version) in pending.heads {
                self.heads.0.put(stream_id, version);
            }
            // Only now, with the batch durable, may anyone observe it: its events first
            // (for live subscribers), then the head that makes them visible.
            shared.recent.push(envelopes);
            self.head_tx.send_replace(next - 1);
            let stats = &self.shared.stats;
            stats.last_write_failed.store(false, Ordering::Relaxed);
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats
                .requests
                .fetch_add(committed_requests, Ordering::Relaxed);
            stats.events.fetch_add(new_events, Ordering::Relaxed);
        }
        let stats = &self.shared.stats;
        stats.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        stats.conflicts.fetch_add(conflicts, Ordering::Relaxed);
        for (reply, answer) in answers {
            // A caller that gave up (dropped its future) does not undo its append.
            let _ = reply.send(answer);
        }
    }

    /// Looks up, for every request of the batch, its command id and the heads of its
    /// streams not held in memory: two batched `MultiGet`s, whatever the group size.
    fn look_up<'db>(
        &self,
        db: &'db DB,
        handles: &Handles<'_>,
        jobs: &[(AppendRequest, Reply)],
    ) -> Result<Stored<'db>, StoreError> {
        let ids: Vec<&[u8]> = jobs
            .iter()
            .map(|(r, _)| r.command_id.as_bytes().as_slice())
            .collect();
        let commands = db
            .batched_multi_get_cf(handles.commands, ids, false)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut heads = HashMap::new();
        let mut missing = Vec::new();
        for stream in jobs.iter().flat_map(|(r, _)| &r.streams) {
            if heads.contains_key(&stream.stream_id) {
                continue;
            }
            match self.heads.0.peek(&stream.stream_id) {
                Some(version) => {
                    heads.insert(stream.stream_id.clone(), *version);
                }
                None => {
                    heads.insert(stream.stream_id.clone(), 0);
                    missing.push(stream.stream_id.as_str());
                }
            }
        }
        if !missing.is_empty() {
            let found = db.batched_multi_get_cf(
                handles.heads,
                missing.iter().map(|id| id.as_bytes()),
                false,
            );
            for (stream_id, value) in missing.iter().zip(found) {
                if let Some(bytes) = value? {
                    let version = codec::decode_u64(&bytes, "stream head")?;
                    heads.insert((*stream_id).to_owned(), version);
                }
            }
        }
        Ok(Stored { commands, heads })
    }

    /// Decides one request (number `index` of the batch) against what was stored
    /// before the batch plus `pending`; touches nothing.
    fn stage(
        &self,
        request: &AppendRequest,
        stored: &Stored<'_>,
        index: usize,
        pending: &Pending,
        first_position: u64,
        recorded_at: DateTime<Utc>,
    ) -> Result<Stage, StoreError> {
        // Idempotency first: a command that committed is answered with its original
        // outcome whatever its expected versions say now.
        if let Some(outcome) = pending.commands.get(&request.command_id) {
            return Ok(Stage::Duplicate(outcome.clone()));
        }
        if let Some(Some(bytes)) = stored.commands.get(index) {
            return Ok(Stage::Duplicate(codec::decode_outcome(bytes)?));
        }

        // Check every stream before staging anything: a mismatch appends nothing.
        let mut current = Vec::with_capacity(request.streams.len());
        for stream in &request.streams {
            let actual = match pending.heads.get(&stream.stream_id) {
                Some(version) => *version,
                None => stored.heads.get(&stream.stream_id).copied().unwrap_or(0),
            };
            let matches = match stream.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual == 0,
                ExpectedVersion::Exact(expected) => actual == expected,
            };
            if !matches {
                return Err(StoreError::Conflict {
                    stream_id: stream.stream_id.clone(),
                    expected: stream.expected,
                    actual,
                });
            }
            current.push(actual);
        }

        let mut puts = Vec::new();
        let mut heads = Vec::with_capacity(request.streams.len());
        let mut position = first_position;
        for (stream, mut version) in request.streams.iter().zip(current) {
            for event in &stream.events {
                version += 1;
                let envelope = EnvelopeRef {
                    stream_id: &stream.stream_id,
                    stream_version: version,
                    event,
                    recorded_at,
                    command_id: request.command_id,
                    correlation_id: request.correlation_id,
                    causation_id: request.causation_id,
                };
                let key = position_key(position).to_vec();
                puts.push((Family::Events, key.clone(), encode_event(&envelope)?));
                puts.push((
                    Family::Streams,
                    stream_index_key(&stream.stream_id, version),
                    key,
                ));
                position += 1;
            }
            puts.push((
                Family::Heads,
                stream.stream_id.as_bytes().to_vec(),
                version.to_be_bytes().to_vec(),
            ));
            heads.push(StreamHead {
                stream_id: stream.stream_id.clone(),
                version,
            });
        }
        let outcome = AppendOutcome {
            first_position,
            last_position: position - 1,
            recorded_at,
            streams: heads,
            duplicate: false,
        };
        puts.push((
            Family::Commands,
            request.command_id.as_bytes().to_vec(),
            encode_outcome(&outcome)?,
        ));
        Ok(Stage::New(Staged { puts, outcome }))
    }

    /// After a failed write the batch may or may not be in the WAL. Re-read the tail so
    /// the next batch never reuses a position; if even that fails, RocksDB is in a
    /// background-error state and refuses writes anyway.
    fn after_failed_write(&mut self, error: &rocksdb::Error) {
        tracing::error!(%error, "event store: batch write failed");
        match read_tail(&self.shared.db) {
            Ok(Some(tail)) => {
                self.next_position = tail.position + 1;
                self.last_recorded_at = self.last_recorded_at.max(tail.recorded_at);
                if tail.position > *self.head_tx.borrow() {
                    self.head_tx.send_replace(tail.position);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "event store: cannot re-read the log tail"),
        }
    }
}

enum Stage {
    New(Staged),
    Duplicate(AppendOutcome),
}
