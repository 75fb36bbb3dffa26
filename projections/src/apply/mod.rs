//! Applying a batch of events to one generation: every view and the checkpoint in one
//! RocksDB `WriteBatch`.
//!
//! Projections read what they need (the order before an event, the day's totals) through
//! [`Tx`], an overlay over the database holding the batch's own writes, so several events
//! of one batch touching the same key compose as if applied one by one.

mod catalog;
pub(crate) mod orders;
mod users;

use std::collections::HashMap;

use paylog_core::DomainEvent;
use paylog_store::RecordedEvent;
use rocksdb::WriteBatch;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ProjectionError, Result};
use crate::layout::{self, CHECKPOINT_KEY, View};
use crate::views::{Db, Generation, cf};

/// Reads through the batch's pending writes; collects them for one `WriteBatch`.
pub(crate) struct Tx<'a> {
    db: &'a Db,
    generation: u64,
    writes: HashMap<(View, Vec<u8>), Option<Vec<u8>>>,
}

impl<'a> Tx<'a> {
    fn new(db: &'a Db, generation: u64) -> Self {
        Tx {
            db,
            generation,
            writes: HashMap::new(),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, view: View, key: &[u8]) -> Result<Option<T>> {
        if let Some(pending) = self.writes.get(&(view, key.to_vec())) {
            return pending
                .as_deref()
                .map(|bytes| layout::decode(bytes, view.name()))
                .transpose();
        }
        let handle = cf(self.db, self.generation, view)?;
        match self.db.get_pinned_cf(&handle, key)? {
            Some(bytes) => Ok(Some(layout::decode(&bytes, view.name())?)),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&mut self, view: View, key: Vec<u8>, value: &T) -> Result<()> {
        self.writes
            .insert((view, key), Some(layout::encode(value)?));
        Ok(())
    }

    pub fn delete(&mut self, view: View, key: Vec<u8>) {
        self.writes.insert((view, key), None);
    }

    fn into_batch(self, position: u64) -> Result<WriteBatch> {
        let mut batch = WriteBatch::default();
        for ((view, key), value) in self.writes {
            let handle = cf(self.db, self.generation, view)?;
            match value {
                Some(value) => batch.put_cf(&handle, key, value),
                None => batch.delete_cf(&handle, key),
            }
        }
        let checkpoint = cf(self.db, self.generation, View::Checkpoint)?;
        batch.put_cf(&checkpoint, CHECKPOINT_KEY, layout::u64_value(position));
        Ok(batch)
    }
}

/// Applies `events` (consecutive positions) to `generation`, whose checkpoint is
/// `checkpoint`, and returns the new checkpoint. Events at or below the checkpoint are
/// skipped (a resubscription may repeat them); a gap is refused. Blocking.
pub(crate) fn apply_batch(
    db: &Db,
    generation: &Generation,
    checkpoint: u64,
    events: &[RecordedEvent],
) -> Result<u64> {
    let skip = events
        .iter()
        .take_while(|e| e.position <= checkpoint)
        .count();
    let events = &events[skip..];
    if events.is_empty() {
        return Ok(checkpoint);
    }
    let mut expected = checkpoint + 1;
    for event in events {
        if event.position != expected {
            return Err(ProjectionError::OutOfSequence {
                expected,
                got: event.position,
            });
        }
        expected += 1;
    }
    let decoded = crate::decode::decode_batch(events)?;
    let mut tx = Tx::new(db, generation.id);
    for (recorded, event) in events.iter().zip(&decoded) {
        apply_event(&mut tx, recorded, event)?;
    }
    let position = expected - 1;
    // Views and checkpoint in one atomic write: after a crash either both are there or
    // neither is, so no event is ever applied twice or skipped. No fsync: losing the
    // tail of the views' WAL only means re-applying it from the log.
    db.write(tx.into_batch(position)?)?;
    Ok(position)
}

fn apply_event(tx: &mut Tx<'_>, recorded: &RecordedEvent, event: &DomainEvent) -> Result<()> {
    match event {
        DomainEvent::User(e) => users::apply(tx, e),
        // Username and openid lookups are indexed from `UserRegistered`, which is
        // appended atomically with its claim; the claim streams add nothing to views.
        DomainEvent::Claim(_) => Ok(()),
        DomainEvent::Product(e) => catalog::apply(tx, e),
        DomainEvent::Order(e) => orders::apply(tx, recorded.position, e),
    }
}
