//! The background uploader: shipping information WeChat does not have yet (an upload
//! WeChat refused, or whose outcome is unknown: a timeout, a crash between the
//! shipment and its upload) is uploaded again, each shipment on its own bounded
//! exponential backoff.
//!
//! The work list is the `to_upload` view (shipments not accepted, receipt not
//! confirmed, order not fully refunded), oldest first. A shipment is due
//! [`backoff`]`(attempts)` after its last attempt, where attempts are the refusals the
//! log recorded plus the unknown outcomes this process saw (those record nothing, so
//! they are kept in memory: a restart tries such a shipment again at once). A refusal
//! the same upload can never get past ([`wxa::is_final_refusal`]: the payment's state,
//! the body) is not retried: only a changed shipment (the admin's `ship`) can pass;
//! and nothing is retried past [`MAX_UPLOAD_ATTEMPTS`]. The upload itself is
//! [`Shipping::upload`], which serialises uploads of one order, so the uploader racing
//! an admin's request never sends a shipment twice.
//!
//! Tests drive [`Uploader::run_once`] directly with the injected clock; `paylog serve`
//! runs it every `--upload-retry-interval`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_core::OrderId;
use paylog_core::order::UploadStatus;
use paylog_core::wxa;
use paylog_engine::Clock;
use paylog_projections::{Page, Views};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::shipping::{Shipping, UploadOutcome};
use crate::error::Error;
use crate::services::periodic::{self, JobStatus};

/// The first retry comes this long after the last attempt; each further one waits
/// twice as long as the one before.
pub const UPLOAD_RETRY_BASE: Duration = Duration::from_secs(30);
/// No retry waits longer than this.
pub const UPLOAD_RETRY_MAX: Duration = Duration::from_secs(3600);
/// Attempts (refused or unknown) after which a shipment is left to the admin.
pub const MAX_UPLOAD_ATTEMPTS: u32 = 20;
/// Most uploads sent in one run (the rest wait for the next one).
const MAX_UPLOADS_PER_RUN: usize = 200;
/// Most shipments looked at in one run.
const MAX_SEEN_PER_RUN: usize = 20_000;

/// How long to wait after the last of `attempts` attempts before the next one:
/// [`UPLOAD_RETRY_BASE`] doubled per attempt, at most [`UPLOAD_RETRY_MAX`].
pub fn backoff(attempts: u32) -> Duration {
    UPLOAD_RETRY_BASE
        .checked_mul(1u32.checked_shl(attempts).unwrap_or(u32::MAX))
        .unwrap_or(UPLOAD_RETRY_MAX)
        .min(UPLOAD_RETRY_MAX)
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Shipments uploaded again (WeChat accepted them).
    pub uploaded: usize,
    /// Uploads WeChat refused again (recorded).
    pub refused: usize,
    /// Uploads whose outcome is unknown (nothing recorded).
    pub unknown: usize,
    /// Shipments not due yet.
    pub waiting: usize,
    /// Shipments not retried: a final refusal, or out of attempts.
    pub given_up: usize,
    /// Shipments whose upload failed here (read errors…), retried next run.
    pub errors: usize,
}

/// Unknown outcomes of one shipment revision, seen by this process.
#[derive(Debug, Clone, Copy)]
struct Unknown {
    revision: u32,
    attempts: u32,
    last: DateTime<Utc>,
}

/// The background uploader; cheap to clone (clones share their memory).
#[derive(Debug, Clone)]
pub struct Uploader {
    shipping: Shipping,
    views: Views,
    clock: Arc<dyn Clock>,
    interval: Duration,
    unknown: Arc<Mutex<HashMap<OrderId, Unknown>>>,
    status: JobStatus,
}

impl Uploader {
    pub fn new(
        shipping: Shipping,
        views: Views,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Self {
        Self {
            shipping,
            views,
            clock,
            interval,
            unknown: Arc::default(),
            status: JobStatus::new("uploader"),
        }
    }

    /// Its runs: when the last one started and finished, how it ended, its last error.
    pub fn status(&self) -> JobStatus {
        self.status.clone()
    }

    fn unknown(&self) -> std::sync::MutexGuard<'_, HashMap<OrderId, Unknown>> {
        self.unknown.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One pass over the shipments WeChat does not have, as of now by the clock,
    /// recorded in [`Uploader::status`].
    pub async fn run_once(&self) -> Result<UploadReport, Error> {
        self.status.track(&*self.clock, self.pass()).await
    }

    async fn pass(&self) -> Result<UploadReport, Error> {
        let now = self.clock.now();
        let mut report = UploadReport::default();
        let mut page = Page::first(Page::MAX_LIMIT);
        let mut seen = HashSet::new();
        let mut sent = 0;
        let complete = loop {
            let batch = self.views.to_upload(&page)?;
            for order in &batch.items {
                let Some(s) = &order.shipping else { continue };
                if s.upload == UploadStatus::Uploaded {
                    continue;
                }
                seen.insert(order.order_id);
                if let Some(e) = s.last_error.as_ref().filter(|e| {
                    s.upload == UploadStatus::Failed && wxa::is_final_refusal(e.errcode)
                }) {
                    tracing::debug!(order_id = %order.order_id, errcode = e.errcode, "final refusal: not retried");
                    report.given_up += 1;
                    continue;
                }
                let mem = self
                    .unknown()
                    .get(&order.order_id)
                    .copied()
                    .filter(|u| u.revision == s.revision);
                let attempts = s
                    .failed_attempts
                    .saturating_add(mem.map_or(0, |u| u.attempts));
                if attempts >= MAX_UPLOAD_ATTEMPTS {
                    report.given_up += 1;
                    continue;
                }
                let last = mem.map_or(order.updated_at, |u| u.last.max(order.updated_at));
                let wait =
                    chrono::Duration::from_std(backoff(attempts)).unwrap_or(chrono::Duration::MAX);
                if now < last + wait {
                    report.waiting += 1;
                    continue;
                }
                if sent >= MAX_UPLOADS_PER_RUN {
                    report.waiting += 1;
                    continue;
                }
                sent += 1;
                self.attempt(order.order_id, s.revision, mem, now, &mut report)
                    .await;
            }
            match batch.next_cursor {
                Some(cursor) if seen.len() < MAX_SEEN_PER_RUN => page.cursor = Some(cursor),
                Some(_) => break false,
                None => break true,
            }
        };
        if complete {
            // Forget shipments that left the list (uploaded, received, refunded).
            self.unknown().retain(|id, _| seen.contains(id));
        }
        if sent > 0 || report.errors > 0 {
            tracing::info!(?report, "uploader run");
        }
        Ok(report)
    }

    async fn attempt(
        &self,
        order_id: OrderId,
        revision: u32,
        mem: Option<Unknown>,
        now: DateTime<Utc>,
        report: &mut UploadReport,
    ) {
        let remember = |attempts: u32| Unknown {
            revision,
            attempts,
            last: now,
        };
        let known = mem.map_or(0, |u| u.attempts);
        match self.shipping.upload(order_id).await {
            Ok((_, UploadOutcome::Uploaded)) => {
                report.uploaded += 1;
                self.unknown().remove(&order_id);
            }
            Ok((_, UploadOutcome::Refused { errcode })) => {
                report.refused += 1;
                tracing::info!(%order_id, revision, errcode, "WeChat refused the shipping info again");
                // The refusal is in the log; keep the unknown ones counted.
                self.unknown().insert(order_id, remember(known));
            }
            Ok((_, UploadOutcome::Unknown)) => {
                report.unknown += 1;
                self.unknown()
                    .insert(order_id, remember(known.saturating_add(1)));
            }
            Err(e) => {
                report.errors += 1;
                tracing::warn!(%order_id, error = %e, "uploading shipping info failed");
                self.status
                    .note_error(&format_args!("order {order_id}: {e}"));
                self.unknown()
                    .insert(order_id, remember(known.saturating_add(1)));
            }
        }
    }

    /// Runs [`Uploader::run_once`] every interval until `stop` turns true.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        periodic::spawn_every("uploader", self.interval, stop, move || {
            let job = self.clone();
            async move { job.run_once().await }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_its_base_up_to_its_bound() {
        assert_eq!(backoff(0), UPLOAD_RETRY_BASE);
        assert_eq!(backoff(1), UPLOAD_RETRY_BASE * 2);
        assert_eq!(backoff(3), UPLOAD_RETRY_BASE * 8);
        assert_eq!(backoff(7), UPLOAD_RETRY_MAX);
        assert_eq!(backoff(u32::MAX), UPLOAD_RETRY_MAX);
        assert!((0..64).all(|n| backoff(n) <= backoff(n + 1)));
    }
}
