//! [`AppState`]: what every handler shares (engine, views, payments, keys, metrics).

use std::sync::Arc;
use std::time::Duration;

use paylog_projections::Views;
use secrecy::SecretString;

use super::metrics::Metrics;
use super::token::TokenKeys;
use crate::engine::{Committed, Engine};
use crate::payments::Payments;

/// How long a command waits for the views to show its effect before answering.
pub const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Engine,
    pub views: Views,
    pub payments: Payments,
    pub tokens: Arc<TokenKeys>,
    /// `None`: the admin API is disabled.
    pub admin_token: Option<Arc<SecretString>>,
    pub metrics: Arc<Metrics>,
    /// How long a new order may wait for its payment.
    pub payment_timeout: Duration,
}

impl AppState {
    /// Read-your-writes: counts the command's appends, then waits (bounded) until the
    /// views have applied its position, so the client's next read sees its write.
    pub async fn settle(&self, command: &str, committed: &Committed) {
        self.metrics.appended(command, committed);
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
