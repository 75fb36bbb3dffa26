//! given(events) / when(command) / then(events or error) for refunds: limits,
//! partial refunds, idempotent notifies, failures.

use super::tests::{paid, status, when};
use super::*;
use crate::error::DomainError;
use crate::money::Fen;
use crate::testkit::*;

#[test]
fn partial_refunds_add_up_to_a_full_refund() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        request_refund(2, 500),
    ]);
    let state = Order::fold(&given).expect("exists");
    assert_eq!(state.status, OrderStatus::Refunding);
    assert_eq!(state.pending_refunds, Fen::new(1500));
    assert_eq!(state.refundable(), Fen::new(1000));

    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        request_refund(2, 500),
        confirm_refund(1, 1000),
    ]);
    let last = given.last().cloned();
    let Some(OrderEvent::RefundConfirmed(confirmed)) = last else {
        panic!("expected RefundConfirmed, got {last:?}");
    };
    assert_eq!(confirmed.refunded_after, Fen::new(1000));
    assert_eq!(
        status(&Order::fold(&given)),
        Some(OrderStatus::Refunding),
        "R2 still pending"
    );

    let (_, after) = when(&given, confirm_refund(2, 500));
    assert_eq!(status(&after), Some(OrderStatus::PartiallyRefunded));

    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 1000),
        confirm_refund(1, 1000),
        request_refund(2, 1500),
        confirm_refund(2, 1500),
    ]);
    let state = Order::fold(&given).expect("exists");
    assert_eq!(
        (state.status, state.refunded),
        (OrderStatus::Refunded, Fen::new(TOTAL))
    );
    assert_eq!(state.check_invariants(), Ok(()));
}

#[test]
fn refunds_never_exceed_the_payment() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 2000),
    ]);
    assert_eq!(
        when(&given, request_refund(2, 501)).0,
        Err(DomainError::RefundExceedsPaid {
            requested: Fen::new(501),
            refundable: Fen::new(500),
        })
    );
    assert!(when(&given, request_refund(2, 500)).0.is_ok());
    assert_eq!(
        when(&paid(), request_refund(2, 0)).0,
        Err(DomainError::InvalidRefundAmount)
    );
    let long_reason = OrderCommand::RequestRefund {
        out_refund_no: refund_no(3),
        amount: Fen::new(1),
        reason: "x".repeat(MAX_REFUND_REASON_CHARS + 1),
        at: t(60),
    };
    assert_eq!(
        when(&paid(), long_reason).0,
        Err(DomainError::InvalidRefundReason)
    );
}

#[test]
fn refund_numbers_are_idempotent() {
    let given = history(vec![place_cmd(), confirm(1, TOTAL), request_refund(1, 100)]);
    assert_eq!(when(&given, request_refund(1, 100)).0, Ok(vec![]));
    assert_eq!(
        when(&given, request_refund(1, 200)).0,
        Err(DomainError::DuplicateRefundNo(refund_no(1)))
    );
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, 100),
        confirm_refund(1, 100),
    ]);
    assert_eq!(
        when(&given, confirm_refund(1, 100)).0,
        Ok(vec![]),
        "duplicate notify"
    );
    assert_eq!(
        when(&given, fail_refund(1)).0,
        Err(DomainError::RefundAlreadyConfirmed(refund_no(1)))
    );
    assert_eq!(
        when(&given, confirm_refund(9, 100)).0,
        Err(DomainError::UnknownRefund(refund_no(9)))
    );
}

#[test]
fn confirm_refund_with_another_amount_is_refused() {
    let given = history(vec![place_cmd(), confirm(1, TOTAL), request_refund(1, 100)]);
    assert_eq!(
        when(&given, confirm_refund(1, 99)).0,
        Err(DomainError::RefundAmountMismatch {
            out_refund_no: refund_no(1),
            expected: Fen::new(100),
            received: Fen::new(99),
        })
    );
}

#[test]
fn a_failed_refund_becomes_refundable_again() {
    let given = history(vec![
        place_cmd(),
        confirm(1, TOTAL),
        request_refund(1, TOTAL),
    ]);
    let (decided, after) = when(&given, fail_refund(1));
    assert!(
        matches!(decided.as_deref(), Ok([OrderEvent::RefundFailed(f)]) if f.amount == Fen::new(TOTAL))
    );
    let state = after.expect("exists");
    assert_eq!(
        (state.status, state.refundable()),
        (OrderStatus::Paid, Fen::new(TOTAL))
    );
    assert_eq!(state.check_invariants(), Ok(()));
    let failed: Vec<_> = given
        .iter()
        .cloned()
        .chain(decided.unwrap_or_default())
        .collect();
    assert_eq!(when(&failed, fail_refund(1)).0, Ok(vec![]));
    // Its number is spent: a retry under it is refused, never sent to WeChat again
    // (a success that WeChat reports for it anyway is recorded: see money_tests).
    assert_eq!(
        when(&failed, request_refund(1, TOTAL)).0,
        Err(DomainError::RefundNoAlreadyFailed(refund_no(1)))
    );
}
