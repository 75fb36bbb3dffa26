//! [`AppState`]: what every handler shares: the services, the admin token, metrics.

use std::sync::Arc;

use paylog_engine::Clock;
use secrecy::SecretString;

use crate::metrics::Metrics;
use crate::services::accounts::Accounts;
use crate::services::audit::Audit;
use crate::services::catalog::Catalog;
use crate::services::health::Health;
use crate::services::message_push::MessagePush;
use crate::services::ordering::Ordering;
use crate::services::payments::Payments;
use crate::services::reconciliation::BillReconciliation;
use crate::services::shipping::Shipping;

/// Shared by every handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub ordering: Ordering,
    /// For WeChat's notifies.
    pub payments: Payments,
    /// The daily bill's reconciliation (admin).
    pub bill: BillReconciliation,
    /// Shipments and their upload to WeChat (admin).
    pub shipping: Shipping,
    /// WeChat's message push (settlement events, reminders).
    pub message_push: MessagePush,
    pub audit: Audit,
    pub health: Health,
    /// `None`: the admin API is disabled.
    pub admin_token: Option<Arc<SecretString>>,
    pub metrics: Arc<Metrics>,
    /// "Now" for every command a request issues.
    pub clock: Arc<dyn Clock>,
}
