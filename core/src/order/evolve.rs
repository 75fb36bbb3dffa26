//! `evolve` for the order aggregate: folds one event into the state, never fails.

use super::event::*;
use super::state::*;
use crate::money::Fen;

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
        OrderEvent::OrderCancelled(e) => {
            order.status = OrderStatus::Cancelled;
            order.cancelled_at = Some(e.at);
            order.updated_at = e.at;
        }
        OrderEvent::OrderClosed(e) => {
            order.status = OrderStatus::Closed;
            order.closed_at = Some(e.at);
            order.updated_at = e.at;
        }
        OrderEvent::RefundRequested(e) => {
            order.refunds.push(Refund {
                out_refund_no: e.out_refund_no.clone(),
                amount: e.amount,
                reason: e.reason.clone(),
                status: RefundStatus::Pending,
                refund_id: None,
                requested_at: e.at,
                settled_at: None,
            });
            order.pending_refunds = order.pending_refunds.saturating_add(e.amount);
            settle(&mut order, e.at);
        }
        OrderEvent::RefundConfirmed(e) => {
            if let Some(refund) = order.refund_mut(&e.out_refund_no) {
                refund.status = RefundStatus::Confirmed;
                refund.refund_id = Some(e.refund_id.clone());
                refund.settled_at = Some(e.at);
            }
            order.pending_refunds = order.pending_refunds.saturating_sub(e.amount);
            order.refunded = e.refunded_after;
            settle(&mut order, e.at);
        }
        OrderEvent::RefundFailed(e) => {
            if let Some(refund) = order.refund_mut(&e.out_refund_no) {
                refund.status = RefundStatus::Failed;
                refund.settled_at = Some(e.at);
            }
            order.pending_refunds = order.pending_refunds.saturating_sub(e.amount);
            settle(&mut order, e.at);
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
    }
}

/// Derives a paid order's status from its refund amounts.
fn settle(order: &mut OrderState, at: chrono::DateTime<chrono::Utc>) {
    order.status = OrderStatus::after_refunds(order.paid, order.refunded, order.pending_refunds);
    order.updated_at = at;
}
