//! The order projections: `orders` (detail), `orders_by_user` (summaries, newest first),
//! `awaiting_payment`, `money_watch`, `to_ship`, `to_upload`, `to_settle`, `ledger` and `daily_sales`.
//!
//! The order is folded with core's `Order::evolve`; the other views are derived from the
//! order before and after the event, so they can never disagree with the detail.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use paylog_core::order::{
    AttentionResolution, Order, OrderEvent, OrderState, OrderStatus, RefundTarget, UploadStatus,
};
use paylog_core::payment_refs::{OutRefundNo, RefundId, TransactionId};
use paylog_core::{Aggregate, Fen};

use super::Tx;
use crate::error::Result;
use crate::layout::{self, View};
use crate::model::{AwaitingPayment, DailySales, LedgerEntry, LedgerKind, OrderSummary, OrderView};

pub(super) fn apply(tx: &mut Tx<'_>, position: u64, event: &OrderEvent) -> Result<()> {
    let key = order_id(event).as_uuid().as_bytes().to_vec();
    let before: Option<OrderView> = tx.get(View::Orders, &key)?;
    // What the derived views need of the order before the event, taken now so that the
    // order itself moves into the fold without a copy.
    let was_awaiting = before
        .as_ref()
        .is_some_and(|b| b.status.is_awaiting_payment());
    let was_watched = before.as_ref().is_some_and(watched);
    let was_to_ship = before.as_ref().is_some_and(to_ship);
    let was_to_upload = before.as_ref().is_some_and(to_upload);
    let was_to_settle = before.as_ref().is_some_and(to_settle);
    let state: Option<OrderState> = before;
    // An event before `OrderPlaced` leaves no order: nothing to show (audit reports it).
    let Some(after) = Order::evolve(state, event) else {
        return Ok(());
    };

    let by_user = layout::order_by_user_key(
        after.user_id.as_uuid(),
        after.placed_at,
        after.order_id.as_uuid(),
    );
    tx.put(View::OrdersByUser, by_user, OrderSummary::from(&after))?;

    // Expiry never changes after placement, so the awaiting key is stable.
    let awaiting = layout::awaiting_key(after.expires_at, after.order_id.as_uuid());
    if after.status.is_awaiting_payment() {
        tx.put(
            View::AwaitingPayment,
            awaiting,
            AwaitingPayment::from(&after),
        )?;
    } else if was_awaiting {
        tx.delete(View::AwaitingPayment, awaiting);
    }

    if watched(&after) {
        tx.put(View::MoneyWatch, key.clone(), after.clone())?;
    } else if was_watched {
        tx.delete(View::MoneyWatch, key.clone());
    }

    if let Some(payment) = &after.payment {
        let ship_key = layout::to_ship_key(payment.paid_at, after.order_id.as_uuid());
        if to_ship(&after) {
            tx.put(View::ToShip, ship_key, OrderSummary::from(&after))?;
        } else if was_to_ship {
            tx.delete(View::ToShip, ship_key);
        }
    }

    if let Some(shipping) = &after.shipping {
        // Both keys are the first shipment's instant: stable for the shipping's life.
        let key = layout::to_upload_key(shipping.first_shipped_at, after.order_id.as_uuid());
        if to_upload(&after) {
            tx.put(View::ToUpload, key.clone(), after.clone())?;
        } else if was_to_upload {
            tx.delete(View::ToUpload, key.clone());
        }
        if to_settle(&after) {
            tx.put(View::ToSettle, key, after.clone())?;
        } else if was_to_settle {
            tx.delete(View::ToSettle, key);
        }
    }

    if let Some(entry) = ledger_entry(position, event, &after) {
        tx.put(View::Ledger, layout::u64_value(position).to_vec(), entry)?;
    }
    daily(tx, event, &after)?;
    tx.put(View::Orders, key, after)
}

/// Orders whose money is not settled: anomalies (money held without an order to show
/// for it) and refunds pending or needing attention. Anomalies stay listed once
/// refunded, with their refund's state.
fn watched(o: &OrderView) -> bool {
    !o.anomalies.is_empty() || o.refunds.iter().any(|r| r.status.is_committed())
}

/// Paid orders the merchant still has to ship (WeChat freezes their money until then),
/// keyed by the payment's instant, which never changes once paid.
fn to_ship(o: &OrderView) -> bool {
    o.shipping.is_none() && o.status.is_paid() && o.status != OrderStatus::Refunded
}

/// Shipments WeChat does not have yet: the background uploader's work list. A
/// confirmed receipt or a full refund ends the need to upload.
fn to_upload(o: &OrderView) -> bool {
    o.status != OrderStatus::Refunded
        && o.shipping
            .as_ref()
            .is_some_and(|s| s.upload != UploadStatus::Uploaded && s.receipt_confirmed_at.is_none())
}

/// Shipments WeChat has whose money is not settled yet: the settlement checker's work
/// list (it asks `get_order` when a push has not come). A full refund settles nothing.
fn to_settle(o: &OrderView) -> bool {
    o.status != OrderStatus::Refunded
        && o.shipping
            .as_ref()
            .is_some_and(|s| s.upload == UploadStatus::Uploaded && s.settled_at.is_none())
}

pub(crate) fn order_id(event: &OrderEvent) -> paylog_core::OrderId {
    event.order_id()
}

fn ledger_entry(position: u64, event: &OrderEvent, order: &OrderView) -> Option<LedgerEntry> {
    let entry = |kind, amount, transaction_id, occurred_at| LedgerEntry {
        position,
        kind,
        order_id: order.order_id,
        user_id: order.user_id,
        out_trade_no: order.out_trade_no.clone(),
        amount,
        transaction_id,
        out_refund_no: None,
        refund_id: None,
        occurred_at,
    };
    match event {
        OrderEvent::PaymentConfirmed(e) => Some(entry(
            LedgerKind::Payment,
            e.amount,
            Some(e.transaction_id.clone()),
            e.paid_at,
        )),
        OrderEvent::PaymentAmountMismatch(e) => Some(entry(
            LedgerKind::AmountMismatch,
            e.received,
            Some(e.transaction_id.clone()),
            e.paid_at,
        )),
        OrderEvent::LatePaymentReceived(e) => Some(entry(
            LedgerKind::LatePayment,
            e.amount,
            Some(e.transaction_id.clone()),
            e.paid_at,
        )),
        OrderEvent::DuplicatePaymentReceived(e) => Some(entry(
            LedgerKind::DuplicatePayment,
            e.amount,
            Some(e.transaction_id.clone()),
            e.paid_at,
        )),
        OrderEvent::RefundConfirmed(e) => Some(refund_entry(
            entry,
            order,
            &e.out_refund_no,
            Some(e.refund_id.clone()),
            e.amount,
            e.at,
        )),
        OrderEvent::RefundConfirmedAfterFailure(e) => Some(refund_entry(
            entry,
            order,
            &e.out_refund_no,
            Some(e.refund_id.clone()),
            e.amount,
            e.at,
        )),
        // The operator says the shopper got the money by other means: it left the shop.
        OrderEvent::RefundAttentionResolved(e)
            if e.resolution == AttentionResolution::RefundedOtherwise =>
        {
            let refund_id = order
                .refunds
                .iter()
                .find(|r| r.out_refund_no == e.out_refund_no)
                .and_then(|r| r.refund_id.clone());
            Some(refund_entry(
                entry,
                order,
                &e.out_refund_no,
                refund_id,
                e.amount,
                e.at,
            ))
        }
        _ => None,
    }
}

/// A ledger entry for money returned: the transaction it returns is the order's
/// payment or, for the refund of an anomaly, that anomaly's own transaction.
fn refund_entry(
    entry: impl Fn(LedgerKind, Fen, Option<TransactionId>, DateTime<Utc>) -> LedgerEntry,
    order: &OrderView,
    out_refund_no: &OutRefundNo,
    refund_id: Option<RefundId>,
    amount: Fen,
    at: DateTime<Utc>,
) -> LedgerEntry {
    let target = order
        .refunds
        .iter()
        .find(|r| &r.out_refund_no == out_refund_no)
        .map(|r| r.target.clone());
    debug_assert!(target.is_some(), "a settled refund was requested first");
    let (kind, transaction) = match target {
        Some(RefundTarget::Anomaly(t)) => (LedgerKind::AnomalyRefund, Some(t)),
        _ => (
            LedgerKind::Refund,
            order.payment.as_ref().map(|p| p.transaction_id.clone()),
        ),
    };
    let mut refund = entry(kind, amount, transaction, at);
    refund.out_refund_no = Some(out_refund_no.clone());
    refund.refund_id = refund_id;
    refund
}

/// The calendar day of an instant in Asia/Shanghai, the shop's (and WeChat's) time zone.
pub(crate) fn shanghai_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Shanghai).date_naive()
}

fn daily(tx: &mut Tx<'_>, event: &OrderEvent, order: &OrderView) -> Result<()> {
    // Sales count the order's own payment and its refunds; anomalous money (and its
    // return) is not a sale and is reported by the ledger instead.
    let refunds_payment = |no: &OutRefundNo| {
        order
            .refunds
            .iter()
            .any(|r| &r.out_refund_no == no && r.target == RefundTarget::Payment)
    };
    let (day, change): (_, fn(&mut DailySales, Fen)) = match event {
        OrderEvent::OrderPlaced(e) => (shanghai_day(e.at), |d, _| d.orders_placed += 1),
        OrderEvent::PaymentConfirmed(e) => (shanghai_day(e.paid_at), |d, amount| {
            d.orders_paid += 1;
            d.paid = add(d.paid, amount);
        }),
        OrderEvent::RefundConfirmed(e) if refunds_payment(&e.out_refund_no) => {
            (shanghai_day(e.at), |d, amount| {
                d.refunded = add(d.refunded, amount);
            })
        }
        OrderEvent::RefundConfirmedAfterFailure(e) if refunds_payment(&e.out_refund_no) => {
            (shanghai_day(e.at), |d, amount| {
                d.refunded = add(d.refunded, amount);
            })
        }
        OrderEvent::RefundAttentionResolved(e)
            if e.resolution == AttentionResolution::RefundedOtherwise
                && refunds_payment(&e.out_refund_no) =>
        {
            (shanghai_day(e.at), |d, amount| {
                d.refunded = add(d.refunded, amount);
            })
        }
        _ => return Ok(()),
    };
    let amount = match event {
        OrderEvent::PaymentConfirmed(e) => e.amount,
        OrderEvent::RefundConfirmed(e) => e.amount,
        OrderEvent::RefundConfirmedAfterFailure(e) => e.amount,
        OrderEvent::RefundAttentionResolved(e) => e.amount,
        _ => Fen::ZERO,
    };
    let key = layout::day_key(day);
    let mut sales = tx
        .get::<DailySales>(View::DailySales, &key)?
        .unwrap_or(DailySales {
            date: day,
            ..DailySales::default()
        });
    change(&mut sales, amount);
    tx.put(View::DailySales, key, sales)
}

/// Projections must not fail on a fact: amounts saturate (audit verify reports overflow).
fn add(a: Fen, b: Fen) -> Fen {
    Fen::new(a.get().saturating_add(b.get()))
}
