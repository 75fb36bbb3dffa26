//! `evolve` for the order aggregate: folds one event into the state, never fails.

use chrono::{DateTime, Utc};

use super::event::*;
use super::shipping::{
    OrderSettled, OrderShipped, ReceiptConfirmed, ShippingInfoUploaded, ShippingUploadFailed,
};
use super::state::*;
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, RefundId};

pub(super) fn evolve(state: Option<OrderState>, event: &OrderEvent) -> Option<OrderState> {
    let mut order = match (state, event) {
        (None, OrderEvent::OrderPlaced(e)) => return Some(placed(e)),
        // Events before placement, or a second placement, cannot be decided; a log
        // holding one is left as it was so that `audit verify` can report it.
        (None, _) => return None,
        (Some(order), OrderEvent::OrderPlaced(_)) => return Some(order),
        (Some(order), _) => order,
    };
    match event {
        OrderEvent::OrderPlaced(_) => {}
        OrderEvent::PaymentRequested(e) => {
            order.status = OrderStatus::PaymentRequested;
            order.prepay = Some(Prepay {
                prepay_id: e.prepay_id.clone(),
                valid_until: e.valid_until,
                api: e.api,
                requested_at: e.at,
            });
            order.updated_at = e.at;
        }
        OrderEvent::PaymentConfirmed(e) => {
            order.status = OrderStatus::Paid;
            order.paid = e.amount;
            order.payment = Some(Payment {
                transaction_id: e.transaction_id.clone(),
                amount: e.amount,
                paid_at: e.paid_at,
                confirmed_at: e.at,
            });
            order.updated_at = e.at;
        }
        OrderEvent::PaymentAmountMismatch(e) => {
            order.anomalies.push(PaymentAnomaly {
                kind: AnomalyKind::AmountMismatch,
                transaction_id: e.transaction_id.clone(),
                amount: e.received,
                paid_at: e.paid_at,
                recorded_at: e.at,
            });
            order.updated_at = e.at;
        }
        OrderEvent::LatePaymentReceived(e) => {
            order.anomalies.push(PaymentAnomaly {
                kind: AnomalyKind::LatePayment,
                transaction_id: e.transaction_id.clone(),
                amount: e.amount,
                paid_at: e.paid_at,
                recorded_at: e.at,
            });
            order.updated_at = e.at;
        }
        OrderEvent::DuplicatePaymentReceived(e) => {
            order.anomalies.push(PaymentAnomaly {
                kind: AnomalyKind::DuplicatePayment,
                transaction_id: e.transaction_id.clone(),
                amount: e.amount,
                paid_at: e.paid_at,
                recorded_at: e.at,
            });
            order.updated_at = e.at;
        }
        OrderEvent::OrderCancelled(e) => {
            order.status = OrderStatus::Cancelled;
            order.cancelled_at = Some(e.at);
            order.updated_at = e.at;
        }
        OrderEvent::OrderClosed(e) => {
            order.status = OrderStatus::Closed;
            order.closed_at = Some(e.at);
            order.close_reason = Some(e.reason);
            order.updated_at = e.at;
        }
        OrderEvent::RefundRequested(e) => {
            requested(
                &mut order,
                RefundTarget::Payment,
                &e.out_refund_no,
                e.amount,
                &e.reason,
                e.at,
            );
        }
        OrderEvent::AnomalousPaymentRefundRequested(e) => {
            let target = RefundTarget::Anomaly(e.transaction_id.clone());
            requested(
                &mut order,
                target,
                &e.out_refund_no,
                e.amount,
                &e.reason,
                e.at,
            );
        }
        OrderEvent::RefundConfirmed(e) => {
            let to = RefundStatus::Confirmed;
            transition(&mut order, &e.out_refund_no, to, Some(&e.refund_id), e.at);
            order.refunded = e.refunded_after;
        }
        OrderEvent::RefundConfirmedAfterFailure(e) => {
            let to = RefundStatus::Confirmed;
            transition(&mut order, &e.out_refund_no, to, Some(&e.refund_id), e.at);
            order.refunded = e.refunded_after;
        }
        OrderEvent::RefundFailed(e) => {
            transition(
                &mut order,
                &e.out_refund_no,
                RefundStatus::Failed,
                None,
                e.at,
            );
        }
        OrderEvent::RefundNeedsAttention(e) => {
            let to = RefundStatus::NeedsAttention;
            transition(&mut order, &e.out_refund_no, to, None, e.at);
        }
        OrderEvent::RefundAttentionResolved(e) => {
            let to = match e.resolution {
                AttentionResolution::RefundedOtherwise => RefundStatus::Confirmed,
                AttentionResolution::Retried => RefundStatus::Pending,
            };
            transition(&mut order, &e.out_refund_no, to, None, e.at);
            order.refunded = e.refunded_after;
        }
        OrderEvent::OrderShipped(OrderShipped { at, .. })
        | OrderEvent::ShippingInfoUploaded(ShippingInfoUploaded { at, .. })
        | OrderEvent::ShippingUploadFailed(ShippingUploadFailed { at, .. })
        | OrderEvent::ReceiptConfirmed(ReceiptConfirmed { at, .. })
        | OrderEvent::OrderSettled(OrderSettled { at, .. }) => {
            super::shipping::evolve(&mut order, event);
            order.updated_at = *at;
        }
    }
    Some(order)
}

fn placed(e: &OrderPlaced) -> OrderState {
    OrderState {
        order_id: e.order_id,
        user_id: e.user_id,
        out_trade_no: e.out_trade_no.clone(),
        status: OrderStatus::Placed,
        lines: e.lines.clone(),
        total: e.total,
        expires_at: e.expires_at,
        placed_at: e.at,
        updated_at: e.at,
        prepay: None,
        payment: None,
        paid: Fen::ZERO,
        refunded: Fen::ZERO,
        pending_refunds: Fen::ZERO,
        refunds: Vec::new(),
        anomalies: Vec::new(),
        cancelled_at: None,
        closed_at: None,
        close_reason: None,
        shipping: None,
    }
}

fn requested(
    order: &mut OrderState,
    target: RefundTarget,
    out_refund_no: &OutRefundNo,
    amount: Fen,
    reason: &str,
    at: DateTime<Utc>,
) {
    let of_payment = target == RefundTarget::Payment;
    order.refunds.push(Refund {
        out_refund_no: out_refund_no.clone(),
        target,
        amount,
        reason: reason.to_owned(),
        status: RefundStatus::Pending,
        refund_id: None,
        requested_at: at,
        settled_at: None,
        revived_after_failure: false,
    });
    if of_payment {
        order.pending_refunds = order.pending_refunds.saturating_add(amount);
        settle(order, at);
    } else {
        order.updated_at = at;
    }
}

/// Moves a refund to `to`, moving its amount between the payment's buckets
/// (committed → `pending_refunds`, confirmed → `refunded`) when it refunds the
/// payment. The order's status follows the payment's refunds only.
fn transition(
    order: &mut OrderState,
    out_refund_no: &OutRefundNo,
    to: RefundStatus,
    refund_id: Option<&RefundId>,
    at: DateTime<Utc>,
) {
    // An event for an unknown refund cannot be decided; the log is left for `audit
    // verify` to report.
    let Some(refund) = order.refund_mut(out_refund_no) else {
        return;
    };
    let from = refund.status;
    refund.status = to;
    if let Some(id) = refund_id {
        refund.refund_id = Some(id.clone());
    }
    refund.settled_at = (!to.is_committed()).then_some(at);
    if from == RefundStatus::Failed && to != RefundStatus::Failed {
        refund.revived_after_failure = true;
    }
    let (amount, of_payment) = (refund.amount, refund.target == RefundTarget::Payment);
    if of_payment {
        if from.is_committed() {
            order.pending_refunds = order.pending_refunds.saturating_sub(amount);
        } else if from == RefundStatus::Confirmed {
            order.refunded = order.refunded.saturating_sub(amount);
        }
        if to.is_committed() {
            order.pending_refunds = order.pending_refunds.saturating_add(amount);
        } else if to == RefundStatus::Confirmed {
            order.refunded = order.refunded.saturating_add(amount);
        }
        settle(order, at);
    } else {
        order.updated_at = at;
    }
}

/// Derives a paid order's status from its refund amounts.
fn settle(order: &mut OrderState, at: DateTime<Utc>) {
    order.status = OrderStatus::after_refunds(order.paid, order.refunded, order.pending_refunds);
    order.updated_at = at;
}
