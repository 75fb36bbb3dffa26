//! The view structs queries return: serde-serialisable, and stored (postcard) as is.
//!
//! [`OrderView`] and [`ProductView`] *are* core's `OrderState` and `ProductState`: the
//! projections fold them with core's own `evolve` and store them as they are, so a view
//! can never disagree with the domain's idea of an order or a product.

use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::identity::{OpenId, Username};
use paylog_core::order::{OrderState, OrderStatus};
use paylog_core::payment_refs::{OutRefundNo, RefundId, TransactionId};
use paylog_core::product::ProductState;
use paylog_core::{Fen, OrderId, OutTradeNo, UserId};
use serde::{Deserialize, Serialize};

/// A registered user. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub user_id: UserId,
    pub username: Option<Username>,
    pub openid: Option<OpenId>,
    /// Whether the user signs in with a password (the hash itself stays in the log).
    pub has_password: bool,
    #[serde(with = "paylog_core::compact_time")]
    pub registered_at: DateTime<Utc>,
}

/// A product of the catalog with its current price and stock: core's own state, stored
/// as is, so the view can never disagree with the domain.
pub type ProductView = ProductState;

/// One line of a user's order list (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub total: Fen,
    pub paid: Fen,
    pub refunded: Fen,
    /// Number of lines, and of items (sum of quantities).
    pub lines: u32,
    pub items: u64,
    #[serde(with = "paylog_core::compact_time")]
    pub placed_at: DateTime<Utc>,
    #[serde(with = "paylog_core::compact_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "paylog_core::compact_time")]
    pub expires_at: DateTime<Utc>,
}

impl From<&OrderView> for OrderSummary {
    fn from(o: &OrderView) -> Self {
        OrderSummary {
            order_id: o.order_id,
            status: o.status,
            total: o.total,
            paid: o.paid,
            refunded: o.refunded,
            lines: u32::try_from(o.lines.len()).unwrap_or(u32::MAX),
            items: o.lines.iter().map(|l| u64::from(l.quantity)).sum(),
            placed_at: o.placed_at,
            updated_at: o.updated_at,
            expires_at: o.expires_at,
        }
    }
}

/// The whole of one order — lines, totals, status, payment, refunds, anomalies, times:
/// core's `OrderState`, stored as is and folded with core's own `evolve`, so a view can
/// never disagree with the domain's idea of an order.
pub type OrderView = OrderState;

/// What moved money, as WeChat will report it in its bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerKind {
    /// A confirmed payment of an order (`PaymentConfirmed`).
    Payment,
    /// A confirmed refund of the order's payment (`RefundConfirmed`,
    /// `RefundConfirmedAfterFailure`, or an operator's `RefundedOtherwise`).
    Refund,
    /// Money WeChat took that did not pay the order: wrong amount (`PaymentAmountMismatch`).
    AmountMismatch,
    /// Money WeChat took for a cancelled/closed order (`LatePaymentReceived`).
    LatePayment,
    /// A second transaction for an order already paid (`DuplicatePaymentReceived`).
    DuplicatePayment,
    /// An anomalous payment returned to the shopper (`RefundAnomalousPayment`, settled).
    AnomalyRefund,
}

/// One entry of the payments ledger, keyed by the log position of its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub position: u64,
    pub kind: LedgerKind,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub out_trade_no: OutTradeNo,
    pub amount: Fen,
    /// WeChat's payment transaction (for a refund: the refunded payment's).
    pub transaction_id: Option<TransactionId>,
    pub out_refund_no: Option<OutRefundNo>,
    /// WeChat's refund id (refunds only).
    pub refund_id: Option<RefundId>,
    /// When the money moved: WeChat's `time_end` for payments, the confirmation for refunds.
    #[serde(with = "paylog_core::compact_time")]
    pub occurred_at: DateTime<Utc>,
}

/// Sales of one calendar day in Asia/Shanghai.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DailySales {
    pub date: NaiveDate,
    /// Orders placed that day (by `OrderPlaced.at`).
    pub orders_placed: u64,
    /// Orders paid that day (by WeChat's `time_end`).
    pub orders_paid: u64,
    pub paid: Fen,
    /// Refunds of orders' payments confirmed that day (refunds of anomalous money are
    /// not sales: see the ledger).
    pub refunded: Fen,
}

/// An order that may still be paid: `Placed` or `PaymentRequested`, not yet paid,
/// cancelled or closed. Listed by `expires_at`, soonest first, for the reconciler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwaitingPayment {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub out_trade_no: OutTradeNo,
    pub status: OrderStatus,
    pub total: Fen,
    #[serde(with = "paylog_core::compact_time")]
    pub placed_at: DateTime<Utc>,
    /// When the latest prepay id was requested (`None` while still `Placed`).
    #[serde(default, with = "paylog_core::compact_time::option")]
    pub payment_requested_at: Option<DateTime<Utc>>,
    #[serde(default, with = "paylog_core::compact_time::option")]
    pub prepay_valid_until: Option<DateTime<Utc>>,
    #[serde(with = "paylog_core::compact_time")]
    pub expires_at: DateTime<Utc>,
}

impl From<&OrderView> for AwaitingPayment {
    fn from(o: &OrderView) -> Self {
        AwaitingPayment {
            order_id: o.order_id,
            user_id: o.user_id,
            out_trade_no: o.out_trade_no.clone(),
            status: o.status,
            total: o.total,
            placed_at: o.placed_at,
            payment_requested_at: o.prepay.as_ref().map(|p| p.requested_at),
            prepay_valid_until: o.prepay.as_ref().map(|p| p.valid_until),
            expires_at: o.expires_at,
        }
    }
}

/// Which page of a list to read: `cursor` is the `next_cursor` of the previous page
/// (`None` for the first page); `limit` is clamped to `1..=`[`Page::MAX_LIMIT`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub cursor: Option<String>,
    pub limit: usize,
}

impl Page {
    pub const MAX_LIMIT: usize = 200;
    pub const DEFAULT_LIMIT: usize = 20;

    /// The first page with `limit` items.
    pub fn first(limit: usize) -> Self {
        Page {
            cursor: None,
            limit,
        }
    }

    pub(crate) fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit.min(Self::MAX_LIMIT)
        }
    }
}

/// One page of results and the cursor of the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
