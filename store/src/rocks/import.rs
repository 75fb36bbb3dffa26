//! Importing a whole log, envelopes as recorded, into an empty store: how `paylog
//! import` restores an export with every position, stream version, `recorded_at` and
//! command/correlation/causation id preserved.
//!
//! The importer writes RocksDB directly (there is no writer thread: nobody else may
//! use the directory meanwhile) and checks what the writer would guarantee: positions
//! gapless from 1, stream versions contiguous from 1, `recorded_at` non-decreasing, and
//! each command's events contiguous. Batches end only at command boundaries, so even an
//! import that fails halfway leaves a log the store opens: a prefix of whole commands.

use std::collections::HashSet;
use std::path::Path;

use rocksdb::{DB, WriteBatch, WriteOptions};
use uuid::Uuid;

use super::codec::{
    CF_COMMANDS, CF_EVENTS, CF_HEADS, CF_STREAMS, EnvelopeRef, encode_event, encode_outcome,
    position_key, stream_index_key,
};
use super::read::{cf, read_tail};
use super::{RocksStore, check_layout, options};
use crate::error::StoreError;
use crate::import_order::{ImportOrder, extend_outcome, first_outcome};
use crate::types::{AppendOutcome, NewEvent, RecordedEvent};

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
    order: ImportOrder,
    /// Streams whose head changed since the last flush.
    touched: HashSet<String>,
    /// The command whose events are being pushed, and its outcome so far.
    current: Option<(Uuid, AppendOutcome)>,
    stats: ImportStats,
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("next_position", &self.order.next_position())
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
            order: ImportOrder::new(),
            touched: HashSet::new(),
            current: None,
            stats: ImportStats::default(),
        })
    }
}

impl Importer {
    /// Adds the next event of the log. Nothing is written for a refused event.
    pub fn push(&mut self, mut event: RecordedEvent) -> Result<(), StoreError> {
        let step = self.order.check(&event)?;
        if event.stream_id.is_empty() || event.stream_id.as_bytes().contains(&0) {
            return Err(StoreError::InvalidRequest(format!(
                "position {}: invalid stream id",
                event.position
            )));
        }
        // Encoded before anything changes, so a refused event leaves no trace. The type
        // and payload move into the envelope: what follows reads only the event's
        // position, stream, version, time and ids.
        let new = NewEvent {
            event_type: std::mem::take(&mut event.event_type),
            schema_version: event.schema_version,
            payload: std::mem::take(&mut event.payload),
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
        if step.new_command {
            self.end_command()?;
            if self.batch_events >= IMPORT_BATCH {
                self.flush(false)?;
            }
            self.current = Some((event.command_id, first_outcome(&event)));
        }
        self.order.accept(&event);
        if let Some((_, outcome)) = &mut self.current {
            extend_outcome(outcome, &event);
        }
        if step.new_stream {
            self.stats.streams += 1;
        }

        let key = position_key(event.position);
        self.batch.put_cf(cf(&self.db, CF_EVENTS)?, key, value);
        self.batch.put_cf(
            cf(&self.db, CF_STREAMS)?,
            stream_index_key(&event.stream_id, event.stream_version),
            key,
        );
        self.touched.insert(event.stream_id);
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
            let version = self.order.head(&stream);
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
