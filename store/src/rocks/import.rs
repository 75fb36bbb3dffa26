//! Importing a whole log, envelopes as recorded, into an empty store: how `paylog
//! import` restores an export with every position, stream version, `recorded_at` and
//! command/correlation/causation id preserved.
//!
//! The importer writes RocksDB directly (there is no writer thread: nobody else may
//! use the directory meanwhile) and checks what the writer would guarantee: positions
//! gapless from 1, stream versions contiguous from 1, `recorded_at` non-decreasing, and
//! each command's events contiguous. Batches end only at command boundaries, so even an
//! import that fails halfway leaves a log the store opens: a prefix of whole commands.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use rocksdb::{DB, WriteBatch, WriteOptions};
use uuid::Uuid;

use super::codec::{
    CF_COMMANDS, CF_EVENTS, CF_HEADS, CF_STREAMS, EnvelopeRef, encode_event, encode_outcome,
    position_key, stream_index_key,
};
use super::read::{cf, read_tail};
use super::{RocksStore, check_layout, options};
use crate::error::StoreError;
use crate::types::{AppendOutcome, NewEvent, RecordedEvent, StreamHead};

/// Events per `WriteBatch` (rounded up to the end of a command).
const IMPORT_BATCH: usize = 4096;

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportStats {
    pub events: u64,
    pub streams: u64,
    pub commands: u64,
}

/// An import in progress: [`push`](Importer::push) events in log order, then
/// [`finish`](Importer::finish). Obtained from [`RocksStore::importer`].
pub struct Importer {
    db: DB,
    batch: WriteBatch,
    batch_events: usize,
    next_position: u64,
    last_recorded_at: DateTime<Utc>,
    heads: HashMap<String, u64>,
    /// Streams whose head changed since the last flush.
    touched: HashSet<String>,
    commands: HashSet<Uuid>,
    /// The command whose events are being pushed, and its outcome so far.
    current: Option<(Uuid, AppendOutcome)>,
    stats: ImportStats,
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("next_position", &self.next_position)
            .field("stats", &self.stats)
            .finish()
    }
}

impl RocksStore {
    /// Opens `path` for an import. Refuses a store that already holds events. Blocking;
    /// the directory must not be open elsewhere (RocksDB's lock enforces it).
    pub fn importer(path: impl AsRef<Path>) -> Result<Importer, StoreError> {
        let db = DB::open_cf_descriptors(&options::db_options(), path, options::column_families())?;
        check_layout(&db)?;
        if read_tail(&db)?.is_some() {
            return Err(StoreError::InvalidRequest(
                "the store is not empty: import only into an empty data directory".into(),
            ));
        }
        Ok(Importer {
            db,
            batch: WriteBatch::default(),
            batch_events: 0,
            next_position: 1,
            last_recorded_at: DateTime::UNIX_EPOCH,
            heads: HashMap::new(),
            touched: HashSet::new(),
            commands: HashSet::new(),
            current: None,
            stats: ImportStats::default(),
        })
    }
}

impl Importer {
    /// Adds the next event of the log. Nothing is written for a refused event.
    pub fn push(&mut self, event: RecordedEvent) -> Result<(), StoreError> {
        let invalid = |msg: String| Err(StoreError::InvalidRequest(msg));
        if event.position != self.next_position {
            return invalid(format!(
                "expected position {}, got {}",
                self.next_position, event.position
            ));
        }
        let head = self.heads.get(&event.stream_id).copied().unwrap_or(0);
        if event.stream_version != head + 1 {
            return invalid(format!(
                "position {}: stream {:?} is at version {head}, the event is version {}",
                event.position, event.stream_id, event.stream_version
            ));
        }
        if event.recorded_at < self.last_recorded_at {
            return invalid(format!(
                "position {}: recorded_at goes backwards",
                event.position
            ));
        }
        if event.stream_id.is_empty() || event.stream_id.as_bytes().contains(&0) {
            return invalid(format!("position {}: invalid stream id", event.position));
        }
        let continues = self
            .current
            .as_ref()
            .is_some_and(|(id, _)| *id == event.command_id);
        if !continues && self.commands.contains(&event.command_id) {
            return invalid(format!(
                "position {}: command {} resumes after other commands",
                event.position, event.command_id
            ));
        }
        if !continues {
            self.end_command()?;
            if self.batch_events >= IMPORT_BATCH {
                self.flush(false)?;
            }
            self.commands.insert(event.command_id);
            self.current = Some((
                event.command_id,
                AppendOutcome {
                    first_position: event.position,
                    last_position: event.position,
                    recorded_at: event.recorded_at,
                    streams: Vec::new(),
                    duplicate: false,
                },
            ));
        }

        let new = NewEvent {
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
        };
        let envelope = EnvelopeRef {
            stream_id: &event.stream_id,
            stream_version: event.stream_version,
            event: &new,
            recorded_at: event.recorded_at,
            command_id: event.command_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        };
        let value = encode_event(&envelope)?;
        let key = position_key(event.position);
        self.batch.put_cf(cf(&self.db, CF_EVENTS)?, key, value);
        self.batch.put_cf(
            cf(&self.db, CF_STREAMS)?,
            stream_index_key(&event.stream_id, event.stream_version),
            key,
        );
        if let Some((_, outcome)) = &mut self.current {
            outcome.last_position = event.position;
            match outcome
                .streams
                .iter_mut()
                .find(|h| h.stream_id == event.stream_id)
            {
                Some(head) => head.version = event.stream_version,
                None => outcome.streams.push(StreamHead {
                    stream_id: event.stream_id.clone(),
                    version: event.stream_version,
                }),
            }
        }
        if head == 0 {
            self.stats.streams += 1;
        }
        self.heads
            .insert(event.stream_id.clone(), event.stream_version);
        self.touched.insert(event.stream_id);
        self.next_position += 1;
        self.last_recorded_at = event.recorded_at;
        self.batch_events += 1;
        self.stats.events += 1;
        Ok(())
    }

    /// Writes what is left, fsyncs, and closes the directory.
    pub fn finish(mut self) -> Result<ImportStats, StoreError> {
        self.end_command()?;
        self.flush(true)?;
        Ok(self.stats)
    }

    fn end_command(&mut self) -> Result<(), StoreError> {
        if let Some((id, outcome)) = self.current.take() {
            self.batch.put_cf(
                cf(&self.db, CF_COMMANDS)?,
                id.as_bytes(),
                encode_outcome(&outcome)?,
            );
            self.stats.commands += 1;
        }
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> Result<(), StoreError> {
        let heads = cf(&self.db, CF_HEADS)?;
        for stream in self.touched.drain() {
            let version = self.heads.get(&stream).copied().unwrap_or(0);
            self.batch
                .put_cf(heads, stream.as_bytes(), version.to_be_bytes());
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db
            .write_opt(std::mem::take(&mut self.batch), &options)?;
        self.batch_events = 0;
        Ok(())
    }
}
