//! The order aggregate (stream `order-<uuid>`): from placement to payment and refunds.
//!
//! # Transitions
//!
//! Rows are commands, columns the status the order is in. A cell names the status
//! after the command (with the event appended), `—` an idempotent repeat that
//! appends nothing, and ✗ a refusal with `DomainError::InvalidTransition { from,
//! command }` unless another error is named. "none" is a stream with no events.
//!
//! | command ↓ / status → | none | Placed | PaymentRequested | Paid | Refunding | PartiallyRefunded | Refunded | Cancelled | Closed |
//! |---|---|---|---|---|---|---|---|---|---|
//! | `PlaceOrder`     | Placed (`OrderPlaced`) | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` | ✗ `AlreadyExists` |
//! | `RequestPayment` | ✗ `NotFound` | PaymentRequested¹ | PaymentRequested¹ (new prepay id) | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//! | `ConfirmPayment` | ✗ `NotFound` | Paid² | Paid² | —³ / ✗ `AlreadyPaid` | —³ / ✗ `AlreadyPaid` | —³ / ✗ `AlreadyPaid` | —³ / ✗ `AlreadyPaid` | Cancelled⁴ (`LatePaymentReceived`) | Closed⁴ (`LatePaymentReceived`) |
//! | `CancelOrder`    | ✗ `NotFound` | Cancelled | Cancelled | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//! | `CloseOrder`     | ✗ `NotFound` | Closed⁵ | Closed⁵ | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//! | `RequestRefund`  | ✗ `NotFound` | ✗ | ✗ | Refunding⁶ | Refunding⁶ | Refunding⁶ | —⁷ / ✗ `RefundExceedsPaid` | ✗ | ✗ |
//! | `ConfirmRefund`  | ✗ `NotFound` | ✗ | ✗ | ✗ `UnknownRefund`⁷ | Refunding / PartiallyRefunded / Refunded⁸ | —⁷ | —⁷ | ✗ | ✗ |
//! | `FailRefund`     | ✗ `NotFound` | ✗ | ✗ | ✗ `UnknownRefund`⁷ | Refunding / PartiallyRefunded / Paid⁸ | —⁷ | —⁷ | ✗ | ✗ |
//!
//! 1. Refused with `OrderExpired` at or after `expires_at`, and `InvalidPrepayValidity`
//!    unless `valid_until` is after `at`.
//! 2. Only if the amount equals the order total. Otherwise `PaymentAmountMismatch` is
//!    recorded for audit and the status does not change (the money must be handled
//!    by an operator); a repeat of that transaction appends nothing.
//! 3. The same `transaction_id` as the recorded payment appends nothing (WeChat
//!    retries its notify until acknowledged); any other transaction is `AlreadyPaid`.
//! 4. The money was really taken, so it is not refused: `LatePaymentReceived` is
//!    recorded for an operator to refund, and the order stays Cancelled/Closed (never
//!    Paid, its stock is already released). A repeat of that transaction appends nothing.
//! 5. Refused with `NotYetExpired` before `expires_at`.
//! 6. `RefundRequested`; refused with `RefundExceedsPaid` if refunded + pending + amount
//!    would exceed the amount paid, `InvalidRefundAmount` for 0. Several refunds may be
//!    pending at once. The same `out_refund_no` with the same amount appends nothing,
//!    with another amount it is `DuplicateRefundNo`.
//! 7. Repeats of an already requested / confirmed / failed refund append nothing;
//!    unknown refund numbers are `UnknownRefund`, a confirmation for a failed refund
//!    `RefundAlreadyFailed`, a failure for a confirmed one `RefundAlreadyConfirmed`.
//! 8. `RefundConfirmed` / `RefundFailed`. The status then follows from the amounts:
//!    Refunding while any refund is pending, else Paid if nothing was refunded,
//!    Refunded if everything was, PartiallyRefunded otherwise. A confirmation whose
//!    amount differs from the request is `RefundAmountMismatch`.
//!
//! Stock is not this aggregate's concern: [`crate::checkout`] reserves it with
//! `PlaceOrder` and releases it with `CancelOrder`/`CloseOrder`, atomically.

mod command;
mod decide;
mod event;
mod evolve;
#[cfg(test)]
mod refund_tests;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transition_tests;

pub use command::{LineDraft, OrderCommand, PlaceOrder};
pub use event::{
    LatePaymentReceived, OrderCancelled, OrderClosed, OrderEvent, OrderLine, OrderPlaced,
    PaymentAmountMismatch, PaymentConfirmed, PaymentRequested, RefundConfirmed, RefundFailed,
    RefundRequested,
};
pub use state::{
    AnomalyKind, OrderState, OrderStatus, Payment, PaymentAnomaly, Prepay, Refund, RefundStatus,
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
        decide::decide(state, command)
    }

    fn evolve(state: Self::State, event: &OrderEvent) -> Self::State {
        evolve::evolve(state, event)
    }
}
