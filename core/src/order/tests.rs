//! given(events) / when(command) / then(events or error) for the order aggregate.

use super::*;
use crate::error::DomainError;
use crate::ids::OutTradeNo;
use crate::money::Fen;
use crate::payment_refs::PrepayId;
use crate::testkit::*;

/// given(events) / when(command): the decision, and the state after it.
pub(super) fn when(
    given: &[OrderEvent],
    command: OrderCommand,
) -> (Result<Vec<OrderEvent>, DomainError>, Option<OrderState>) {
    let state = Order::fold(given);
    let decided = Order::decide(&state, command);
    let after = match &decided {
        Ok(new) => Order::fold(given.iter().chain(new)),
        Err(_) => state,
    };
    (decided, after)
}

pub(super) fn status(state: &Option<OrderState>) -> Option<OrderStatus> {
    state.as_ref().map(|s| s.status)
}

pub(super) fn paid() -> Vec<OrderEvent> {
    history(vec![place_cmd(), request_payment(), confirm(1, TOTAL)])
}

#[test]
fn place_order_computes_line_totals_and_total() {
    let (decided, after) = when(&[], place_cmd());
    let Ok([OrderEvent::OrderPlaced(placed)]) = decided.as_deref() else {
        panic!("expected one OrderPlaced, got {decided:?}");
    };
    assert_eq!(placed.total, Fen::new(TOTAL));
    assert_eq!(placed.lines[0].line_total, Fen::new(2000));
    assert_eq!(placed.lines[1].line_total, Fen::new(500));
    assert_eq!(placed.out_trade_no, OutTradeNo::for_order(order_id(1)));
    assert_eq!(placed.expires_at, t(30));
    let state = after.expect("placed");
    assert_eq!(state.status, OrderStatus::Placed);
    assert_eq!(state.check_invariants(), Ok(()));
}

#[test]
fn place_order_validates_its_lines() {
    let with = |edit: &dyn Fn(&mut PlaceOrder)| {
        let OrderCommand::PlaceOrder(mut cmd) = place_cmd() else {
            unreachable!("place_cmd is a PlaceOrder")
        };
        edit(&mut cmd);
        Order::decide(&None, OrderCommand::PlaceOrder(cmd))
    };
    assert_eq!(with(&|c| c.lines.clear()), Err(DomainError::EmptyOrder));
    assert_eq!(
        with(&|c| {
            c.lines = (0..51)
                .map(|i| LineDraft {
                    product_id: product_id(100 + i),
                    product_name: "x".into(),
                    unit_price: Fen::new(1),
                    quantity: 1,
                })
                .collect()
        }),
        Err(DomainError::TooManyLines { count: 51, max: 50 })
    );
    assert_eq!(
        with(&|c| c.lines[1].product_id = product_id(1)),
        Err(DomainError::DuplicateLine(product_id(1)))
    );
    assert_eq!(
        with(&|c| c.lines[0].quantity = 0),
        Err(DomainError::InvalidQuantity {
            product_id: product_id(1)
        })
    );
    assert_eq!(
        with(&|c| c.lines[0].unit_price = Fen::ZERO),
        Err(DomainError::InvalidPrice)
    );
    assert_eq!(
        with(&|c| c.expires_at = c.at),
        Err(DomainError::InvalidExpiry)
    );
    assert_eq!(
        with(&|c| {
            c.lines[0].unit_price = Fen::new(u64::MAX);
            c.lines[0].quantity = 2;
        }),
        Err(DomainError::AmountOverflow)
    );
    assert_eq!(
        with(&|c| {
            c.lines[0].unit_price = Fen::new(u64::MAX);
            c.lines[0].quantity = 1;
        }),
        Err(DomainError::AmountOverflow)
    );
}

#[test]
fn request_payment_records_the_prepay_id_and_can_be_renewed() {
    let given = history(vec![place_cmd()]);
    let (_, after) = when(&given, request_payment());
    let state = after.expect("exists");
    assert_eq!(state.status, OrderStatus::PaymentRequested);
    assert_eq!(state.prepay.as_ref().map(|p| p.valid_until), Some(t(120)));

    let given = history(vec![place_cmd(), request_payment()]);
    let renew = OrderCommand::RequestPayment {
        prepay_id: PrepayId::parse("wx2").expect("valid"),
        valid_until: t(130),
        api: Default::default(),
        at: t(10),
    };
    let (_, after) = when(&given, renew);
    let prepay = after.and_then(|s| s.prepay).expect("prepay");
    assert_eq!(
        (prepay.prepay_id.as_str(), prepay.requested_at),
        ("wx2", t(10))
    );
}

#[test]
fn request_payment_is_refused_after_expiry_or_with_a_stale_validity() {
    let given = history(vec![place_cmd()]);
    let late = OrderCommand::RequestPayment {
        prepay_id: PrepayId::parse("wx1").expect("valid"),
        valid_until: t(200),
        api: Default::default(),
        at: t(30),
    };
    assert_eq!(
        when(&given, late).0,
        Err(DomainError::OrderExpired { expires_at: t(30) })
    );
    let stale = OrderCommand::RequestPayment {
        prepay_id: PrepayId::parse("wx1").expect("valid"),
        valid_until: t(1),
        api: Default::default(),
        at: t(1),
    };
    assert_eq!(
        when(&given, stale).0,
        Err(DomainError::InvalidPrepayValidity)
    );
}

#[test]
fn confirm_payment_pays_the_order_once() {
    let given = history(vec![place_cmd(), request_payment()]);
    let (decided, after) = when(&given, confirm(1, TOTAL));
    assert_eq!(
        decided,
        Ok(vec![OrderEvent::PaymentConfirmed(PaymentConfirmed {
            order_id: order_id(1),
            transaction_id: txn(1),
            amount: Fen::new(TOTAL),
            paid_at: t(2),
            at: t(2),
        })])
    );
    let state = after.expect("exists");
    assert_eq!(
        (state.status, state.paid),
        (OrderStatus::Paid, Fen::new(TOTAL))
    );
    assert_eq!(state.check_invariants(), Ok(()));
}

#[test]
fn duplicate_payment_notify_appends_nothing_and_another_transaction_is_an_anomaly() {
    let given = paid();
    assert_eq!(when(&given, confirm(1, TOTAL)).0, Ok(vec![]));
    let (decided, after) = when(&given, confirm(2, TOTAL));
    assert!(matches!(
        decided.as_deref(),
        Ok([OrderEvent::DuplicatePaymentReceived(d)]) if d.paid_by == txn(1)
    ));
    let after = after.expect("exists");
    assert_eq!(
        (after.status, after.paid),
        (OrderStatus::Paid, Fen::new(TOTAL))
    );
}

#[test]
fn payment_with_the_wrong_amount_is_recorded_but_does_not_pay() {
    let given = history(vec![place_cmd(), request_payment()]);
    let (decided, after) = when(&given, confirm(7, TOTAL - 1));
    assert_eq!(
        decided,
        Ok(vec![OrderEvent::PaymentAmountMismatch(
            PaymentAmountMismatch {
                order_id: order_id(1),
                transaction_id: txn(7),
                expected: Fen::new(TOTAL),
                received: Fen::new(TOTAL - 1),
                paid_at: t(2),
                at: t(2),
            }
        )])
    );
    let state = after.expect("exists");
    assert_eq!(
        (state.status, state.paid),
        (OrderStatus::PaymentRequested, Fen::ZERO)
    );
    assert_eq!(state.anomalies.len(), 1);
    assert_eq!(state.check_invariants(), Ok(()));

    let given = history(vec![place_cmd(), request_payment(), confirm(7, TOTAL - 1)]);
    assert_eq!(
        when(&given, confirm(7, TOTAL - 1)).0,
        Ok(vec![]),
        "repeat is a no-op"
    );
    let (_, after) = when(&given, confirm(8, TOTAL));
    assert_eq!(
        status(&after),
        Some(OrderStatus::Paid),
        "a correct payment still pays"
    );
}

#[test]
fn late_payment_on_a_cancelled_or_closed_order_is_recorded_and_never_pays() {
    let closed = history(vec![place_cmd(), OrderCommand::CloseOrder { at: t(30) }]);
    let cancelled = history(vec![place_cmd(), OrderCommand::CancelOrder { at: t(5) }]);
    for (given, from) in [
        (closed, OrderStatus::Closed),
        (cancelled, OrderStatus::Cancelled),
    ] {
        let (decided, after) = when(&given, confirm(3, TOTAL));
        assert_eq!(
            decided,
            Ok(vec![OrderEvent::LatePaymentReceived(LatePaymentReceived {
                order_id: order_id(1),
                transaction_id: txn(3),
                amount: Fen::new(TOTAL),
                paid_at: t(2),
                order_status: from,
                at: t(2),
            })])
        );
        let state = after.expect("exists");
        assert_eq!((state.status, state.paid), (from, Fen::ZERO));
        assert_eq!(state.anomalies[0].kind, AnomalyKind::LatePayment);
        assert_eq!(state.check_invariants(), Ok(()));
        let again: Vec<_> = given
            .iter()
            .cloned()
            .chain(decided.unwrap_or_default())
            .collect();
        assert_eq!(when(&again, confirm(3, TOTAL)).0, Ok(vec![]));
    }
}

#[test]
fn close_is_refused_before_expiry() {
    let given = history(vec![place_cmd(), request_payment()]);
    assert_eq!(
        when(&given, OrderCommand::CloseOrder { at: t(29) }).0,
        Err(DomainError::NotYetExpired { expires_at: t(30) })
    );
    let state = Order::fold(&given).expect("exists");
    assert!(!state.is_due_for_close(t(29)));
    assert!(state.is_due_for_close(t(30)));
    let (_, after) = when(&given, OrderCommand::CloseOrder { at: t(30) });
    assert!(!after.as_ref().is_some_and(|s| s.is_due_for_close(t(31))));
    assert_eq!(after.and_then(|s| s.closed_at), Some(t(30)));
}

#[test]
fn commands_on_a_missing_order_are_not_found() {
    assert_eq!(
        Order::decide(&None, confirm(1, TOTAL)),
        Err(DomainError::NotFound { aggregate: "order" })
    );
}

#[test]
fn check_invariants_reports_a_tampered_state() {
    let mut state = Order::fold(&paid()).expect("exists");
    assert_eq!(state.check_invariants(), Ok(()));
    state.paid = Fen::new(1);
    state.refunded = Fen::new(2);
    let violations = state.invariant_violations();
    assert!(
        violations.iter().any(|v| v.contains("≠ total")),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|v| v.contains("exceeds paid")),
        "{violations:?}"
    );
    assert!(state.check_invariants().is_err());
}

proptest::proptest! {
    /// Any sequence of commands, including hostile ones, leaves a sound order:
    /// invariants hold after every step (the money ones included: per transaction,
    /// and the money held never negative), and at most one payment is ever confirmed.
    #[test]
    fn random_command_sequences_keep_the_invariants(
        steps in proptest::collection::vec((0u8..12, 0u32..4, 0u64..=TOTAL + 1, 0i64..40), 0..30)
    ) {
        let mut events = history(vec![place_cmd()]);
        for (kind, n, amount, minute) in steps {
            // The amount a refund was recorded with, so that confirmations can match.
            let recorded = |no: u32| {
                Order::fold(&events)
                    .and_then(|s| s.refund(&refund_no(no)).map(|r| r.amount.get()))
                    .unwrap_or(amount)
            };
            let command = match kind {
                0 => OrderCommand::RequestPayment {
                    prepay_id: PrepayId::parse("wx1").expect("valid"),
                    valid_until: t(minute + 120),
                    api: Default::default(),
                    at: t(minute),
                },
                1 => confirm(n, if amount % 3 == 0 { amount } else { TOTAL }),
                2 => OrderCommand::CancelOrder { at: t(minute) },
                3 => OrderCommand::CloseOrder { at: t(minute) },
                4 | 5 => request_refund(n, amount),
                6 if amount % 2 == 0 => confirm_refund(n, recorded(n)),
                6 => confirm_refund(n, amount),
                7 => fail_refund(n),
                8 => refund_anomaly(n, n + 10),
                9 => needs_attention(n % 2 * 10 + n),
                10 => resolve(
                    n % 2 * 10 + n,
                    if amount % 2 == 0 {
                        AttentionResolution::Retried
                    } else {
                        AttentionResolution::RefundedOtherwise
                    },
                ),
                // A refund of an anomaly settles by its number (n + 10).
                _ => confirm_refund(n + 10, recorded(n + 10)),
            };
            let state = Order::fold(&events);
            if let Ok(new) = Order::decide(&state, command) {
                events.extend(new);
            }
            let state = Order::fold(&events).expect("placed");
            proptest::prop_assert_eq!(state.check_invariants(), Ok(()));
            proptest::prop_assert!(state.money_held().is_some());
            let payments = events
                .iter()
                .filter(|e| matches!(e, OrderEvent::PaymentConfirmed(_)))
                .count();
            proptest::prop_assert!(payments <= 1);
        }
    }
}
