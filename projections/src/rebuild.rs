//! Rebuilding every view from position 0 into a fresh generation, then swapping.
//!
//! The new generation is filled from the log in batches of [`REBUILD_BATCH`] events
//! (one `WriteBatch` each) while the active one keeps serving. To swap, the rebuild
//! takes the views' write lock (so the live projector is between batches), applies the
//! last events up to the log's head, and only then makes the new generation active:
//! the published position never goes backwards.

use std::time::{Duration, Instant};

use paylog_core::DomainEvent;
use paylog_store::{EventStore, RecordedEvent};
use serde::Serialize;

use crate::diff::{Difference, diff_generations};
use crate::error::{ProjectionError, Result};
use crate::views::{Generation, Views};

/// Events read and applied per batch during a rebuild or catch-up.
pub const REBUILD_BATCH: usize = 4096;

/// Where a rebuild is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// The last position applied.
    pub position: u64,
    /// The log's head when the rebuild looked last.
    pub head: u64,
    /// Events applied so far by this rebuild.
    pub events: u64,
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RebuildStats {
    /// The generation built.
    pub generation: u64,
    /// Events applied.
    pub events: u64,
    /// The position the new generation reached.
    pub position: u64,
    pub elapsed: Duration,
}

impl RebuildStats {
    pub fn events_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        }
    }
}

/// A generation rebuilt from the log that does not serve queries yet: compare it with
/// the live views ([`StagedRebuild::diff`]), then [`activate`](StagedRebuild::activate)
/// or [`discard`](StagedRebuild::discard) it. Dropped without either, it is discarded
/// the next time the views are opened.
#[derive(Debug)]
pub struct StagedRebuild {
    views: Views,
    generation: Generation,
    stats: RebuildStats,
    started: Instant,
}

impl StagedRebuild {
    pub fn stats(&self) -> RebuildStats {
        self.stats
    }

    /// Differences between the live (active) views, left, and the rebuilt ones, right:
    /// at most `max`.
    pub fn diff(&self, max: usize) -> Result<Vec<Difference>> {
        let active = self.views.active();
        diff_generations(
            self.views.db(),
            &active,
            self.views.db(),
            &self.generation,
            max,
        )
    }

    /// Catches up with the log's head under the write lock and makes the rebuilt
    /// generation the one queries read; the old one is dropped.
    pub async fn activate(mut self, store: &dyn EventStore) -> Result<RebuildStats> {
        let views = self.views.clone();
        let _guard = views.inner.write_lock.lock().await;
        let (position, events) = catch_up(
            store,
            &views,
            &self.generation,
            self.stats.position,
            &mut |_| {},
        )
        .await?;
        self.stats.position = position;
        self.stats.events += events;
        self.stats.elapsed = self.started.elapsed();
        let generation = self.generation.clone();
        let activating = views.clone();
        tokio::task::spawn_blocking(move || activating.activate(generation))
            .await
            .map_err(|e| ProjectionError::Task(e.to_string()))??;
        Ok(self.stats)
    }

    /// Drops the rebuilt generation; the live views stay as they were.
    pub fn discard(self) -> Result<()> {
        self.views.drop_generation(self.generation.id)
    }
}

/// Rebuilds every view from position 0 into a new generation of `views` without
/// activating it. The active generation keeps serving (and following) meanwhile.
pub async fn rebuild_staged(
    store: &dyn EventStore,
    views: &Views,
    mut progress: impl FnMut(RebuildProgress) + Send,
) -> Result<StagedRebuild> {
    let started = Instant::now();
    let creator = views.clone();
    let generation = tokio::task::spawn_blocking(move || creator.create_generation())
        .await
        .map_err(|e| ProjectionError::Task(e.to_string()))??;
    let (position, events) = catch_up(store, views, &generation, 0, &mut progress).await?;
    Ok(StagedRebuild {
        views: views.clone(),
        stats: RebuildStats {
            generation: generation.id,
            events,
            position,
            elapsed: started.elapsed(),
        },
        generation,
        started,
    })
}

/// Rebuilds every view from position 0 into a new generation and swaps it in. Safe
/// while a [`crate::Projector`] runs: it moves over to the new generation.
pub async fn rebuild(
    store: &dyn EventStore,
    views: &Views,
    progress: impl FnMut(RebuildProgress) + Send,
) -> Result<RebuildStats> {
    rebuild_staged(store, views, progress)
        .await?
        .activate(store)
        .await
}

/// Batches read and decoded ahead of the one being applied: enough to keep the
/// applier busy, few enough that memory stays bounded (each is [`REBUILD_BATCH`]
/// events and their decoded form).
const READ_AHEAD: usize = 2;

/// Applies the log after `from` to `generation` until the head, batch by batch.
/// Returns the position reached and the number of events applied.
///
/// Two stages run at once, on two blocking threads: a reader reads batch N+1 from the
/// log and decodes it while the applier folds batch N into the views and writes it.
/// A bounded channel of [`READ_AHEAD`] batches joins them, so on two cores the rebuild
/// takes the time of the slower stage instead of the sum of both.
pub(crate) async fn catch_up(
    store: &dyn EventStore,
    views: &Views,
    generation: &Generation,
    from: u64,
    progress: &mut (dyn FnMut(RebuildProgress) + Send),
) -> Result<(u64, u64)> {
    type Decoded = (Vec<RecordedEvent>, Vec<DomainEvent>);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Decoded>>(READ_AHEAD);
    let reader = async move {
        let mut position = from;
        loop {
            let batch = match store.read_all(position, REBUILD_BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    let _ = tx.send(Err(error.into())).await;
                    return;
                }
            };
            let Some(last) = batch.last().map(|e| e.position) else {
                return;
            };
            position = last;
            let decoded = tokio::task::spawn_blocking(move || {
                let decoded = batch
                    .iter()
                    .map(crate::decode::decode_one)
                    .collect::<Result<Vec<_>>>()?;
                Ok((batch, decoded))
            })
            .await
            .map_err(|e| ProjectionError::Task(e.to_string()))
            .and_then(|decoded| decoded);
            let failed = decoded.is_err();
            // The applier stopped (it failed): nothing more to read for it.
            if tx.send(decoded).await.is_err() || failed {
                return;
            }
        }
    };
    let applier = async {
        // Owned here, so that an applier that fails drops it and the reader stops.
        let mut rx = rx;
        let mut position = from;
        let mut applied = 0u64;
        while let Some(decoded) = rx.recv().await {
            let (batch, events) = decoded?;
            let count = batch.len() as u64;
            let (worker, target) = (views.clone(), generation.clone());
            position = tokio::task::spawn_blocking(move || {
                crate::apply::apply_decoded(worker.db(), &target, position, &batch, &events)
            })
            .await
            .map_err(|e| ProjectionError::Task(e.to_string()))??;
            applied += count;
            views.publish(generation.id, position);
            progress(RebuildProgress {
                position,
                head: store.head().max(position),
                events: applied,
            });
        }
        Ok((position, applied))
    };
    let ((), result) = futures::join!(reader, applier);
    result
}
