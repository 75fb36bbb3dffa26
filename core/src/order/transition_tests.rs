//! The transition tables of `order/mod.rs`, checked cell by cell: every status ×
//! every command, with the status after (or the error) each cell promises; and every
//! refund status × every refund command, for a refund of the payment and of an
//! anomalous payment alike.

use super::*;
use crate::error::DomainError;
use crate::testkit::{
    TOTAL, confirm, confirm_receipt, confirm_refund, fail_refund, history, needs_attention,
    place_cmd, refund_anomaly, request_payment, request_refund, resolve, settle, ship,
    shipping_failed, shipping_uploaded, t,
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
        refund_anomaly(9, 9),
        confirm_refund(9, 100),
        fail_refund(9),
        needs_attention(9),
        resolve(9, AttentionResolution::Retried),
        ship(1),
        shipping_uploaded(1),
        shipping_failed(1),
        confirm_receipt(),
        settle(),
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
        // Late (cancelled/closed) or duplicate (paid) payments are recorded as
        // anomalies; the order keeps its status.
        "ConfirmPayment" => To(status),
        "CancelOrder" if awaiting => To(Cancelled),
        "CloseOrder" if awaiting => To(Closed),
        "RequestRefund" if status == Refunded => Refused("RefundExceedsPaid"),
        "RequestRefund" if paid => To(Refunding),
        "RefundAnomalousPayment" => Refused("UnknownAnomaly"),
        "ConfirmRefund" | "FailRefund" | "MarkRefundNeedsAttention" | "ResolveRefundAttention" => {
            Refused("UnknownRefund")
        }
        // Shipping keeps the status; it needs a paid order not fully refunded.
        "ShipOrder" if status == Refunded => Refused("OrderFullyRefunded"),
        "ShipOrder" if paid => To(status),
        "ShipOrder" => Refused("OrderNotPaid"),
        // No fixture has shipped: the rest of the shipping rows are the shipping table's.
        "RecordShippingUpload" | "FailShippingUpload" | "ConfirmReceipt" | "SettleOrder" => {
            Refused("NotShipped")
        }
        _ => Refused("InvalidTransition"),
    }
}

pub(super) fn variant(error: &DomainError) -> String {
    // Shipping refusals are typed one level down: name the inner variant.
    let debug = match error {
        DomainError::Shipping(inner) => format!("{inner:?}"),
        other => format!("{other:?}"),
    };
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

// --- the refund table ----------------------------------------------------------

/// Which money the refund under test returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Of {
    /// The order's payment (refund of 1000 fen of a paid order).
    Payment,
    /// A duplicate payment of 700 fen (refunded whole).
    Anomaly,
}

const ALL_REFUND_STATUSES: [RefundStatus; 4] = [
    RefundStatus::Pending,
    RefundStatus::Confirmed,
    RefundStatus::Failed,
    RefundStatus::NeedsAttention,
];

/// A real history whose refund `R1` is in `status`.
fn reach_refund(of: Of, status: RefundStatus) -> Vec<OrderEvent> {
    let mut commands = vec![place_cmd(), request_payment(), confirm(1, TOTAL)];
    let (request, amount) = match of {
        Of::Payment => (request_refund(1, 1000), 1000),
        Of::Anomaly => {
            commands.push(confirm(2, 700));
            (refund_anomaly(2, 1), 700)
        }
    };
    commands.push(request);
    match status {
        RefundStatus::Pending => {}
        RefundStatus::Confirmed => commands.push(confirm_refund(1, amount)),
        RefundStatus::Failed => commands.push(fail_refund(1)),
        RefundStatus::NeedsAttention => commands.push(needs_attention(1)),
    }
    history(commands)
}

/// The refund commands on `R1`, by row name.
fn refund_commands(of: Of) -> Vec<(&'static str, OrderCommand)> {
    let (again, amount) = match of {
        Of::Payment => (request_refund(1, 1000), 1000),
        Of::Anomaly => (refund_anomaly(2, 1), 700),
    };
    vec![
        ("request again", again),
        ("ConfirmRefund", confirm_refund(1, amount)),
        ("FailRefund", fail_refund(1)),
        ("MarkRefundNeedsAttention", needs_attention(1)),
        (
            "resolve RefundedOtherwise",
            resolve(1, AttentionResolution::RefundedOtherwise),
        ),
        ("resolve Retried", resolve(1, AttentionResolution::Retried)),
    ]
}

/// What a cell of the refund table promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefundThen {
    /// Appends nothing.
    Repeat,
    /// Appends this event; the refund is then in this status.
    To(&'static str, RefundStatus),
    Refused(&'static str),
}

fn refund_expected(status: RefundStatus, row: &str) -> RefundThen {
    use RefundStatus::*;
    use RefundThen::*;
    match (row, status) {
        ("request again", Failed) => Refused("RefundNoAlreadyFailed"),
        ("request again", _) => Repeat,
        ("ConfirmRefund", Pending | NeedsAttention) => To("RefundConfirmed", Confirmed),
        ("ConfirmRefund", Failed) => To("RefundConfirmedAfterFailure", Confirmed),
        ("ConfirmRefund", Confirmed) => Repeat,
        ("FailRefund", Pending | NeedsAttention) => To("RefundFailed", Failed),
        ("FailRefund", Failed) => Repeat,
        ("FailRefund" | "MarkRefundNeedsAttention", Confirmed) => Refused("RefundAlreadyConfirmed"),
        ("MarkRefundNeedsAttention", Pending | Failed) => {
            To("RefundNeedsAttention", NeedsAttention)
        }
        ("MarkRefundNeedsAttention", NeedsAttention) => Repeat,
        ("resolve RefundedOtherwise", NeedsAttention) => To("RefundAttentionResolved", Confirmed),
        ("resolve Retried", NeedsAttention) => To("RefundAttentionResolved", Pending),
        _ => Refused("RefundNotNeedingAttention"),
    }
}

#[test]
fn every_refund_status_times_every_refund_command_follows_the_table() {
    let mut checked = 0;
    for of in [Of::Payment, Of::Anomaly] {
        for status in ALL_REFUND_STATUSES {
            let given = reach_refund(of, status);
            let state = Order::fold(&given);
            let before = state.clone().expect("exists");
            let refund_status = |s: &OrderState| {
                s.refund(&crate::testkit::refund_no(1))
                    .map(|r| r.status)
                    .expect("R1 recorded")
            };
            assert_eq!(refund_status(&before), status, "fixture {of:?} {status:?}");
            for (row, command) in refund_commands(of) {
                let cell = format!("{of:?} refund {status:?} × {row}");
                match (Order::decide(&state, command), refund_expected(status, row)) {
                    (Ok(events), RefundThen::Repeat) => assert_eq!(events, vec![], "{cell}"),
                    (Ok(events), RefundThen::To(event_type, to)) => {
                        let types: Vec<_> = events
                            .iter()
                            .map(|e| crate::event::DomainEvent::from(e.clone()).event_type())
                            .collect();
                        assert_eq!(types, vec![event_type], "{cell}");
                        let after = Order::fold(given.iter().chain(&events)).expect("exists");
                        assert_eq!(refund_status(&after), to, "{cell}");
                        assert_eq!(after.check_invariants(), Ok(()), "{cell}");
                        // Refunds of an anomaly never move the order's status.
                        if of == Of::Anomaly {
                            assert_eq!(after.status, before.status, "{cell}");
                        }
                    }
                    (Err(error), RefundThen::Refused(kind)) => {
                        assert_eq!(variant(&error), kind, "{cell}: {error}")
                    }
                    (got, want) => panic!("{cell}: expected {want:?}, got {got:?}"),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * ALL_REFUND_STATUSES.len() * 6);
}
