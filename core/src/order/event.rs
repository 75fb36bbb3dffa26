//! Events of an order: the facts auditors read. Amounts and totals are computed when
//! decided and carried here, so that projections and audits never recompute them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::shipping::{
    OrderSettled, OrderShipped, ReceiptConfirmed, ShippingInfoUploaded, ShippingUploadFailed,
};
use super::{CloseReason, OrderStatus};
use crate::ids::{OrderId, OutTradeNo, ProductId, UserId};
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, PayApi, PrepayId, RefundId, TransactionId};

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
    #[serde(with = "crate::compact_time")]
    pub expires_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// `Serialize` is written out below: JSON leaves `api` out when v2, which a binary
/// format without field names cannot do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentRequested {
    pub order_id: OrderId,
    pub prepay_id: PrepayId,
    #[serde(with = "crate::compact_time")]
    pub valid_until: DateTime<Utc>,
    /// The API the prepay was opened on. Absent in events recorded before v3
    /// (they are all v2), and left out of JSON when v2 so those payloads are unchanged.
    #[serde(default)]
    pub api: PayApi,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

impl Serialize for PaymentRequested {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // JSON (human-readable) skips a v2 `api`, so payloads written before v3 stay
        // byte for byte what they were; a binary format reads fields by position, so
        // there every field is always written.
        let skip_api = serializer.is_human_readable() && self.api.is_v2();
        let fields = if skip_api { 4 } else { 5 };
        let mut s = serializer.serialize_struct("PaymentRequested", fields)?;
        s.serialize_field("order_id", &self.order_id)?;
        s.serialize_field("prepay_id", &self.prepay_id)?;
        s.serialize_field(
            "valid_until",
            &crate::compact_time::Compact(&self.valid_until),
        )?;
        if skip_api {
            s.skip_field("api")?;
        } else {
            s.serialize_field("api", &self.api)?;
        }
        s.serialize_field("at", &crate::compact_time::Compact(&self.at))?;
        s.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentConfirmed {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub amount: Fen,
    /// WeChat's `time_end`, converted to UTC.
    #[serde(with = "crate::compact_time")]
    pub paid_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
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
    #[serde(with = "crate::compact_time")]
    pub paid_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
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
    #[serde(with = "crate::compact_time")]
    pub paid_at: DateTime<Utc>,
    /// `Cancelled` or `Closed`.
    pub order_status: OrderStatus,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: OrderId,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// Schema v2 (v1 had no `reason`: every v1 close was an expiry; see
/// [`codec`](crate::codec) for the upcast).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderClosed {
    pub order_id: OrderId,
    pub reason: CloseReason,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// WeChat reported a second, different transaction for an order it had already
/// paid (a signed notify naming another `transaction_id`; WeChat should never send
/// one). The money was taken, so it is recorded for an operator to refund, never as
/// a second payment; the order's status does not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicatePaymentReceived {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub amount: Fen,
    #[serde(with = "crate::compact_time")]
    pub paid_at: DateTime<Utc>,
    /// The transaction that paid the order.
    pub paid_by: TransactionId,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequested {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub reason: String,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// An admin returns an anomalous payment (late, wrong amount, duplicate): exactly
/// that transaction's amount, to be submitted to WeChat against that transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalousPaymentRefundRequested {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub reason: String,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// A pending (or needing attention) refund succeeded. Settles a refund of the payment
/// or of an anomaly alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundConfirmed {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub refund_id: RefundId,
    pub amount: Fen,
    /// Total refunded of the order's payment after this refund (unchanged by the
    /// refund of an anomalous payment).
    pub refunded_after: Fen,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// WeChat reported SUCCESS for a refund the log had recorded as Failed (possible only
/// if WeChat refunded after all, e.g. a request that was retried outside paylog or a
/// refusal that WeChat reversed). The money did leave the merchant, so the log
/// records it rather than refusing the fact for ever: the refund becomes Confirmed,
/// and this distinct event (never a plain `RefundConfirmed`) lets audits and alerts
/// find every such case. `refunded_after` is as in [`RefundConfirmed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundConfirmedAfterFailure {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub refund_id: RefundId,
    pub amount: Fen,
    pub refunded_after: Fen,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// WeChat's `refund_status=CHANGE` ("refund abnormal"): the money left the merchant
/// but did not reach the shopper; an operator must act at the merchant platform.
/// The refund stays `NeedsAttention` (its amount not refundable again) until
/// `RefundAttentionResolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNeedsAttention {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    /// What WeChat said (e.g. `CHANGE` and its account hint), for the operator.
    pub reason: String,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// How an operator resolved a refund that needed attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttentionResolution {
    /// The shopper got the money by other means (the platform's manual refund, a
    /// transfer): the refund is Confirmed.
    RefundedOtherwise,
    /// The operator re-initiated the refund at WeChat: it is Pending again and is
    /// settled like any pending refund (notify or refundquery).
    Retried,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAttentionResolved {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub resolution: AttentionResolution,
    /// The operator's note (at most [`MAX_REFUND_REASON_CHARS`](super::MAX_REFUND_REASON_CHARS)).
    pub note: String,
    /// As in [`RefundConfirmed`]: unchanged unless the payment's refund is confirmed.
    pub refunded_after: Fen,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundFailed {
    pub order_id: OrderId,
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub reason: String,
    #[serde(with = "crate::compact_time")]
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
    DuplicatePaymentReceived(DuplicatePaymentReceived),
    AnomalousPaymentRefundRequested(AnomalousPaymentRefundRequested),
    RefundConfirmedAfterFailure(RefundConfirmedAfterFailure),
    RefundNeedsAttention(RefundNeedsAttention),
    RefundAttentionResolved(RefundAttentionResolved),
    OrderShipped(OrderShipped),
    ShippingInfoUploaded(ShippingInfoUploaded),
    ShippingUploadFailed(ShippingUploadFailed),
    ReceiptConfirmed(ReceiptConfirmed),
    OrderSettled(OrderSettled),
}

impl OrderEvent {
    /// The order every event belongs to.
    pub fn order_id(&self) -> OrderId {
        match self {
            Self::OrderPlaced(e) => e.order_id,
            Self::PaymentRequested(e) => e.order_id,
            Self::PaymentConfirmed(e) => e.order_id,
            Self::PaymentAmountMismatch(e) => e.order_id,
            Self::LatePaymentReceived(e) => e.order_id,
            Self::OrderCancelled(e) => e.order_id,
            Self::OrderClosed(e) => e.order_id,
            Self::RefundRequested(e) => e.order_id,
            Self::RefundConfirmed(e) => e.order_id,
            Self::RefundFailed(e) => e.order_id,
            Self::DuplicatePaymentReceived(e) => e.order_id,
            Self::AnomalousPaymentRefundRequested(e) => e.order_id,
            Self::RefundConfirmedAfterFailure(e) => e.order_id,
            Self::RefundNeedsAttention(e) => e.order_id,
            Self::RefundAttentionResolved(e) => e.order_id,
            Self::OrderShipped(e) => e.order_id,
            Self::ShippingInfoUploaded(e) => e.order_id,
            Self::ShippingUploadFailed(e) => e.order_id,
            Self::ReceiptConfirmed(e) => e.order_id,
            Self::OrderSettled(e) => e.order_id,
        }
    }
}
