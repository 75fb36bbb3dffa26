//! The application's services: what a request, the reconciler or a CLI command asks
//! of paylog, independent of HTTP.
//!
//! A handler parses its request, calls one method of one service and maps the answer;
//! everything between (lookups, the command, idempotent replays, races, waiting for
//! the views) happens here. Services use the engine, the views and WeChat below them
//! and never anything of `http`.
//!
//! - [`accounts`]: WeChat login, password sign-up and sign-in, bearer tokens;
//! - [`catalog`]: products and their stock;
//! - [`ordering`]: a user's orders: place, show, cancel, pay; admin refunds;
//! - [`payments`]: what happens between an order, WeChat Pay and the log (notifies,
//!   refunds, the reconciler);
//! - [`reconciliation`]: the daily bill compared with the log, missing payments
//!   recovered, the daily run;
//! - [`audit`]: an order's history, the raw log, daily sales;
//! - [`health`]: liveness and readiness;
//! - [`keyed_lock`]: one async lock per key, for decisions read from the views;
//! - [`periodic`]: the loop behind every background job;
//! - [`shipping`], [`uploader`], [`settlement_check`]: shipments, their upload to
//!   WeChat and its retries, and asking WeChat about settlements no push reported;
//! - [`message_push`]: WeChat's message push (settlement, reminders).

pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod health;
pub mod keyed_lock;
pub mod message_push;
pub mod ordering;
pub mod payments;
pub mod periodic;
pub mod reconciliation;
pub mod settlement_check;
pub mod shipping;
pub mod uploader;

use std::sync::Arc;
use std::time::Duration;

use paylog_engine::Committed;
use paylog_projections::Views;

use crate::metrics::Metrics;

/// How long a command waits for the views to show its effect before answering.
pub const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(2);

/// What every command a client waits on ends with: counted, then visible.
#[derive(Debug, Clone)]
pub struct Settle {
    views: Views,
    metrics: Arc<Metrics>,
}

impl Settle {
    pub fn new(views: Views, metrics: Arc<Metrics>) -> Self {
        Self { views, metrics }
    }

    /// Read-your-writes: counts the command's appends, then waits (bounded) until the
    /// views have applied its position, so the client's next read sees its write.
    pub async fn settle(&self, committed: &Committed) {
        self.metrics.appended(committed);
        if !self
            .views
            .wait_for(committed.position, READ_YOUR_WRITES_TIMEOUT)
            .await
        {
            tracing::warn!(
                position = committed.position,
                "views did not reach the command's position in time"
            );
        }
    }
}
