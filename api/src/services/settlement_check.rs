//! The settlement checker: WeChat's message push says when a shipped payment's receipt
//! is confirmed and its money settled, but a push can be lost (an outage, a console
//! misconfigured, plain mode's unconfirmed hints). So shipments WeChat has whose money
//! is not settled are asked about again (`get_order`, through [`Shipping::sync`], which
//! records only what WeChat reports) once they are older than the configured
//! `--settlement-check-after`, and then at most every [`SETTLEMENT_RECHECK`].
//!
//! The work list is the `to_settle` view (uploaded, not settled, not fully refunded),
//! oldest first shipment first, so a run stops at the first shipment too young to ask
//! about. When each order was last asked is kept in memory: a restart asks again at
//! once, which costs one `get_order` per shipment and changes nothing twice (the
//! domain appends nothing for a receipt or settlement already recorded).
//!
//! Tests drive [`SettlementChecker::run_once`] directly with the injected clock;
//! `paylog serve` runs it every [`SETTLEMENT_CHECK_EVERY`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_core::OrderId;
use paylog_engine::Clock;
use paylog_projections::{Page, Views};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::shipping::Shipping;
use crate::error::Error;
use crate::services::periodic::{self, JobStatus};

/// How often `paylog serve` looks for shipments to ask about.
pub const SETTLEMENT_CHECK_EVERY: Duration = Duration::from_secs(10 * 60);
/// One shipment is asked about at most this often.
pub const SETTLEMENT_RECHECK: Duration = Duration::from_secs(6 * 3600);
/// Most `get_order` calls in one run (the rest wait for the next one).
const MAX_ASKS_PER_RUN: usize = 200;
/// Most shipments looked at in one run.
const MAX_SEEN_PER_RUN: usize = 20_000;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Shipments whose receipt or settlement WeChat reported and the log now has.
    pub recorded: usize,
    /// Shipments WeChat reports nothing new about.
    pub unchanged: usize,
    /// Shipments too young, asked recently, or past this run's bound.
    pub waiting: usize,
    /// Shipments whose check failed here (WeChat unreachable…), asked next run.
    pub errors: usize,
}

/// The settlement checker; cheap to clone (clones share their memory).
#[derive(Debug, Clone)]
pub struct SettlementChecker {
    shipping: Shipping,
    views: Views,
    clock: Arc<dyn Clock>,
    check_after: Duration,
    asked: Arc<Mutex<HashMap<OrderId, DateTime<Utc>>>>,
    status: JobStatus,
}

impl SettlementChecker {
    pub fn new(
        shipping: Shipping,
        views: Views,
        clock: Arc<dyn Clock>,
        check_after: Duration,
    ) -> Self {
        Self {
            shipping,
            views,
            clock,
            check_after,
            asked: Arc::default(),
            status: JobStatus::new("settlement check"),
        }
    }

    /// Its runs: when the last one started and finished, how it ended, its last error.
    pub fn status(&self) -> JobStatus {
        self.status.clone()
    }

    fn asked(&self) -> std::sync::MutexGuard<'_, HashMap<OrderId, DateTime<Utc>>> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One pass over the unsettled shipments, as of now by the clock, recorded in
    /// [`SettlementChecker::status`].
    pub async fn run_once(&self) -> Result<CheckReport, Error> {
        self.status.track(&*self.clock, self.pass()).await
    }

    async fn pass(&self) -> Result<CheckReport, Error> {
        let now = self.clock.now();
        let after = chrono::Duration::from_std(self.check_after).unwrap_or(chrono::Duration::MAX);
        let recheck =
            chrono::Duration::from_std(SETTLEMENT_RECHECK).unwrap_or(chrono::Duration::MAX);
        let mut report = CheckReport::default();
        let mut page = Page::first(Page::MAX_LIMIT);
        let mut seen = HashSet::new();
        let mut asks = 0;
        let complete = 'pages: loop {
            let batch = self.views.to_settle(&page)?;
            for order in &batch.items {
                let Some(s) = &order.shipping else { continue };
                // Oldest first: every later shipment is younger still.
                if now < s.first_shipped_at + after {
                    break 'pages true;
                }
                seen.insert(order.order_id);
                let last = self.asked().get(&order.order_id).copied();
                if last.is_some_and(|t| now < t + recheck) || asks >= MAX_ASKS_PER_RUN {
                    report.waiting += 1;
                    continue;
                }
                asks += 1;
                self.asked().insert(order.order_id, now);
                self.ask(order.order_id, s, &mut report).await;
            }
            match batch.next_cursor {
                Some(cursor) if seen.len() < MAX_SEEN_PER_RUN => page.cursor = Some(cursor),
                Some(_) => break false,
                None => break true,
            }
        };
        if complete {
            // Forget shipments that left the list (settled, refunded).
            self.asked().retain(|id, _| seen.contains(id));
        }
        if report.recorded > 0 || report.errors > 0 {
            tracing::info!(?report, "settlement check run");
        }
        Ok(report)
    }

    async fn ask(
        &self,
        order_id: OrderId,
        before: &paylog_core::order::shipping::Shipping,
        report: &mut CheckReport,
    ) {
        match self.shipping.sync(order_id).await {
            Ok(after) => {
                let changed = after.shipping.as_ref().is_some_and(|s| {
                    s.receipt_confirmed_at != before.receipt_confirmed_at
                        || s.settled_at != before.settled_at
                });
                if changed {
                    report.recorded += 1;
                } else {
                    report.unchanged += 1;
                }
            }
            Err(e) => {
                report.errors += 1;
                tracing::warn!(%order_id, error = %e, "settlement check failed");
                self.status
                    .note_error(&format_args!("order {order_id}: {e}"));
            }
        }
    }

    /// Runs [`SettlementChecker::run_once`] every [`SETTLEMENT_CHECK_EVERY`] until
    /// `stop` turns true.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        periodic::spawn_every(
            "settlement check",
            SETTLEMENT_CHECK_EVERY,
            stop,
            move || {
                let job = self.clone();
                async move { job.run_once().await }
            },
        )
    }
}
