//! The one loop behind every background job (the payment reconciler, the shipping
//! uploader, the settlement checker): run a pass every interval until told to stop.
//! A pass that fails is logged and the next one comes at the next tick: every job is
//! written so that a pass may be repeated or skipped without harm.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Error;

/// Runs `pass` every `interval` (the first at once) until `stop` turns true; a tick
/// missed while a pass ran late is not made up for. `job` names it in the log.
pub fn spawn_every<F, Fut, R>(
    job: &'static str,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut pass: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Error>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = pass().await {
                tracing::warn!(job, error = %e, "background run failed");
            }
        }
    })
}
