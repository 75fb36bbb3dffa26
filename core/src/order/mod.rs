//! The order aggregate (stream `order-<uuid>`): from placement to payment and refunds.
//!
//! # Transitions
//!
//! Rows are commands, columns the status the order is in. A cell names the status
//! after the command (with the event appended), `—` an idempotent repeat that
//! appends nothing, and ✗ a refusal with `DomainError::InvalidTransition { from,
//! command }` unless another error is named. "none" is a stream with no events.
//! "refund table" is [A refund's life](#a-refunds-life) below, for the refund the
//! command names; "same" keeps the status the order had.
//!
//! | command ↓ / status → | none | Placed | PaymentRequested | Paid | Refunding | PartiallyRefunded | Refunded | Cancelled | Closed |
//! |---|---|---|---|---|---|---|---|---|---|
//! | `PlaceOrder`     | Placed (`OrderPlaced`) | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` |
//! | `RequestPayment` | ✗ `NotFound` | PaymentRequested¹ | PaymentRequested¹ (new prepay id) | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//! | `ConfirmPayment` | ✗ `NotFound` | Paid² | Paid² | —³ / same (`DuplicatePaymentReceived`)³ | —³ / same³ | —³ / same³ | —³ / same³ | Cancelled⁴ (`LatePaymentReceived`) | Closed⁴ (`LatePaymentReceived`) |
//! | `CancelOrder`    | ✗ `NotFound` | Cancelled | Cancelled | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//! | `CloseOrder`     | ✗ `NotFound` | Closed⁵ | Closed⁵ | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//! | `RequestRefund`  | ✗ `NotFound` | ✗ | ✗ | Refunding⁶ | Refunding⁶ | Refunding⁶ | —⁷ / ✗ `RefundExceedsPaid` | ✗ | ✗ |
//! | `RefundAnomalousPayment` | ✗ `NotFound` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` | same⁹ / ✗ `UnknownAnomaly` |
//! | `ConfirmRefund` | ✗ `NotFound` | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ |
//! | `FailRefund` | ✗ `NotFound` | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ | ✗ `UnknownRefund` / refund table⁷ ⁸ |
//! | `MarkRefundNeedsAttention` | ✗ `NotFound` | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ |
//! | `ResolveRefundAttention` | ✗ `NotFound` | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ | ✗ `UnknownRefund` / refund table¹⁰ |
//! | `ShipOrder` | ✗ `NotFound` | ✗ `OrderNotPaid` | ✗ `OrderNotPaid` | same¹¹ | same¹¹ | same¹¹ | ✗ `OrderFullyRefunded` | ✗ `OrderNotPaid` | ✗ `OrderNotPaid` |
//! | `RecordShippingUpload` | ✗ `NotFound` | ✗ `NotShipped` | ✗ `NotShipped` | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` | ✗ `NotShipped` |
//! | `FailShippingUpload` | ✗ `NotFound` | ✗ `NotShipped` | ✗ `NotShipped` | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` | ✗ `NotShipped` |
//! | `ConfirmReceipt` | ✗ `NotFound` | ✗ `NotShipped` | ✗ `NotShipped` | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` | ✗ `NotShipped` |
//! | `SettleOrder` | ✗ `NotFound` | ✗ `NotShipped` | ✗ `NotShipped` | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` / shipping table¹¹ | ✗ `NotShipped` | ✗ `NotShipped` |
//!
//! 1. Refused with `OrderExpired` at or after `expires_at`, and `InvalidPrepayValidity`
//!    unless `valid_until` is after `at`.
//! 2. Only if the amount equals the order total. Otherwise `PaymentAmountMismatch` is
//!    recorded for audit and the status does not change until `CloseOrder` (⁵);
//!    a repeat of that transaction appends nothing.
//! 3. The same `transaction_id` as a recorded one (the payment or an anomaly)
//!    appends nothing (WeChat retries its notify until acknowledged); any other
//!    transaction is `DuplicatePaymentReceived`: recorded as an anomaly (the money was
//!    taken), never as a second payment, and the status does not change.
//! 4. The money was really taken, so it is not refused: `LatePaymentReceived` is
//!    recorded for an operator to refund, and the order stays Cancelled/Closed (never
//!    Paid, its stock is already released). A repeat of that transaction appends nothing.
//! 5. `OrderClosed` with a [`CloseReason`]: `AmountMismatch` at any time once a
//!    wrong-amount payment is recorded (the order can never be paid: WeChat spent its
//!    `out_trade_no`), else `Expired`, refused with `NotYetExpired` before `expires_at`.
//!    [`crate::checkout::close_order`] releases the stock in the same append.
//! 6. `RefundRequested`; refused with `RefundExceedsPaid` if refunded + pending + amount
//!    would exceed the amount paid, `InvalidRefundAmount` for 0. Several refunds may be
//!    pending at once. The same `out_refund_no` with the same amount appends nothing,
//!    with another amount it is `DuplicateRefundNo`, and a number recorded as Failed is
//!    `RefundNoAlreadyFailed` (never sent to WeChat again; the API answers 409).
//! 7. Repeats of an already confirmed / failed / needing-attention refund append
//!    nothing; unknown refund numbers are `UnknownRefund`, a failure for a confirmed
//!    one `RefundAlreadyConfirmed`. A confirmation for a refund recorded as Failed is
//!    `RefundConfirmedAfterFailure`: WeChat refunded after all, the money left, so
//!    the log records it (refused only if it would refund more than the transaction).
//! 8. `RefundConfirmed` / `RefundFailed`. A pending refund and one needing attention
//!    settle alike. The status then follows from the payment's refund amounts:
//!    Refunding while any is pending or needs attention, else Paid if nothing was
//!    refunded, Refunded if everything was, PartiallyRefunded otherwise. A confirmation
//!    whose amount differs from the request is `RefundAmountMismatch`, and any
//!    confirmation (also `RefundedOtherwise`, ¹⁰) that would take the transaction's
//!    confirmed refunds above its amount is `RefundExceedsPaid` (possible only after a
//!    refund was revived from Failed). Refunds of anomalous payments never change
//!    the status.
//! 9. Refunds exactly the anomaly's amount (late, wrong-amount or duplicate payment),
//!    at most once: `AnomalyAlreadyRefunded` while a refund of it is pending, needs
//!    attention or is confirmed (after a Failed one, a new number may try again).
//!    Its settlement follows rows `ConfirmRefund` … `ResolveRefundAttention`.
//! 10. `MarkRefundNeedsAttention` (WeChat's `CHANGE`) → `RefundNeedsAttention`: the
//!     amount stays held back; a repeat appends nothing, a confirmed refund is
//!     `RefundAlreadyConfirmed`, a Failed one is revived (as in ⁷).
//!     `ResolveRefundAttention` → `RefundAttentionResolved`: `RefundedOtherwise`
//!     confirms it, `Retried` makes it pending again; refused with
//!     `RefundNotNeedingAttention` for any other refund.
//! 11. Shipping never changes the status: it is its own dimension of a paid order
//!     ([`OrderState::shipping`]), with its own table, "shipping table", in
//!     [`shipping`] (the stages Pending, UploadFailed, Uploaded, Received, Settled).
//!     Its errors are `DomainError::Shipping(ShippingError::…)`; an order shipped and
//!     then fully refunded keeps its shipment, so its uploads, receipt and
//!     settlement are still recorded.
//!
//! # A refund's life
//!
//! Rows are commands naming a recorded refund, columns its [`RefundStatus`]; the
//! same for a refund of the payment and of an anomalous payment. "request again" is
//! `RequestRefund` / `RefundAnomalousPayment` with the same number and amount.
//!
//! | command ↓ / refund status → | Pending | NeedsAttention | Confirmed | Failed |
//! |---|---|---|---|---|
//! | request again | — | — | — | ✗ `RefundNoAlreadyFailed` |
//! | `ConfirmRefund` | Confirmed (`RefundConfirmed`) | Confirmed (`RefundConfirmed`) | — | Confirmed (`RefundConfirmedAfterFailure`) |
//! | `FailRefund` | Failed (`RefundFailed`) | Failed (`RefundFailed`) | ✗ `RefundAlreadyConfirmed` | — |
//! | `MarkRefundNeedsAttention` | NeedsAttention (`RefundNeedsAttention`) | — | ✗ `RefundAlreadyConfirmed` | NeedsAttention (`RefundNeedsAttention`) |
//! | `ResolveRefundAttention` `RefundedOtherwise` | ✗ `RefundNotNeedingAttention` | Confirmed (`RefundAttentionResolved`) | ✗ `RefundNotNeedingAttention` | ✗ `RefundNotNeedingAttention` |
//! | `ResolveRefundAttention` `Retried` | ✗ `RefundNotNeedingAttention` | Pending (`RefundAttentionResolved`) | ✗ `RefundNotNeedingAttention` | ✗ `RefundNotNeedingAttention` |
//!
//! An unknown outcome (a transport error, `SYSTEMERROR`, a refund still
//! `PROCESSING`) is no command at all: the refund stays Pending until WeChat answers.
//!
//! # Money invariants
//!
//! Checked by `debug_assert!` on every decision (the state after the decided events
//! of a sound order is sound) and by `audit verify` through
//! [`OrderState::invariant_violations`]: per transaction, confirmed refunds never
//! exceed its amount, and confirmed + pending ones do not either
//! ([`OrderState::refund_bound_violations`] states the one exception); the money the
//! shop holds ([`OrderState::money_held`]) is never negative.
//!
//! Stock is not this aggregate's concern: [`crate::checkout`] reserves it with
//! `PlaceOrder` and releases it with `CancelOrder`/`CloseOrder`, atomically.

mod command;
mod decide;
mod event;
mod evolve;
#[cfg(test)]
mod money_tests;
#[cfg(test)]
mod refund_tests;
pub mod shipping;
#[cfg(test)]
mod shipping_tests;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transition_tests;

pub use command::{LineDraft, OrderCommand, PlaceOrder};
pub use event::{
    AnomalousPaymentRefundRequested, AttentionResolution, DuplicatePaymentReceived,
    LatePaymentReceived, OrderCancelled, OrderClosed, OrderEvent, OrderLine, OrderPlaced,
    PaymentAmountMismatch, PaymentConfirmed, PaymentRequested, RefundAttentionResolved,
    RefundConfirmed, RefundConfirmedAfterFailure, RefundFailed, RefundNeedsAttention,
    RefundRequested,
};
pub use shipping::{
    DeliveryMode, LogisticsType, MAX_EXPRESS_COMPANY_BYTES, MAX_ITEM_DESC_CHARS, MAX_PARCELS,
    MAX_SHIPPING_REUPLOADS, MAX_TRACKING_NO_BYTES, MAX_UPLOAD_ERROR_CHARS, OrderSettled,
    OrderShipped, Parcel, ReceiptConfirmed, Shipment, Shipping, ShippingError,
    ShippingInfoUploaded, ShippingStage, ShippingUploadFailed, UploadError, UploadStatus,
};
pub use state::{
    AnomalyKind, CloseReason, OrderState, OrderStatus, Payment, PaymentAnomaly, Prepay, Refund,
    RefundStatus, RefundTarget,
};

use crate::aggregate::Aggregate;
use crate::error::DomainError;

/// Most lines an order may have.
pub const MAX_LINES: usize = 50;
/// WeChat's `refund_desc` limit.
pub const MAX_REFUND_REASON_CHARS: usize = 80;

/// The order aggregate.
#[derive(Debug, Clone, Copy)]
pub struct Order;

impl Aggregate for Order {
    const NAME: &'static str = "order";
    type State = Option<OrderState>;
    type Command = OrderCommand;
    type Event = OrderEvent;

    fn decide(state: &Self::State, command: OrderCommand) -> Result<Vec<OrderEvent>, DomainError> {
        let events = decide::decide(state, command)?;
        // The money invariants hold after every decision on a sound order. Only
        // checked for sound orders: `audit verify` folds corrupt logs on purpose.
        #[cfg(debug_assertions)]
        if let Some(before) = state
            && !events.is_empty()
            && before.invariant_violations().is_empty()
        {
            let mut after = Some(before.clone());
            for event in &events {
                after = evolve::evolve(after, event);
            }
            let violations = after.map(|a| a.invariant_violations()).unwrap_or_default();
            debug_assert!(violations.is_empty(), "decision broke {violations:?}");
        }
        Ok(events)
    }

    fn evolve(state: Self::State, event: &OrderEvent) -> Self::State {
        evolve::evolve(state, event)
    }
}
