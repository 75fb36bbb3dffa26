//! Decoding a batch of envelopes into domain events, in parallel when it pays.
//!
//! Decoding JSON is the hot path of a rebuild (RocksDB reads and batched writes are
//! cheap next to it), so a large batch is split across the available cores with scoped
//! threads. Order is preserved: the result's `i`-th event is the batch's `i`-th.

use paylog_core::DomainEvent;
use paylog_store::RecordedEvent;

use crate::error::{ProjectionError, Result};

/// Below this many events a batch is decoded on the calling thread: spawning costs more.
const PARALLEL_THRESHOLD: usize = 512;

/// Decodes one envelope (upcasting old schema versions).
pub fn decode_one(event: &RecordedEvent) -> Result<DomainEvent> {
    paylog_core::codec::decode(&event.event_type, event.schema_version, &event.payload).map_err(
        |source| ProjectionError::Decode {
            position: event.position,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            source,
        },
    )
}

/// Decodes a batch; the first failure (by position) is the error.
pub fn decode_batch(events: &[RecordedEvent]) -> Result<Vec<DomainEvent>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || events.len() < PARALLEL_THRESHOLD {
        return events.iter().map(decode_one).collect();
    }
    let chunk = events.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(decode_one).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut decoded = Vec::with_capacity(events.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| ProjectionError::Task("a decoding thread panicked".into()))??;
            decoded.extend(part);
        }
        Ok(decoded)
    })
}
