//! `decide` for the order aggregate: one function per command.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::command::{OrderCommand, PlaceOrder};
use super::event::AttentionResolution;
use super::event::*;
use super::shipping;
use super::state::{
    AnomalyKind, CloseReason, OrderState, OrderStatus, Refund, RefundStatus, RefundTarget,
};
use super::{MAX_LINES, MAX_REFUND_REASON_CHARS};
use crate::error::DomainError;
use crate::ids::OutTradeNo;
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, PayApi, PrepayId, RefundId, TransactionId};

pub(super) fn decide(
    state: &Option<OrderState>,
    command: OrderCommand,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(order) = state else {
        return match command {
            OrderCommand::PlaceOrder(cmd) => place(cmd),
            _ => Err(DomainError::NotFound { aggregate: "order" }),
        };
    };
    let refuse = |command: &OrderCommand| DomainError::InvalidTransition {
        from: order.status,
        command: command.name(),
    };
    match command {
        OrderCommand::PlaceOrder(_) => Err(DomainError::AlreadyExists { aggregate: "order" }),
        OrderCommand::RequestPayment { .. } if !order.status.is_awaiting_payment() => {
            Err(refuse(&command))
        }
        OrderCommand::RequestPayment {
            prepay_id,
            valid_until,
            api,
            at,
        } => request_payment(order, prepay_id, valid_until, api, at),
        OrderCommand::ConfirmPayment {
            transaction_id,
            amount,
            paid_at,
            at,
        } => confirm_payment(order, transaction_id, amount, paid_at, at),
        OrderCommand::CancelOrder { .. } if !order.status.is_awaiting_payment() => {
            Err(refuse(&command))
        }
        OrderCommand::CancelOrder { at } => Ok(vec![OrderEvent::OrderCancelled(OrderCancelled {
            order_id: order.order_id,
            at,
        })]),
        OrderCommand::CloseOrder { .. } if !order.status.is_awaiting_payment() => {
            Err(refuse(&command))
        }
        OrderCommand::CloseOrder { at } => close(order, at),
        OrderCommand::RequestRefund { .. } if !order.status.is_paid() => Err(refuse(&command)),
        OrderCommand::RequestRefund {
            out_refund_no,
            amount,
            reason,
            at,
        } => request_refund(order, out_refund_no, amount, reason, at),
        OrderCommand::RefundAnomalousPayment {
            transaction_id,
            out_refund_no,
            reason,
            at,
        } => refund_anomaly(order, transaction_id, out_refund_no, reason, at),
        // Refunds of anomalies exist in any status, so settling a refund is decided
        // by the refund, not by the order's status.
        OrderCommand::ConfirmRefund {
            out_refund_no,
            refund_id,
            amount,
            at,
        } => confirm_refund(order, out_refund_no, refund_id, amount, at),
        OrderCommand::FailRefund {
            out_refund_no,
            reason,
            at,
        } => fail_refund(order, out_refund_no, reason, at),
        OrderCommand::MarkRefundNeedsAttention {
            out_refund_no,
            reason,
            at,
        } => refund_needs_attention(order, out_refund_no, reason, at),
        OrderCommand::ResolveRefundAttention {
            out_refund_no,
            resolution,
            note,
            at,
        } => resolve_attention(order, out_refund_no, resolution, note, at),
        OrderCommand::ShipOrder { shipment, at } => shipping::ship(order, shipment, at),
        OrderCommand::RecordShippingUpload { revision, at } => {
            shipping::uploaded(order, revision, at)
        }
        OrderCommand::FailShippingUpload {
            revision,
            errcode,
            errmsg,
            at,
        } => shipping::upload_failed(order, revision, errcode, &errmsg, at),
        OrderCommand::ConfirmReceipt { confirmed_at, at } => {
            shipping::confirm_receipt(order, confirmed_at, at)
        }
        OrderCommand::SettleOrder { settled_at, at } => shipping::settle(order, settled_at, at),
    }
}

fn place(cmd: PlaceOrder) -> Result<Vec<OrderEvent>, DomainError> {
    if cmd.lines.is_empty() {
        return Err(DomainError::EmptyOrder);
    }
    if cmd.lines.len() > MAX_LINES {
        return Err(DomainError::TooManyLines {
            count: cmd.lines.len(),
            max: MAX_LINES,
        });
    }
    if cmd.expires_at <= cmd.at {
        return Err(DomainError::InvalidExpiry);
    }
    let mut seen = BTreeSet::new();
    let mut lines = Vec::with_capacity(cmd.lines.len());
    for draft in cmd.lines {
        if !seen.insert(draft.product_id) {
            return Err(DomainError::DuplicateLine(draft.product_id));
        }
        if draft.quantity == 0 {
            return Err(DomainError::InvalidQuantity {
                product_id: draft.product_id,
            });
        }
        if draft.unit_price.is_zero() {
            return Err(DomainError::InvalidPrice);
        }
        let line_total = draft
            .unit_price
            .checked_mul(draft.quantity)
            .ok_or(DomainError::AmountOverflow)?;
        lines.push(OrderLine {
            product_id: draft.product_id,
            product_name: draft.product_name,
            unit_price: draft.unit_price,
            quantity: draft.quantity,
            line_total,
        });
    }
    let total =
        Fen::checked_sum(lines.iter().map(|l| l.line_total)).ok_or(DomainError::AmountOverflow)?;
    Ok(vec![OrderEvent::OrderPlaced(OrderPlaced {
        order_id: cmd.order_id,
        user_id: cmd.user_id,
        out_trade_no: OutTradeNo::for_order(cmd.order_id),
        lines,
        total,
        expires_at: cmd.expires_at,
        at: cmd.at,
    })])
}

fn request_payment(
    order: &OrderState,
    prepay_id: PrepayId,
    valid_until: DateTime<Utc>,
    api: PayApi,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    // Asking WeChat for a prepay id after expiry would let the user pay an order
    // that is about to be closed.
    if at >= order.expires_at {
        return Err(DomainError::OrderExpired {
            expires_at: order.expires_at,
        });
    }
    if valid_until <= at {
        return Err(DomainError::InvalidPrepayValidity);
    }
    Ok(vec![OrderEvent::PaymentRequested(PaymentRequested {
        order_id: order.order_id,
        prepay_id,
        valid_until,
        api,
        at,
    })])
}

/// The payment notify is at-least-once and may race cancellation, so every case
/// is decided rather than refused where that would lose a fact about money.
fn confirm_payment(
    order: &OrderState,
    transaction_id: TransactionId,
    amount: Fen,
    paid_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    // A repeated notify for a transaction already recorded appends nothing.
    if order.knows_transaction(&transaction_id) {
        return Ok(vec![]);
    }
    let order_id = order.order_id;
    // A signed notify naming another transaction for a paid order: WeChat took the
    // money twice. It is a fact about money, so it is recorded (for an operator to
    // refund), never a second payment and never refused.
    if let Some(payment) = &order.payment {
        return Ok(vec![OrderEvent::DuplicatePaymentReceived(
            DuplicatePaymentReceived {
                order_id,
                transaction_id,
                amount,
                paid_at,
                paid_by: payment.transaction_id.clone(),
                at,
            },
        )]);
    }
    if matches!(order.status, OrderStatus::Cancelled | OrderStatus::Closed) {
        return Ok(vec![OrderEvent::LatePaymentReceived(LatePaymentReceived {
            order_id,
            transaction_id,
            amount,
            paid_at,
            order_status: order.status,
            at,
        })]);
    }
    if amount != order.total {
        return Ok(vec![OrderEvent::PaymentAmountMismatch(
            PaymentAmountMismatch {
                order_id,
                transaction_id,
                expected: order.total,
                received: amount,
                paid_at,
                at,
            },
        )]);
    }
    Ok(vec![OrderEvent::PaymentConfirmed(PaymentConfirmed {
        order_id,
        transaction_id,
        amount,
        paid_at,
        at,
    })])
}

fn request_refund(
    order: &OrderState,
    out_refund_no: OutRefundNo,
    amount: Fen,
    reason: String,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    // The same refund number is the same refund: a retry appends nothing, a
    // different amount under that number is a caller bug.
    if let Some(existing) = order.refund(&out_refund_no) {
        return repeat_of(existing, &RefundTarget::Payment, amount);
    }
    if amount.is_zero() {
        return Err(DomainError::InvalidRefundAmount);
    }
    check_reason(&reason)?;
    let refundable = order.refundable();
    if amount > refundable {
        return Err(DomainError::RefundExceedsPaid {
            requested: amount,
            refundable,
        });
    }
    Ok(vec![OrderEvent::RefundRequested(RefundRequested {
        order_id: order.order_id,
        out_refund_no,
        amount,
        reason,
        at,
    })])
}

/// A refund number already recorded: the same refund again appends nothing; a
/// number recorded as Failed is never sent to WeChat again (the caller must use a new
/// number, after checking why it failed); anything else under it is a caller bug.
fn repeat_of(
    existing: &Refund,
    target: &RefundTarget,
    amount: Fen,
) -> Result<Vec<OrderEvent>, DomainError> {
    if existing.status == RefundStatus::Failed {
        return Err(DomainError::RefundNoAlreadyFailed(
            existing.out_refund_no.clone(),
        ));
    }
    if &existing.target == target && existing.amount == amount {
        return Ok(vec![]);
    }
    Err(DomainError::DuplicateRefundNo(
        existing.out_refund_no.clone(),
    ))
}

fn check_reason(reason: &str) -> Result<(), DomainError> {
    if reason.chars().count() > MAX_REFUND_REASON_CHARS {
        return Err(DomainError::InvalidRefundReason);
    }
    Ok(())
}

/// Closes an unpaid order. After a wrong-amount payment the order can never be paid
/// (WeChat has spent its `out_trade_no`), so it closes at once; otherwise only after
/// its payment window.
fn close(order: &OrderState, at: DateTime<Utc>) -> Result<Vec<OrderEvent>, DomainError> {
    let mismatched = order
        .anomalies
        .iter()
        .any(|a| a.kind == AnomalyKind::AmountMismatch);
    let reason = if mismatched {
        CloseReason::AmountMismatch
    } else if at < order.expires_at {
        return Err(DomainError::NotYetExpired {
            expires_at: order.expires_at,
        });
    } else {
        CloseReason::Expired
    };
    Ok(vec![OrderEvent::OrderClosed(OrderClosed {
        order_id: order.order_id,
        reason,
        at,
    })])
}

fn refund_anomaly(
    order: &OrderState,
    transaction_id: TransactionId,
    out_refund_no: OutRefundNo,
    reason: String,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(anomaly) = order.anomaly(&transaction_id) else {
        return Err(DomainError::UnknownAnomaly(transaction_id));
    };
    let target = RefundTarget::Anomaly(transaction_id.clone());
    if let Some(existing) = order.refund(&out_refund_no) {
        return repeat_of(existing, &target, anomaly.amount);
    }
    // At most once: a refund of this transaction that did not fail is the refund.
    if let Some(live) = order.live_anomaly_refund(&transaction_id) {
        return Err(DomainError::AnomalyAlreadyRefunded {
            transaction_id,
            out_refund_no: live.out_refund_no.clone(),
        });
    }
    check_reason(&reason)?;
    Ok(vec![OrderEvent::AnomalousPaymentRefundRequested(
        AnomalousPaymentRefundRequested {
            order_id: order.order_id,
            transaction_id,
            out_refund_no,
            amount: anomaly.amount,
            reason,
            at,
        },
    )])
}

/// Refuses to confirm `refund` if the confirmed refunds of its transaction would then
/// exceed the transaction's amount.
fn check_confirmable(order: &OrderState, refund: &Refund) -> Result<(), DomainError> {
    let already = order
        .refunds_of(&refund.target, |s| s == RefundStatus::Confirmed)
        .ok_or(DomainError::AmountOverflow)?;
    let confirmed = already
        .checked_add(refund.amount)
        .ok_or(DomainError::AmountOverflow)?;
    let received = match &refund.target {
        RefundTarget::Payment => order.paid,
        RefundTarget::Anomaly(t) => order.anomaly(t).map_or(Fen::ZERO, |a| a.amount),
    };
    if confirmed > received {
        return Err(DomainError::RefundExceedsPaid {
            requested: refund.amount,
            refundable: received.saturating_sub(already),
        });
    }
    Ok(())
}

/// `refunded` after confirming `refund`: grows only for refunds of the payment.
fn refunded_after(order: &OrderState, refund: &Refund) -> Result<Fen, DomainError> {
    match refund.target {
        RefundTarget::Payment => order
            .refunded
            .checked_add(refund.amount)
            .ok_or(DomainError::AmountOverflow),
        RefundTarget::Anomaly(_) => Ok(order.refunded),
    }
}

fn confirm_refund(
    order: &OrderState,
    out_refund_no: OutRefundNo,
    refund_id: RefundId,
    amount: Fen,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(refund) = order.refund(&out_refund_no) else {
        return Err(DomainError::UnknownRefund(out_refund_no));
    };
    if refund.status == RefundStatus::Confirmed {
        return Ok(vec![]);
    }
    if amount != refund.amount {
        return Err(DomainError::RefundAmountMismatch {
            out_refund_no,
            expected: refund.amount,
            received: amount,
        });
    }
    // WeChat never refunds more than a transaction's amount, so a success that would
    // (possible only after a refund was revived from Failed) is not believed.
    check_confirmable(order, refund)?;
    let refunded_after = refunded_after(order, refund)?;
    let order_id = order.order_id;
    if refund.status != RefundStatus::Failed {
        return Ok(vec![OrderEvent::RefundConfirmed(RefundConfirmed {
            order_id,
            out_refund_no,
            refund_id,
            amount,
            refunded_after,
            at,
        })]);
    }
    // Recorded as Failed, yet WeChat refunded: the money left, so the log says so
    // (see `RefundConfirmedAfterFailure`).
    Ok(vec![OrderEvent::RefundConfirmedAfterFailure(
        RefundConfirmedAfterFailure {
            order_id,
            out_refund_no,
            refund_id,
            amount,
            refunded_after,
            at,
        },
    )])
}

fn fail_refund(
    order: &OrderState,
    out_refund_no: OutRefundNo,
    reason: String,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(refund) = order.refund(&out_refund_no) else {
        return Err(DomainError::UnknownRefund(out_refund_no));
    };
    match refund.status {
        RefundStatus::Failed => return Ok(vec![]),
        RefundStatus::Confirmed => return Err(DomainError::RefundAlreadyConfirmed(out_refund_no)),
        RefundStatus::Pending | RefundStatus::NeedsAttention => {}
    }
    Ok(vec![OrderEvent::RefundFailed(RefundFailed {
        order_id: order.order_id,
        out_refund_no,
        amount: refund.amount,
        reason,
        at,
    })])
}

fn refund_needs_attention(
    order: &OrderState,
    out_refund_no: OutRefundNo,
    reason: String,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(refund) = order.refund(&out_refund_no) else {
        return Err(DomainError::UnknownRefund(out_refund_no));
    };
    match refund.status {
        RefundStatus::NeedsAttention => return Ok(vec![]),
        RefundStatus::Confirmed => return Err(DomainError::RefundAlreadyConfirmed(out_refund_no)),
        // A CHANGE for a refund recorded as Failed means the money did leave after
        // all: like a late success, it is recorded rather than refused.
        RefundStatus::Pending | RefundStatus::Failed => {}
    }
    Ok(vec![OrderEvent::RefundNeedsAttention(
        RefundNeedsAttention {
            order_id: order.order_id,
            out_refund_no,
            amount: refund.amount,
            reason,
            at,
        },
    )])
}

fn resolve_attention(
    order: &OrderState,
    out_refund_no: OutRefundNo,
    resolution: AttentionResolution,
    note: String,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(refund) = order.refund(&out_refund_no) else {
        return Err(DomainError::UnknownRefund(out_refund_no));
    };
    if refund.status != RefundStatus::NeedsAttention {
        return Err(DomainError::RefundNotNeedingAttention(out_refund_no));
    }
    check_reason(&note)?;
    let refunded_after = match resolution {
        AttentionResolution::RefundedOtherwise => {
            check_confirmable(order, refund)?;
            refunded_after(order, refund)?
        }
        AttentionResolution::Retried => order.refunded,
    };
    Ok(vec![OrderEvent::RefundAttentionResolved(
        RefundAttentionResolved {
            order_id: order.order_id,
            out_refund_no,
            amount: refund.amount,
            resolution,
            note,
            refunded_after,
            at,
        },
    )])
}
