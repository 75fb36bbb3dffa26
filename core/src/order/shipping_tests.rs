//! The shipping table of `order/shipping.rs`, checked cell by cell, and the limits
//! WeChat puts on a shipment, given / when / then.

use super::transition_tests::variant;
use super::*;
use crate::error::DomainError;
use crate::testkit::{
    TOTAL, confirm, confirm_receipt, history, place_cmd, request_payment, request_refund, settle,
    ship, shipment, shipping_failed, shipping_uploaded, t,
};

fn paid() -> Vec<OrderCommand> {
    vec![place_cmd(), request_payment(), confirm(1, TOTAL)]
}

/// A real history whose shipment (tracking number 1, revision 1) is at `stage`.
fn reach(stage: ShippingStage) -> Vec<OrderEvent> {
    let mut commands = paid();
    commands.push(ship(1));
    match stage {
        ShippingStage::Pending => {}
        ShippingStage::UploadFailed => commands.push(shipping_failed(1)),
        ShippingStage::Uploaded => commands.push(shipping_uploaded(1)),
        ShippingStage::Received => commands.extend([shipping_uploaded(1), confirm_receipt()]),
        ShippingStage::Settled => {
            commands.extend([shipping_uploaded(1), confirm_receipt(), settle()]);
        }
    }
    history(commands)
}

fn rows() -> Vec<(&'static str, OrderCommand)> {
    vec![
        ("ShipOrder same", ship(1)),
        ("ShipOrder other", ship(2)),
        ("RecordShippingUpload", shipping_uploaded(1)),
        ("FailShippingUpload", shipping_failed(1)),
        ("ConfirmReceipt", confirm_receipt()),
        ("SettleOrder", settle()),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Repeat,
    To(&'static str, ShippingStage),
    Refused(&'static str),
}

fn expected(stage: ShippingStage, row: &str) -> Then {
    use ShippingStage::*;
    use Then::*;
    match (row, stage) {
        ("ShipOrder same", _) => Repeat,
        ("ShipOrder other", Pending | UploadFailed | Uploaded) => To("OrderShipped", Pending),
        ("ShipOrder other", Received | Settled) => Refused("AlreadyReceived"),
        ("RecordShippingUpload", Pending | UploadFailed) => To("ShippingInfoUploaded", Uploaded),
        ("FailShippingUpload", Pending | UploadFailed) => To("ShippingUploadFailed", UploadFailed),
        ("RecordShippingUpload" | "FailShippingUpload", _) => Repeat,
        ("ConfirmReceipt", Pending | UploadFailed | Uploaded) => To("ReceiptConfirmed", Received),
        ("ConfirmReceipt", _) => Repeat,
        ("SettleOrder", Received) => To("OrderSettled", Settled),
        ("SettleOrder", Settled) => Repeat,
        ("SettleOrder", _) => Refused("ReceiptNotConfirmed"),
        _ => unreachable!("no row {row}"),
    }
}

#[test]
fn every_shipping_stage_times_every_shipping_command_follows_the_table() {
    let mut checked = 0;
    for stage in ShippingStage::ALL {
        let given = reach(stage);
        let state = Order::fold(&given);
        let before = state.clone().expect("exists");
        let stage_of = |s: &OrderState| s.shipping.as_ref().map(Shipping::stage);
        assert_eq!(stage_of(&before), Some(stage), "fixture {stage:?}");
        for (row, command) in rows() {
            let cell = format!("{stage:?} × {row}");
            match (Order::decide(&state, command), expected(stage, row)) {
                (Ok(events), Then::Repeat) => assert_eq!(events, vec![], "{cell}"),
                (Ok(events), Then::To(event_type, to)) => {
                    let types: Vec<_> = events
                        .iter()
                        .map(|e| crate::event::DomainEvent::from(e.clone()).event_type())
                        .collect();
                    assert_eq!(types, vec![event_type], "{cell}");
                    let after = Order::fold(given.iter().chain(&events)).expect("exists");
                    assert_eq!(stage_of(&after), Some(to), "{cell}");
                    assert_eq!(after.status, before.status, "{cell}: status moved");
                    assert_eq!(after.check_invariants(), Ok(()), "{cell}");
                }
                (Err(error), Then::Refused(kind)) => {
                    assert_eq!(variant(&error), kind, "{cell}: {error}")
                }
                (got, want) => panic!("{cell}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ShippingStage::ALL.len() * rows().len());
}

fn refused(given: Vec<OrderCommand>, when: OrderCommand) -> ShippingError {
    let state = Order::fold(&history(given));
    match Order::decide(&state, when) {
        Err(DomainError::Shipping(e)) => e,
        other => panic!("expected a shipping refusal, got {other:?}"),
    }
}

fn ship_with(edit: impl FnOnce(&mut Shipment)) -> OrderCommand {
    let mut s = shipment(1);
    edit(&mut s);
    OrderCommand::ShipOrder {
        shipment: s,
        at: t(70),
    }
}

#[test]
fn given_an_unpaid_order_when_shipped_then_refused_as_not_paid() {
    let e = refused(vec![place_cmd()], ship(1));
    assert_eq!(
        e,
        ShippingError::OrderNotPaid {
            status: OrderStatus::Placed
        }
    );
    let e = refused(
        vec![place_cmd(), OrderCommand::CancelOrder { at: t(5) }],
        ship(1),
    );
    assert!(matches!(
        e,
        ShippingError::OrderNotPaid {
            status: OrderStatus::Cancelled
        }
    ));
}

#[test]
fn given_a_fully_refunded_order_when_shipped_then_refused() {
    let mut given = paid();
    given.extend([
        request_refund(1, TOTAL),
        crate::testkit::confirm_refund(1, TOTAL),
    ]);
    assert_eq!(refused(given, ship(1)), ShippingError::OrderFullyRefunded);
}

/// A shipped, uploaded and received order, then refunded by `amounts`.
fn received_then_refunded(amounts: &[u64]) -> Vec<OrderCommand> {
    let mut given = paid();
    given.extend([ship(1), shipping_uploaded(1), confirm_receipt()]);
    for (n, amount) in (1..).zip(amounts) {
        given.extend([
            request_refund(n, *amount),
            crate::testkit::confirm_refund(n, *amount),
        ]);
    }
    given
}

#[test]
fn given_a_shipped_order_fully_refunded_when_settled_then_refused_as_fully_refunded() {
    let given = received_then_refunded(&[TOTAL]);
    assert_eq!(
        refused(given.clone(), settle()),
        ShippingError::OrderFullyRefunded
    );
    // Nor may the shipment change: there is nothing left to ship.
    let mut not_received = paid();
    not_received.extend([
        ship(1),
        request_refund(1, TOTAL),
        crate::testkit::confirm_refund(1, TOTAL),
    ]);
    assert_eq!(
        refused(not_received, ship(2)),
        ShippingError::OrderFullyRefunded
    );
}

#[test]
fn given_a_shipped_order_partly_refunded_when_settled_then_it_settles() {
    let given = received_then_refunded(&[TOTAL / 2]);
    let state = Order::fold(&history(given));
    assert_eq!(
        state.as_ref().map(|o| o.status),
        Some(OrderStatus::PartiallyRefunded)
    );
    let events = Order::decide(&state, settle()).expect("settles");
    assert!(matches!(events.as_slice(), [OrderEvent::OrderSettled(_)]));
}

#[test]
fn given_a_settled_order_when_fully_refunded_then_the_refund_goes_through_and_the_shipping_stays() {
    let mut given = paid();
    given.extend([ship(1), shipping_uploaded(1), confirm_receipt(), settle()]);
    given.extend([
        request_refund(1, TOTAL),
        crate::testkit::confirm_refund(1, TOTAL),
    ]);
    let state = Order::fold(&history(given));
    let order = state.as_ref().expect("an order");
    assert_eq!(order.status, OrderStatus::Refunded);
    let shipping = order.shipping.as_ref().expect("shipped");
    assert_eq!(shipping.stage(), ShippingStage::Settled);
    // Settling again is a repeat, not a refusal.
    assert_eq!(Order::decide(&state, settle()).expect("repeat"), vec![]);
}

#[test]
fn given_a_fully_refunded_order_when_wechat_answers_its_upload_then_the_answer_is_recorded() {
    let mut given = paid();
    given.extend([
        ship(1),
        request_refund(1, TOTAL),
        crate::testkit::confirm_refund(1, TOTAL),
    ]);
    let state = Order::fold(&history(given));
    let events = Order::decide(&state, shipping_failed(1)).expect("recorded");
    assert!(matches!(
        events.as_slice(),
        [OrderEvent::ShippingUploadFailed(_)]
    ));
}

#[test]
fn given_a_paid_order_when_shipped_then_the_shipment_is_recorded_with_the_payment() {
    let state = Order::fold(&history(paid()));
    let events = Order::decide(&state, ship(1)).expect("ships");
    let [OrderEvent::OrderShipped(e)] = events.as_slice() else {
        panic!("one OrderShipped, got {events:?}");
    };
    assert_eq!(e.transaction_id, crate::testkit::txn(1));
    assert_eq!((e.revision, e.reupload), (1, false));
    assert_eq!(e.shipment, shipment(1));
}

#[test]
fn wechat_limits_on_a_shipment_are_refused_with_typed_errors() {
    let parcel = shipment(1).parcels[0].clone();
    let cases: Vec<(OrderCommand, &str)> = vec![
        (
            ship_with(|s| {
                s.delivery_mode = DeliveryMode::Split;
                s.parcels = vec![parcel.clone(); MAX_PARCELS + 1];
            }),
            "InvalidParcelCount",
        ),
        (ship_with(|s| s.parcels.clear()), "InvalidParcelCount"),
        (
            ship_with(|s| s.parcels.push(parcel.clone())),
            "UnifiedNeedsOneParcel",
        ),
        (
            ship_with(|s| s.is_all_delivered = false),
            "UnifiedIsAllDelivered",
        ),
        (
            ship_with(|s| {
                s.delivery_mode = DeliveryMode::Split;
                s.logistics_type = LogisticsType::SameCity;
                s.parcels[0].tracking_no = None;
                s.parcels[0].express_company = None;
            }),
            "SplitNeedsExpress",
        ),
        (
            ship_with(|s| s.parcels[0].item_desc = "茶".repeat(MAX_ITEM_DESC_CHARS + 1)),
            "InvalidItemDescription",
        ),
        (
            ship_with(|s| s.parcels[0].item_desc = " ".into()),
            "InvalidItemDescription",
        ),
        (
            ship_with(|s| s.parcels[0].tracking_no = None),
            "InvalidTracking",
        ),
        (
            ship_with(|s| {
                s.parcels[0].tracking_no = Some("9".repeat(MAX_TRACKING_NO_BYTES + 1));
            }),
            "InvalidTracking",
        ),
    ];
    for (command, kind) in cases {
        let state = Order::fold(&history(paid()));
        let error = Order::decide(&state, command).expect_err(kind);
        assert_eq!(variant(&error), kind, "{error}");
    }
    // At the limits exactly, it ships.
    let state = Order::fold(&history(paid()));
    let at_limits = ship_with(|s| {
        s.delivery_mode = DeliveryMode::Split;
        s.is_all_delivered = false;
        s.parcels = vec![parcel.clone(); MAX_PARCELS];
        s.parcels[0].item_desc = "茶".repeat(MAX_ITEM_DESC_CHARS);
    });
    assert_eq!(Order::decide(&state, at_limits).map(|e| e.len()), Ok(1));
    // Virtual goods carry no tracking.
    let virtual_goods = ship_with(|s| {
        s.logistics_type = LogisticsType::Virtual;
        s.parcels[0].tracking_no = None;
        s.parcels[0].express_company = None;
    });
    assert_eq!(Order::decide(&state, virtual_goods).map(|e| e.len()), Ok(1));
}

#[test]
fn wechat_allows_one_change_of_an_accepted_shipment() {
    let mut given = paid();
    given.extend([ship(1), shipping_uploaded(1)]);
    let state = Order::fold(&history(given.clone()));
    let events = Order::decide(&state, ship(2)).expect("one change allowed");
    let [OrderEvent::OrderShipped(e)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!((e.revision, e.reupload), (2, true));

    given.extend([ship(2), shipping_uploaded(2)]);
    let e = refused(given.clone(), ship(3));
    assert_eq!(
        e,
        ShippingError::ReuploadLimit {
            max: MAX_SHIPPING_REUPLOADS
        }
    );
    // The old revision's late outcome appends nothing; an unknown one is refused.
    let state = Order::fold(&history(given.clone()));
    assert_eq!(Order::decide(&state, shipping_failed(1)), Ok(vec![]));
    assert_eq!(
        refused(given, shipping_uploaded(3)),
        ShippingError::UnknownRevision { revision: 3 }
    );
}

#[test]
fn a_shipment_wechat_never_accepted_may_be_replaced_freely() {
    let mut given = paid();
    given.extend([
        ship(1),
        shipping_failed(1),
        ship(2),
        shipping_failed(2),
        ship(3),
    ]);
    let state = Order::fold(&history(given)).expect("exists");
    let s = state.shipping.expect("shipped");
    assert_eq!((s.revision, s.reuploads), (3, 0));
    assert_eq!(s.first_shipped_at, t(70));
}

#[test]
fn a_split_delivery_adds_parcels_without_spending_the_change() {
    let split = |n: u32, all: bool| {
        let mut s = shipment(n);
        s.delivery_mode = DeliveryMode::Split;
        s.is_all_delivered = all;
        OrderCommand::ShipOrder {
            shipment: s,
            at: t(70),
        }
    };
    let mut given = paid();
    given.extend([split(1, false), shipping_uploaded(1), split(2, true)]);
    let state = Order::fold(&history(given)).expect("exists");
    let s = state.shipping.expect("shipped");
    assert_eq!((s.revision, s.reuploads), (2, 0));
}

#[test]
fn upload_failures_count_attempts_and_keep_wechats_errcode() {
    let mut given = paid();
    given.extend([ship(1), shipping_failed(1), shipping_failed(1)]);
    let state = Order::fold(&history(given)).expect("exists");
    let s = state.shipping.expect("shipped");
    assert_eq!(s.failed_attempts, 2);
    assert_eq!(s.last_error.map(|e| e.errcode), Some(10060014));
    assert_eq!(s.upload, UploadStatus::Failed);
}

#[test]
fn settlement_follows_receipt_and_keeps_the_order_status() {
    let mut given = paid();
    given.extend([ship(1), shipping_uploaded(1), confirm_receipt(), settle()]);
    let state = Order::fold(&history(given)).expect("exists");
    assert_eq!(state.status, OrderStatus::Paid);
    let s = state.shipping.expect("shipped");
    assert_eq!(s.receipt_confirmed_at, Some(t(2000)));
    assert_eq!(s.settled_at, Some(t(3000)));
    assert_eq!(state.updated_at, t(3001));
}

#[test]
fn shipping_events_round_trip_through_the_codec() {
    let mut given = paid();
    given.extend([
        ship(1),
        shipping_failed(1),
        shipping_uploaded(1),
        confirm_receipt(),
        settle(),
    ]);
    for event in history(given) {
        let event = crate::event::DomainEvent::from(event);
        let encoded = crate::codec::encode(&event).expect("encodes");
        let decoded =
            crate::codec::decode(encoded.event_type, encoded.schema_version, &encoded.payload)
                .expect("decodes");
        assert_eq!(decoded, event);
    }
}
