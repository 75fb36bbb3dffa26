//! Events of an order: the facts auditors read. Amounts and totals are computed when
//! decided and carried here, so that projections and audits never recompute them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::OrderStatus;
use crate::ids::{OrderId, OutTradeNo, ProductId, UserId};
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, PrepayId, RefundId, TransactionId};

/// A priced line: `line_total = unit_price × quantity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub product_name: String,
    pub unit_price: Fen,
    pub quantity: u32,
    pub line_total: Fen,
}

/// Schema v2 (v1 had no `expires_at`; see [`codec`](crate::codec) for the upcast).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub out_trade_no: OutTradeNo,
    pub lines: Vec<OrderLine>,
    pub total: Fen,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequested {
    pub order_id: OrderId,
    pub prepay_id: PrepayId,
    pub valid_until: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentConfirmed {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub amount: Fen,
    /// WeChat's `time_end`, converted to UTC.
    pub paid_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// WeChat reported a payment whose amount is not the order's total. Recorded for
/// audit and reconciliation; the order is not paid by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAmountMismatch {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub expected: Fen,
    pub received: Fen,
    pub paid_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// WeChat reported a payment for an order already cancelled or closed: the money
/// was really taken, so it is recorded (never silently dropped) for an operator to
/// refund. The order stays cancelled or closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatePaymentReceived {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub amount: Fen,
    pub paid_at: DateTime<Utc>,
    /// `Cancelled` or `Closed`.
    pub order_status: OrderStatus,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: OrderId,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderClosed {
    pub order_id: OrderId,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequested {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundConfirmed {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub refund_id: RefundId,
    pub amount: Fen,
    /// Total refunded on this order after this refund.
    pub refunded_after: Fen,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundFailed {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderEvent {
    OrderPlaced(OrderPlaced),
    PaymentRequested(PaymentRequested),
    PaymentConfirmed(PaymentConfirmed),
    PaymentAmountMismatch(PaymentAmountMismatch),
    LatePaymentReceived(LatePaymentReceived),
    OrderCancelled(OrderCancelled),
    OrderClosed(OrderClosed),
    RefundRequested(RefundRequested),
    RefundConfirmed(RefundConfirmed),
    RefundFailed(RefundFailed),
}
