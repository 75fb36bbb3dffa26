//! [`Projector`]: the task that keeps the views following the log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use paylog_store::EventStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{ProjectionError, Result};
use crate::views::Views;

/// Most events applied in one `WriteBatch` while following the log live.
pub const FOLLOW_BATCH: usize = 1024;

/// Pause after a failure (store error, undecodable event) before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Follows the log from the views' checkpoint and applies it, batch by batch.
#[derive(Debug)]
pub struct Projector;

/// The running projector. Dropping it stops the projector at its next wait (a batch
/// being applied still commits, atomically); [`ProjectorHandle::shutdown`] also waits
/// for the task to end.
#[derive(Debug)]
pub struct ProjectorHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl ProjectorHandle {
    /// Stops the projector and waits until it has.
    pub async fn shutdown(mut self) {
        drop(self.stop.take());
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The last failure the projector met and is retrying after, if it has not
    /// recovered since (for health checks).
    pub fn last_error(&self) -> Option<String> {
        self.status().last_error()
    }

    /// A cheap, clonable reader of [`ProjectorHandle::last_error`] that outlives
    /// nothing it should not (for the health endpoints).
    pub fn status(&self) -> ProjectorStatus {
        ProjectorStatus {
            last_error: Arc::clone(&self.last_error),
        }
    }
}

/// Reads the projector's last unrecovered failure; see [`ProjectorHandle::status`].
#[derive(Debug, Clone)]
pub struct ProjectorStatus {
    last_error: Arc<Mutex<Option<String>>>,
}

impl ProjectorStatus {
    /// The last failure the projector met and is retrying after, if any.
    pub fn last_error(&self) -> Option<String> {
        match self.last_error.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Drop for ProjectorHandle {
    fn drop(&mut self) {
        // Dropping the sender resolves the task's stop receiver.
        drop(self.stop.take());
    }
}

enum Exit {
    Stopped,
    /// Another generation became active (a rebuild swapped): follow that one.
    Swapped,
}

impl Projector {
    /// Spawns the follow loop on the current tokio runtime.
    ///
    /// If the active generation was built by older projection versions, the projector
    /// first rebuilds into a new generation (the old one keeps answering queries,
    /// frozen) and swaps when it has caught up.
    pub fn spawn(store: Arc<dyn EventStore>, views: Views) -> ProjectorHandle {
        let (stop_tx, stop_rx) = oneshot::channel();
        let last_error = Arc::new(Mutex::new(None));
        let task = tokio::spawn(run(store, views, stop_rx, Arc::clone(&last_error)));
        ProjectorHandle {
            stop: Some(stop_tx),
            task: Some(task),
            last_error,
        }
    }
}

async fn run(
    store: Arc<dyn EventStore>,
    views: Views,
    mut stop: oneshot::Receiver<()>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    loop {
        let outcome = if views.is_current() {
            follow(&*store, &views, &mut stop).await
        } else {
            tracing::info!("views were built by older projection versions: rebuilding");
            tokio::select! {
                _ = &mut stop => Ok(Exit::Stopped),
                result = crate::rebuild::rebuild(&*store, &views, |_| {}) => result.map(|stats| {
                    tracing::info!(?stats, "views rebuilt");
                    Exit::Swapped
                }),
            }
        };
        let set_error = |error: Option<String>| match last_error.lock() {
            Ok(mut guard) => *guard = error,
            Err(poisoned) => *poisoned.into_inner() = error,
        };
        match outcome {
            Ok(Exit::Stopped) => return,
            Ok(Exit::Swapped) => set_error(None),
            Err(error) => {
                tracing::error!(%error, "projector failed; retrying");
                set_error(Some(error.to_string()));
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(RETRY_AFTER) => {}
                }
            }
        }
    }
}

async fn follow(
    store: &dyn EventStore,
    views: &Views,
    stop: &mut oneshot::Receiver<()>,
) -> Result<Exit> {
    let generation = views.active();
    let mut position = views.checkpoint_of(&generation)?;
    let mut stream = store.subscribe(position).ready_chunks(FOLLOW_BATCH);
    loop {
        let chunk = tokio::select! {
            biased;
            _ = &mut *stop => return Ok(Exit::Stopped),
            chunk = stream.next() => chunk,
        };
        let Some(chunk) = chunk else {
            return Err(ProjectionError::Store(paylog_store::StoreError::Closed));
        };
        let mut events = Vec::with_capacity(chunk.len());
        let mut failure = None;
        for item in chunk {
            match item {
                Ok(event) => events.push(event),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if !events.is_empty() {
            let _guard = views.inner.write_lock.lock().await;
            if views.generation_id() != generation.id {
                return Ok(Exit::Swapped);
            }
            let (worker, target) = (views.clone(), Arc::clone(&generation));
            position = tokio::task::spawn_blocking(move || {
                crate::apply::apply_batch(worker.db(), &target, position, &events)
            })
            .await
            .map_err(|e| ProjectionError::Task(e.to_string()))??;
            views.publish(generation.id, position);
        }
        if let Some(error) = failure {
            return Err(error.into());
        }
    }
}
