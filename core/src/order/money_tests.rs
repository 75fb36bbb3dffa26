//! given(events) / when(command) / then(events or error) for money after payment:
//! refunds that never lie (retries of failed numbers, late successes, CHANGE),
//! anomalous payments and their refunds, and the money the shop holds.

use super::tests::when;
use super::*;
use crate::error::DomainError;
use crate::money::Fen;
use crate::testkit::*;

fn event_types(events: &[OrderEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| crate::event::DomainEvent::from(e.clone()).event_type())
        .collect()
}

fn state(events: &[OrderEvent]) -> OrderState {
    match Order::fold(events) {
        Some(state) => state,
        None => panic!("no order in {events:?}"),
    }
}

// --- refunds that never lie -------------------------------------------------------

#[test]
fn a_refund_number_recorded_as_failed_is_never_requested_again() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        fail_refund(1),
    ]);
    assert_eq!(
        when(&given, request_refund(1, 1000)).0,
        Err(DomainError::RefundNoAlreadyFailed(refund_no(1)))
    );
    // Another number for the same money is a new refund.
    let (decided, after) = when(&given, request_refund(2, 1000));
    assert_eq!(
        event_types(&decided.unwrap_or_default()),
        ["RefundRequested"]
    );
    assert_eq!(after.map(|s| s.pending_refunds), Some(Fen::new(1000)));
}

#[test]
fn a_success_for_a_refund_recorded_as_failed_is_recorded_as_money_that_left() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        fail_refund(1),
    ]);
    assert_eq!(state(&given).refundable(), Fen::new(TOTAL));
    let (decided, after) = when(&given, confirm_refund(1, 1000));
    let events = decided.expect("recorded, not refused");
    assert_eq!(event_types(&events), ["RefundConfirmedAfterFailure"]);
    let after = after.expect("exists");
    let refund = after.refund(&refund_no(1)).expect("R1");
    assert_eq!(refund.status, RefundStatus::Confirmed);
    assert!(refund.revived_after_failure);
    // The amount is no longer refundable a second time.
    assert_eq!(
        (after.status, after.refunded, after.refundable()),
        (
            OrderStatus::PartiallyRefunded,
            Fen::new(1000),
            Fen::new(TOTAL - 1000)
        )
    );
    assert_eq!(after.money_held(), Some(Fen::new(TOTAL - 1000)));
    assert_eq!(after.check_invariants(), Ok(()));
    // Its repeat appends nothing.
    let all: Vec<_> = given.iter().cloned().chain(events).collect();
    assert_eq!(when(&all, confirm_refund(1, 1000)).0, Ok(vec![]));
}

#[test]
fn a_late_success_is_recorded_even_when_the_amount_was_requested_again() {
    // given: R1 failed, then R2 took the whole payment again (still pending)
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        fail_refund(1),
        request_refund(2, TOTAL),
    ]);
    // when: WeChat says R1 succeeded after all
    let (decided, after) = when(&given, confirm_refund(1, 1000));
    // then: recorded; R2 now commits more than is left, which WeChat will refuse
    assert_eq!(
        event_types(&decided.unwrap_or_default()),
        ["RefundConfirmedAfterFailure"]
    );
    let after = after.expect("exists");
    assert_eq!(after.refundable(), Fen::ZERO);
    assert_eq!(after.check_invariants(), Ok(()));
    assert_eq!(after.money_held(), Some(Fen::new(TOTAL - 1000)));
}

#[test]
fn a_late_success_that_would_refund_more_than_was_paid_is_not_believed() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        fail_refund(1),
        request_refund(2, TOTAL),
        confirm_refund(2, TOTAL),
    ]);
    assert_eq!(
        when(&given, confirm_refund(1, 1000)).0,
        Err(DomainError::RefundExceedsPaid {
            requested: Fen::new(1000),
            refundable: Fen::ZERO,
        })
    );
}

#[test]
fn a_revived_refund_is_never_confirmed_beyond_the_payment() {
    // given: R0 failed, R2 took part of its room, then WeChat says CHANGE for R0
    // (money left after all) and R2 succeeds: R0 can no longer fit in the payment.
    let given = history(vec![
        place_cmd(),
        confirm(0, TOTAL),
        request_refund(0, 1996),
        fail_refund(0),
        request_refund(2, 505),
        needs_attention(0),
        confirm_refund(2, 505),
    ]);
    let refused = Err(DomainError::RefundExceedsPaid {
        requested: Fen::new(1996),
        refundable: Fen::new(TOTAL - 505),
    });
    assert_eq!(
        when(&given, resolve(0, AttentionResolution::RefundedOtherwise)).0,
        refused
    );
    assert_eq!(when(&given, confirm_refund(0, 1996)).0, refused);
    // Retried, or failed for good, it still settles.
    assert!(
        when(&given, resolve(0, AttentionResolution::Retried))
            .0
            .is_ok()
    );
    assert!(when(&given, fail_refund(0)).0.is_ok());
}

#[test]
fn change_holds_the_refund_for_an_operator_until_resolved_otherwise() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
    ]);
    let (decided, after) = when(&given, needs_attention(1));
    let events = decided.expect("recorded");
    assert_eq!(event_types(&events), ["RefundNeedsAttention"]);
    let after = after.expect("exists");
    // Visible, still held back from refundable, the order still Refunding.
    assert_eq!(after.refunds_needing_attention().count(), 1);
    assert_eq!(
        (after.status, after.refundable(), after.refunded),
        (OrderStatus::Refunding, Fen::new(TOTAL - 1000), Fen::ZERO)
    );
    assert_eq!(after.check_invariants(), Ok(()));
    let flagged: Vec<_> = given.iter().cloned().chain(events).collect();
    assert_eq!(when(&flagged, needs_attention(1)).0, Ok(vec![]), "repeat");

    let (decided, after) = when(&flagged, resolve(1, AttentionResolution::RefundedOtherwise));
    assert_eq!(
        event_types(&decided.unwrap_or_default()),
        ["RefundAttentionResolved"]
    );
    let after = after.expect("exists");
    assert_eq!(after.refunds_needing_attention().count(), 0);
    assert_eq!(
        (after.status, after.refunded),
        (OrderStatus::PartiallyRefunded, Fen::new(1000))
    );
    assert_eq!(after.check_invariants(), Ok(()));
}

#[test]
fn a_retried_change_is_pending_again_and_settles_like_any_refund() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, TOTAL),
        needs_attention(1),
        resolve(1, AttentionResolution::Retried),
    ]);
    let retried = state(&given);
    assert_eq!(
        retried.refund(&refund_no(1)).map(|r| r.status),
        Some(RefundStatus::Pending)
    );
    assert_eq!(retried.status, OrderStatus::Refunding);
    let (_, after) = when(&given, confirm_refund(1, TOTAL));
    assert_eq!(after.map(|s| s.status), Some(OrderStatus::Refunded));
    // Resolving a refund that no longer needs attention is refused.
    assert_eq!(
        when(&given, resolve(1, AttentionResolution::Retried)).0,
        Err(DomainError::RefundNotNeedingAttention(refund_no(1)))
    );
}

#[test]
fn an_operator_note_is_bounded_like_a_refund_reason() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        needs_attention(1),
    ]);
    let long = OrderCommand::ResolveRefundAttention {
        out_refund_no: refund_no(1),
        resolution: AttentionResolution::RefundedOtherwise,
        note: "x".repeat(MAX_REFUND_REASON_CHARS + 1),
        at: t(90),
    };
    assert_eq!(when(&given, long).0, Err(DomainError::InvalidRefundReason));
}

// --- anomalous money ------------------------------------------------------------

#[test]
fn a_second_transaction_for_a_paid_order_is_a_duplicate_never_a_second_payment() {
    let given = history(vec![place_cmd(), request_payment(), confirm(1, TOTAL)]);
    let (decided, after) = when(&given, confirm(2, TOTAL));
    let events = decided.expect("recorded");
    let [OrderEvent::DuplicatePaymentReceived(duplicate)] = events.as_slice() else {
        panic!("expected DuplicatePaymentReceived, got {events:?}");
    };
    assert_eq!(
        (
            &duplicate.transaction_id,
            &duplicate.paid_by,
            duplicate.amount
        ),
        (&txn(2), &txn(1), Fen::new(TOTAL))
    );
    let after = after.expect("exists");
    assert_eq!(
        (after.status, after.paid),
        (OrderStatus::Paid, Fen::new(TOTAL))
    );
    assert_eq!(
        after.anomalies.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AnomalyKind::DuplicatePayment]
    );
    assert_eq!(after.money_held(), Some(Fen::new(2 * TOTAL)));
    assert_eq!(after.check_invariants(), Ok(()));
    // WeChat's retried notify of either transaction appends nothing.
    let all: Vec<_> = given.iter().cloned().chain(events).collect();
    assert_eq!(when(&all, confirm(2, TOTAL)).0, Ok(vec![]));
    assert_eq!(when(&all, confirm(1, TOTAL)).0, Ok(vec![]));
}

#[test]
fn every_kind_of_anomaly_is_refunded_for_exactly_its_amount() {
    let cancelled = OrderCommand::CancelOrder { at: t(1) };
    let cases = [
        (
            "late",
            vec![place_cmd(), cancelled, confirm(2, TOTAL)],
            TOTAL,
            OrderStatus::Cancelled,
        ),
        (
            "wrong amount",
            vec![place_cmd(), request_payment(), confirm(2, 1)],
            1,
            OrderStatus::PaymentRequested,
        ),
        (
            "duplicate",
            vec![place_cmd(), confirm(1, TOTAL), confirm(2, 700)],
            700,
            OrderStatus::Paid,
        ),
    ];
    for (name, commands, amount, status) in cases {
        let given = history(commands);
        let (decided, after) = when(&given, refund_anomaly(2, 5));
        let events = decided.unwrap_or_else(|e| panic!("{name}: {e}"));
        let [OrderEvent::AnomalousPaymentRefundRequested(requested)] = events.as_slice() else {
            panic!("{name}: {events:?}");
        };
        assert_eq!(
            (&requested.transaction_id, requested.amount),
            (&txn(2), Fen::new(amount)),
            "{name}"
        );
        let after = after.expect("exists");
        assert_eq!(after.status, status, "{name}: the status does not move");
        assert_eq!(after.check_invariants(), Ok(()), "{name}");
        // Confirmed: the shop holds only what the order's own payment left.
        let requested: Vec<_> = given.iter().cloned().chain(events).collect();
        let (_, settled) = when(&requested, confirm_refund(5, amount));
        let settled = settled.expect("exists");
        let held = settled.payment.as_ref().map_or(Fen::ZERO, |p| p.amount);
        assert_eq!(settled.money_held(), Some(held), "{name}");
        assert_eq!(settled.status, status, "{name}");
        assert_eq!(settled.check_invariants(), Ok(()), "{name}");
    }
}

#[test]
fn an_anomaly_is_refunded_at_most_once() {
    let given = history(vec![
        place_cmd(),
        OrderCommand::CancelOrder { at: t(1) },
        confirm(2, TOTAL),
        refund_anomaly(2, 5),
    ]);
    assert_eq!(when(&given, refund_anomaly(2, 5)).0, Ok(vec![]), "repeat");
    assert_eq!(
        when(&given, refund_anomaly(2, 6)).0,
        Err(DomainError::AnomalyAlreadyRefunded {
            transaction_id: txn(2),
            out_refund_no: refund_no(5),
        })
    );
    assert_eq!(
        when(&given, refund_anomaly(3, 6)).0,
        Err(DomainError::UnknownAnomaly(txn(3)))
    );
    // A refund number belongs to one refund: not to another transaction's.
    let given_paid = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        confirm(2, 100),
        request_refund(5, 100),
    ]);
    assert_eq!(
        when(&given_paid, refund_anomaly(2, 5)).0,
        Err(DomainError::DuplicateRefundNo(refund_no(5)))
    );
    // Once WeChat refused it, a new number may try again; the old one never.
    let failed: Vec<_> = history(vec![
        place_cmd(),
        OrderCommand::CancelOrder { at: t(1) },
        confirm(2, TOTAL),
        refund_anomaly(2, 5),
        fail_refund(5),
    ]);
    assert_eq!(
        when(&failed, refund_anomaly(2, 5)).0,
        Err(DomainError::RefundNoAlreadyFailed(refund_no(5)))
    );
    let (decided, _) = when(&failed, refund_anomaly(2, 6));
    assert_eq!(
        event_types(&decided.unwrap_or_default()),
        ["AnomalousPaymentRefundRequested"]
    );
}

#[test]
fn a_refund_of_the_payment_is_not_bounded_by_anomalies_nor_they_by_it() {
    // given: paid, a duplicate of 700 refunded, then the whole payment refunded
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        confirm(2, 700),
        refund_anomaly(2, 5),
        confirm_refund(5, 700),
        request_refund(1, TOTAL),
        confirm_refund(1, TOTAL),
    ]);
    let order = state(&given);
    assert_eq!(
        (order.status, order.refunded, order.money_held()),
        (OrderStatus::Refunded, Fen::new(TOTAL), Some(Fen::ZERO))
    );
    assert_eq!(order.check_invariants(), Ok(()));
}

#[test]
fn a_wrong_amount_order_closes_before_its_window_with_the_reason() {
    let given = history(vec![place_cmd(), request_payment(), confirm(2, 1)]);
    let (decided, after) = when(&given, OrderCommand::CloseOrder { at: t(3) });
    assert!(matches!(
        decided.as_deref(),
        Ok([OrderEvent::OrderClosed(c)]) if c.reason == CloseReason::AmountMismatch
    ));
    let after = after.expect("exists");
    assert_eq!(
        (after.status, after.close_reason),
        (OrderStatus::Closed, Some(CloseReason::AmountMismatch))
    );
    assert_eq!(after.check_invariants(), Ok(()));
    // Without a mismatch the window still rules, and an expiry says so.
    let placed = history(vec![place_cmd()]);
    assert_eq!(
        when(&placed, OrderCommand::CloseOrder { at: t(3) }).0,
        Err(DomainError::NotYetExpired { expires_at: t(30) })
    );
    let (_, expired) = when(&placed, OrderCommand::CloseOrder { at: t(30) });
    assert_eq!(
        expired.and_then(|s| s.close_reason),
        Some(CloseReason::Expired)
    );
}

// --- the money invariant ----------------------------------------------------------

#[test]
fn money_held_is_payments_and_anomalies_less_confirmed_refunds() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        confirm(2, 300),
        request_refund(1, 1000),
        confirm_refund(1, 1000),
        request_refund(2, 400),
        needs_attention(2),
    ]);
    let order = state(&given);
    // Pending and needing-attention refunds are not yet money that left.
    assert_eq!(order.money_held(), Some(Fen::new(TOTAL + 300 - 1000)));
    assert_eq!(
        state(&history(vec![place_cmd()])).money_held(),
        Some(Fen::ZERO)
    );
}

#[test]
fn a_log_whose_refunds_do_not_add_up_is_reported() {
    // Events no decision produces, as a corrupt or tampered log could hold them.
    let mut events = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
    ]);
    events.push(OrderEvent::RefundConfirmed(RefundConfirmed {
        order_id: order_id(1),
        out_refund_no: refund_no(1),
        refund_id: crate::payment_refs::RefundId::parse("50000000000001").expect("valid"),
        amount: Fen::new(1000),
        refunded_after: Fen::new(TOTAL + 1),
        at: t(61),
    }));
    let order = state(&events);
    let violations = order.invariant_violations();
    assert!(
        violations.iter().any(|v| v.contains("refunded")),
        "{violations:?}"
    );
    // A refund "of an anomaly" naming the payment, confirmed on top of a full refund:
    // more money left than was ever received.
    let mut events = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(2, TOTAL),
        confirm_refund(2, TOTAL),
    ]);
    events.push(OrderEvent::AnomalousPaymentRefundRequested(
        AnomalousPaymentRefundRequested {
            order_id: order_id(1),
            transaction_id: txn(1),
            out_refund_no: refund_no(1),
            amount: Fen::new(TOTAL),
            reason: String::new(),
            at: t(60),
        },
    ));
    events.push(OrderEvent::RefundConfirmed(RefundConfirmed {
        order_id: order_id(1),
        out_refund_no: refund_no(1),
        refund_id: crate::payment_refs::RefundId::parse("50000000000009").expect("valid"),
        amount: Fen::new(TOTAL),
        refunded_after: Fen::new(TOTAL),
        at: t(62),
    }));
    let order = state(&events);
    assert_eq!(order.money_held(), None);
    let violations = order.invariant_violations();
    for expected in ["unknown anomalous", "exceed the money received"] {
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{expected}: {violations:?}"
        );
    }
}
