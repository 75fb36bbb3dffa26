//! Blocking reads from RocksDB: one stream, the whole log, a stream's version, the tail.
//!
//! Every read is bounded by the caller's `limit` and by the published head: a reader
//! never sees an event before its batch is durable and acknowledged, so a projection can
//! never act on an event that a crash could still take back.

use chrono::{DateTime, Utc};
use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, ReadOptions};

use super::codec::{
    self, CF_EVENTS, CF_HEADS, CF_STREAMS, decode_event, decode_u64, position_key,
    stream_index_key, stream_index_prefix,
};
use crate::error::StoreError;
use crate::types::{AppendOutcome, RecordedEvent};

/// A column family handle; a missing one means the directory is not a paylog store.
pub(super) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Corrupt(format!("column family {name:?} is missing")))
}

/// Reads of at least this many events are bulk scans (a rebuild, an export): long and
/// sequential, worth reading ahead.
const BULK_SCAN: usize = 4096;
/// What a bulk scan reads ahead of its iterator, so the disk serves large sequential
/// reads instead of one block at a time.
const BULK_READAHEAD: usize = 2 << 20;

/// Events of the whole log with `after < position <= head`, at most `limit`.
pub(super) fn read_all(
    db: &DB,
    head: u64,
    after: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if limit == 0 || after >= head {
        return Ok(Vec::new());
    }
    let start = position_key(after + 1);
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(position_key(head.saturating_add(1)).to_vec());
    // A scan of the log reads each block once (a catch-up, a rebuild, an export, a
    // subscriber following the head, whose pages are small): caching its blocks would
    // evict what is read again and again (the command-id and head lookups' filters and
    // indexes, the views' hot blocks) and leave the shared cache full of log blocks
    // after a catch-up.
    options.fill_cache(false);
    if limit >= BULK_SCAN {
        options.set_readahead_size(BULK_READAHEAD);
    }
    let iter = db.iterator_cf_opt(
        cf(db, CF_EVENTS)?,
        options,
        IteratorMode::From(&start, Direction::Forward),
    );
    let mut events = Vec::with_capacity(limit.min((head - after) as usize).min(1024));
    for item in iter.take(limit) {
        let (key, value) = item?;
        let position = decode_u64(&key, "event key")?;
        events.push(decode_event(position, &value)?);
    }
    Ok(events)
}

/// Events of one stream with `version >= from_version` and `position <= head`, at most `limit`.
pub(super) fn read_stream(
    db: &DB,
    head: u64,
    stream_id: &str,
    from_version: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    check_stream_id(stream_id)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let start = stream_index_key(stream_id, from_version.max(1));
    // The stream's keys are `id 0x00 version`; `id 0x01` is the first key past all of them.
    let mut upper = stream_index_prefix(stream_id);
    if let Some(last) = upper.last_mut() {
        *last = 1;
    }
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(upper);
    let iter = db.iterator_cf_opt(
        cf(db, CF_STREAMS)?,
        options,
        IteratorMode::From(&start, Direction::Forward),
    );
    let mut positions = Vec::new();
    for item in iter.take(limit) {
        let (_, value) = item?;
        let position = decode_u64(&value, "stream index entry")?;
        if position > head {
            break;
        }
        positions.push(position);
    }

    let events_cf = cf(db, CF_EVENTS)?;
    let keys = positions.iter().map(|p| (events_cf, position_key(*p)));
    let values = db.multi_get_cf(keys);
    let mut events = Vec::with_capacity(positions.len());
    for (position, value) in positions.into_iter().zip(values) {
        let bytes = value?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "stream {stream_id:?} indexes position {position}, which is not in the log"
            ))
        })?;
        events.push(decode_event(position, &bytes)?);
    }
    Ok(events)
}

/// The committed version of a stream, `0` if it does not exist.
pub(super) fn stream_version(db: &DB, stream_id: &str) -> Result<u64, StoreError> {
    check_stream_id(stream_id)?;
    match db.get_pinned_cf(cf(db, CF_HEADS)?, stream_id.as_bytes())? {
        Some(bytes) => decode_u64(&bytes, "stream head"),
        None => Ok(0),
    }
}

/// The last event of the log, if any.
pub(super) struct Tail {
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    pub event: RecordedEvent,
}

/// Reads the last event: on open this recovers the head position. Nothing else needs
/// recovering, because every append's events, index entries, stream heads and command
/// record go in one atomic `WriteBatch`: after a crash either all of them are there or
/// none is.
pub(super) fn read_tail(db: &DB) -> Result<Option<Tail>, StoreError> {
    let mut iter = db.iterator_cf(cf(db, CF_EVENTS)?, IteratorMode::End);
    let Some(item) = iter.next() else {
        return Ok(None);
    };
    let (key, value) = item?;
    let position = decode_u64(&key, "event key")?;
    let event = decode_event(position, &value)?;
    Ok(Some(Tail {
        position,
        recorded_at: event.recorded_at,
        event,
    }))
}

/// Cross-checks the last event against the other column families on open. Cheap, and it
/// catches a directory whose column families were edited or restored inconsistently.
pub(super) fn check_tail(db: &DB, tail: &Tail) -> Result<(), StoreError> {
    let event = &tail.event;
    let head = stream_version(db, &event.stream_id)?;
    if head < event.stream_version {
        return Err(StoreError::Corrupt(format!(
            "last event (position {}) is version {} of {:?}, but the stream head is {head}",
            tail.position, event.stream_version, event.stream_id
        )));
    }
    let commands = cf(db, codec::CF_COMMANDS)?;
    if db
        .get_pinned_cf(commands, event.command_id.as_bytes())?
        .is_none()
    {
        return Err(StoreError::Corrupt(format!(
            "last event (position {}) has no command record",
            tail.position
        )));
    }
    Ok(())
}

/// A committed command's outcome from the `commands` column family, as a duplicate.
pub(super) fn committed(
    db: &DB,
    command_id: uuid::Uuid,
) -> Result<Option<AppendOutcome>, StoreError> {
    let commands = cf(db, codec::CF_COMMANDS)?;
    let Some(bytes) = db.get_pinned_cf(commands, command_id.as_bytes())? else {
        return Ok(None);
    };
    let outcome = codec::decode_outcome(&bytes)?;
    Ok(Some(AppendOutcome {
        duplicate: true,
        ..outcome
    }))
}

fn check_stream_id(stream_id: &str) -> Result<(), StoreError> {
    if stream_id.is_empty() || stream_id.as_bytes().contains(&0) {
        return Err(StoreError::InvalidRequest(format!(
            "invalid stream id {stream_id:?}: it must be non-empty and contain no NUL byte"
        )));
    }
    Ok(())
}
