//! Applying a batch of events to one generation: every view and the checkpoint in one
//! RocksDB `WriteBatch`.
//!
//! Projections read what they need (the order before an event, the day's totals) through
//! [`Tx`], an overlay over the database holding the batch's own writes, so several events
//! of one batch touching the same key compose as if applied one by one. The overlay is
//! typed: a value written by one event is handed to the next as the value itself, so
//! each touched key is decoded from the database at most once per batch and encoded
//! once, when the batch is turned into its `WriteBatch`.

mod catalog;
pub(crate) mod orders;
mod users;

use std::any::Any;
use std::collections::HashMap;

use paylog_core::DomainEvent;
use paylog_store::RecordedEvent;
use rocksdb::WriteBatch;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ProjectionError, Result};
use crate::layout::{self, CHECKPOINT_KEY, View};
use crate::views::{Db, Generation, cf};

/// A view value pending in the overlay: kept as its type, encoded once at the end.
trait Pending: Send {
    fn encode(&self) -> Result<Vec<u8>>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Serialize + Send + 'static> Pending for T {
    fn encode(&self) -> Result<Vec<u8>> {
        layout::encode(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A batch's pending writes by view and key; `None`: deleted by this batch.
type Writes = HashMap<(View, Vec<u8>), Option<Box<dyn Pending>>>;

/// Reads through the batch's pending writes; collects them for one `WriteBatch`.
pub(crate) struct Tx<'a> {
    db: &'a Db,
    generation: u64,
    writes: Writes,
}

impl<'a> Tx<'a> {
    fn new(db: &'a Db, generation: u64) -> Self {
        Tx {
            db,
            generation,
            writes: HashMap::new(),
        }
    }

    pub fn get<T: DeserializeOwned + Clone + 'static>(
        &self,
        view: View,
        key: &[u8],
    ) -> Result<Option<T>> {
        if let Some(pending) = self.writes.get(&(view, key.to_vec())) {
            let Some(value) = pending else {
                return Ok(None);
            };
            return match value.as_any().downcast_ref::<T>() {
                Some(typed) => Ok(Some(typed.clone())),
                // Written as another type than it is read as: through its encoding,
                // exactly as if it had been read back from the database.
                None => layout::decode(&value.encode()?, view.name()).map(Some),
            };
        }
        let handle = cf(self.db, self.generation, view)?;
        match self.db.get_pinned_cf(&handle, key)? {
            Some(bytes) => Ok(Some(layout::decode(&bytes, view.name())?)),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize + Send + 'static>(
        &mut self,
        view: View,
        key: Vec<u8>,
        value: T,
    ) -> Result<()> {
        self.writes.insert((view, key), Some(Box::new(value)));
        Ok(())
    }

    pub fn delete(&mut self, view: View, key: Vec<u8>) {
        self.writes.insert((view, key), None);
    }

    fn into_batch(self, position: u64) -> Result<WriteBatch> {
        let mut batch = WriteBatch::default();
        let mut handles = HashMap::new();
        for ((view, key), value) in self.writes {
            let handle = match handles.get(&view) {
                Some(handle) => std::sync::Arc::clone(handle),
                None => {
                    let handle = cf(self.db, self.generation, view)?;
                    handles.insert(view, std::sync::Arc::clone(&handle));
                    handle
                }
            };
            match value {
                Some(value) => batch.put_cf(&handle, key, value.encode()?),
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
    let events = &events[skipped(checkpoint, events)..];
    if events.is_empty() {
        return Ok(checkpoint);
    }
    // A gap is refused before anything is decoded.
    check_sequence(checkpoint, events)?;
    let decoded = crate::decode::decode_batch(events)?;
    apply_decoded(db, generation, checkpoint, events, &decoded)
}

/// Checks that `events` continue `checkpoint` exactly; the last position.
fn check_sequence(checkpoint: u64, events: &[RecordedEvent]) -> Result<u64> {
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
    Ok(expected - 1)
}

/// How many leading events of a batch are at or below the checkpoint.
fn skipped(checkpoint: u64, events: &[RecordedEvent]) -> usize {
    events
        .iter()
        .take_while(|e| e.position <= checkpoint)
        .count()
}

/// [`apply_batch`] with the batch already decoded (`decoded[i]` is `events[i]`'s
/// event), as a rebuild's reader stage hands it over. Blocking.
pub(crate) fn apply_decoded(
    db: &Db,
    generation: &Generation,
    checkpoint: u64,
    events: &[RecordedEvent],
    decoded: &[DomainEvent],
) -> Result<u64> {
    if events.len() != decoded.len() {
        return Err(ProjectionError::Task(format!(
            "{} events but {} decoded",
            events.len(),
            decoded.len()
        )));
    }
    let skip = skipped(checkpoint, events);
    let (events, decoded) = (&events[skip..], &decoded[skip..]);
    if events.is_empty() {
        return Ok(checkpoint);
    }
    let position = check_sequence(checkpoint, events)?;
    let mut tx = Tx::new(db, generation.id);
    for (recorded, event) in events.iter().zip(decoded) {
        apply_event(&mut tx, recorded, event)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::Views;

    #[test]
    fn the_overlay_hands_back_pending_values_and_reads_a_value_written_as_another_type_through_its_encoding()
     {
        let dir = tempfile::tempdir().expect("a temp dir");
        let views = Views::open(dir.path().join("views")).expect("views open");
        let generation = views.generation_id();
        let mut tx = Tx::new(views.db(), generation);
        let key = b"k".to_vec();
        assert_eq!(tx.get::<u64>(View::DailySales, &key).expect("a read"), None);

        tx.put(View::DailySales, key.clone(), 7u64).expect("a put");
        assert_eq!(
            tx.get::<u64>(View::DailySales, &key).expect("a read"),
            Some(7)
        );
        // A tuple and an array of two have one postcard encoding: read as the other
        // type, the pending value goes through its bytes, as a stored one would.
        tx.put(View::Ledger, key.clone(), (1u32, 2u32))
            .expect("a put");
        assert_eq!(
            tx.get::<[u32; 2]>(View::Ledger, &key).expect("a read"),
            Some([1, 2])
        );
        tx.delete(View::DailySales, key.clone());
        assert_eq!(tx.get::<u64>(View::DailySales, &key).expect("a read"), None);

        views
            .db()
            .write(tx.into_batch(1).expect("a batch"))
            .expect("a write");
        let tx = Tx::new(views.db(), generation);
        assert_eq!(tx.get::<u64>(View::DailySales, &key).expect("a read"), None);
        assert_eq!(
            tx.get::<(u32, u32)>(View::Ledger, &key).expect("a read"),
            Some((1, 2))
        );
    }
}
