//! The transition table of `order/mod.rs`, checked cell by cell: every status ×
//! every command, with the status after (or the error) each cell promises.

use super::*;
use crate::error::DomainError;
use crate::testkit::{
    TOTAL, confirm, confirm_refund, fail_refund, history, place_cmd, request_payment,
    request_refund, t,
};

/// A real history reaching each status.
fn reach(status: OrderStatus) -> Vec<OrderEvent> {
    use OrderStatus::*;
    let paid = vec![place_cmd(), request_payment(), confirm(1, TOTAL)];
    let with = |more: Vec<OrderCommand>| history(paid.iter().cloned().chain(more).collect());
    match status {
        Placed => history(vec![place_cmd()]),
        PaymentRequested => history(vec![place_cmd(), request_payment()]),
        Paid => history(paid.clone()),
        Refunding => with(vec![request_refund(1, 1000)]),
        PartiallyRefunded => with(vec![request_refund(1, 1000), confirm_refund(1, 1000)]),
        Refunded => with(vec![request_refund(1, TOTAL), confirm_refund(1, TOTAL)]),
        Cancelled => history(vec![place_cmd(), OrderCommand::CancelOrder { at: t(5) }]),
        Closed => history(vec![place_cmd(), OrderCommand::CloseOrder { at: t(30) }]),
    }
}

/// One command of each kind, with arguments new to every fixture (a fresh
/// transaction id, an unknown refund number), timed so only the status decides.
fn commands() -> Vec<OrderCommand> {
    vec![
        place_cmd(),
        request_payment(),
        confirm(2, TOTAL),
        OrderCommand::CancelOrder { at: t(10) },
        OrderCommand::CloseOrder { at: t(31) },
        request_refund(9, 100),
        confirm_refund(9, 100),
        fail_refund(9),
    ]
}

/// What a cell of the table promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Events appended, the order is then in this status.
    To(OrderStatus),
    /// Refused with this `DomainError` variant.
    Refused(&'static str),
}

fn expected(status: OrderStatus, command: &str) -> Then {
    use OrderStatus::*;
    use Then::*;
    let awaiting = status.is_awaiting_payment();
    let paid = status.is_paid();
    match command {
        "PlaceOrder" => Refused("AlreadyExists"),
        "RequestPayment" if awaiting => To(PaymentRequested),
        "ConfirmPayment" if awaiting => To(Paid),
        "ConfirmPayment" if paid => Refused("AlreadyPaid"),
        // A late payment is recorded; the order keeps its status.
        "ConfirmPayment" => To(status),
        "CancelOrder" if awaiting => To(Cancelled),
        "CloseOrder" if awaiting => To(Closed),
        "RequestRefund" if status == Refunded => Refused("RefundExceedsPaid"),
        "RequestRefund" if paid => To(Refunding),
        "ConfirmRefund" | "FailRefund" if paid => Refused("UnknownRefund"),
        _ => Refused("InvalidTransition"),
    }
}

fn variant(error: &DomainError) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_status_times_every_command_follows_the_table() {
    let mut checked = 0;
    for status in OrderStatus::ALL {
        let given = reach(status);
        let state = Order::fold(&given);
        assert_eq!(
            state.as_ref().map(|s| s.status),
            Some(status),
            "fixture for {status}"
        );
        for command in commands() {
            let name = command.name();
            let then = expected(status, name);
            match (Order::decide(&state, command), then) {
                (Ok(events), Then::To(to)) => {
                    assert!(!events.is_empty(), "{status} × {name}: no events");
                    let after = Order::fold(given.iter().chain(&events)).expect("exists");
                    assert_eq!(after.status, to, "{status} × {name}");
                    assert_eq!(after.check_invariants(), Ok(()), "{status} × {name}");
                }
                (Err(error), Then::Refused(kind)) => {
                    assert_eq!(variant(&error), kind, "{status} × {name}: {error}");
                    if let DomainError::InvalidTransition { from, command } = error {
                        assert_eq!((from, command), (status, name));
                    }
                }
                (got, want) => panic!("{status} × {name}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, OrderStatus::ALL.len() * OrderCommand::NAMES.len());
}

#[test]
fn the_commands_cover_every_command_name() {
    let names: Vec<&str> = commands().iter().map(OrderCommand::name).collect();
    assert_eq!(names, OrderCommand::NAMES);
}
