//! The last events the writer made durable, kept in memory for live subscribers.
//!
//! Why: a subscriber following the head (the projector, on which every command's
//! read-your-writes wait depends) used to read each new batch back from RocksDB on
//! tokio's blocking pool: an iterator, a hop to another thread and back, for bytes the
//! writer had in hand a moment before. Measured at 1 client that read was ~240 µs of a
//! ~1.3 ms PlaceOrder, and several ms at 64 clients when the two cores are busy. The
//! writer now keeps the encoded envelopes of its last batches here (bounded by
//! [`RECENT_EVENTS`] and [`RECENT_BYTES`]: memory does not grow with the log), and a
//! subscriber whose next position is still held takes its page from memory and decodes
//! it exactly as a read from RocksDB would. Anything older is read from RocksDB as before.
//!
//! Only durable events enter: the writer pushes a batch after its synced write and
//! before it publishes the new head, so whoever sees the head finds its events here.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::codec::decode_event;
use crate::error::StoreError;
use crate::types::RecordedEvent;

/// Most events held (a few live batches: the projector takes up to 1024 at a time).
pub const RECENT_EVENTS: usize = 4096;

/// Most bytes of encoded envelopes held.
pub const RECENT_BYTES: usize = 4 * 1024 * 1024;

/// Consecutive positions and their encoded envelopes, oldest first.
#[derive(Default)]
pub(super) struct Recent {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    events: VecDeque<(u64, Vec<u8>)>,
    bytes: usize,
}

impl Recent {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        match self.inner.lock() {
            Ok(guard) => guard,
            // The critical sections cannot leave the deque half-updated in a way that
            // matters: at worst it is cleared below.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds a durable batch's events (consecutive positions, in order). A batch that
    /// does not follow the last one held (after a failed write) replaces everything.
    pub fn push(&self, batch: Vec<(u64, Vec<u8>)>) {
        let Some(&(first, _)) = batch.first() else {
            return;
        };
        let mut held = self.lock();
        if held
            .events
            .back()
            .is_some_and(|(last, _)| last + 1 != first)
        {
            held.events.clear();
            held.bytes = 0;
        }
        for (position, bytes) in batch {
            held.bytes += bytes.len();
            held.events.push_back((position, bytes));
        }
        while held.events.len() > RECENT_EVENTS || held.bytes > RECENT_BYTES {
            match held.events.pop_front() {
                Some((_, bytes)) => held.bytes -= bytes.len(),
                None => break,
            }
        }
    }

    /// Forgets everything (the writer no longer knows what is durable).
    pub fn clear(&self) {
        let mut held = self.lock();
        held.events.clear();
        held.bytes = 0;
    }

    /// Events with `after < position <= head`, at most `limit`, if memory holds the
    /// first of them (`after + 1`); `None` sends the caller to RocksDB.
    pub fn read(
        &self,
        head: u64,
        after: u64,
        limit: usize,
    ) -> Option<Result<Vec<RecordedEvent>, StoreError>> {
        let copied: Vec<(u64, Vec<u8>)> = {
            let held = self.lock();
            let &(oldest, _) = held.events.front()?;
            if after + 1 < oldest {
                return None;
            }
            let skip = usize::try_from(after + 1 - oldest).ok()?;
            held.events
                .iter()
                .skip(skip)
                .take_while(|(position, _)| *position <= head)
                .take(limit)
                .cloned()
                .collect()
        };
        if copied
            .first()
            .is_none_or(|(position, _)| *position != after + 1)
        {
            return None;
        }
        // Decoded outside the lock: the writer never waits for a subscriber.
        Some(
            copied
                .into_iter()
                .map(|(position, bytes)| decode_event(position, &bytes))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_or_an_evicted_position_sends_the_reader_to_rocksdb() {
        let recent = Recent::default();
        assert!(recent.read(10, 0, 10).is_none(), "nothing held");
        recent.push(vec![(5, vec![1]), (6, vec![2])]);
        assert!(recent.read(6, 3, 10).is_none(), "position 4 is not held");
        // A batch that does not follow the last one replaces everything.
        recent.push(vec![(9, vec![3])]);
        assert!(recent.read(9, 5, 10).is_none(), "5..8 were dropped");
        recent.clear();
        assert!(recent.read(9, 8, 10).is_none());
    }

    #[test]
    fn memory_is_bounded_in_events() {
        let recent = Recent::default();
        for position in 1..=(RECENT_EVENTS as u64 + 10) {
            recent.push(vec![(position, vec![0; 8])]);
        }
        let held = recent.lock();
        assert_eq!(held.events.len(), RECENT_EVENTS);
        assert_eq!(held.events.front().map(|e| e.0), Some(11));
    }
}
