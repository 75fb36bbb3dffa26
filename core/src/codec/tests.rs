//! Round trips of every event type in both encodings, the golden bytes of the binary
//! one, the v1 → v2 upcasts, and refusals.

use std::borrow::Cow;

use super::*;
use crate::aggregate::Aggregate;
use crate::claim::{Claim, ClaimCommand};
use crate::identity::{OpenId, Username};
use crate::order::{AttentionResolution, CloseReason, OrderClosed, OrderCommand};
use crate::product::{Product, ProductCommand};
use crate::testkit::*;
use crate::user::{Credentials, RegisterUser, User, UserCommand};

/// At least one event of every type, all produced by real decisions.
fn one_of_each() -> Vec<DomainEvent> {
    let mut all: Vec<DomainEvent> = Vec::new();
    let register = UserCommand::RegisterUser(RegisterUser {
        user_id: user_id(1),
        credentials: Credentials::WeChat {
            openid: OpenId::parse("oX").expect("valid"),
        },
        at: t0(),
    });
    all.extend(
        User::decide(&None, register)
            .expect("decides")
            .into_iter()
            .map(Into::into),
    );
    let claims = [
        ClaimCommand::ClaimUsername {
            username: Username::parse("dave").expect("valid"),
            user_id: user_id(1),
            at: t0(),
        },
        ClaimCommand::ClaimOpenId {
            openid: OpenId::parse("oX").expect("valid"),
            user_id: user_id(1),
            at: t0(),
        },
    ];
    for claim in claims {
        all.extend(
            Claim::decide(&None, claim)
                .expect("decides")
                .into_iter()
                .map(Into::into),
        );
    }
    let state = Some(product(1, 1000, 5));
    for command in [
        ProductCommand::AdjustStock {
            delta: -1,
            reason: "broken in the shop".into(),
            at: t0(),
        },
        ProductCommand::ReserveStock {
            order_id: order_id(1),
            quantity: 1,
            at: t0(),
        },
        ProductCommand::ReleaseStock {
            order_id: order_id(1),
            quantity: 1,
            at: t0(),
        },
    ] {
        all.extend(
            Product::decide(&state, command)
                .expect("decides")
                .into_iter()
                .map(Into::into),
        );
    }
    let created = crate::product::ProductEvent::ProductCreated(crate::product::ProductCreated {
        product_id: product_id(1),
        name: "Tea".into(),
        price: Fen::new(1000),
        stock: 5,
        at: t0(),
    });
    all.push(created.into());
    let histories = [
        history(vec![
            place_cmd(),
            request_payment(),
            confirm(9, 1),
            confirm(1, TOTAL),
            request_refund(1, 400),
            confirm_refund(1, 400),
            request_refund(2, 100),
            fail_refund(2),
        ]),
        history(vec![
            place_cmd(),
            OrderCommand::CancelOrder { at: t(1) },
            confirm(5, 1),
        ]),
        history(vec![place_cmd(), OrderCommand::CloseOrder { at: t(30) }]),
        history(vec![
            place_cmd(),
            confirm(1, TOTAL),
            confirm(2, 700),
            refund_anomaly(2, 5),
            request_refund(3, 100),
            fail_refund(3),
            confirm_refund(3, 100),
            request_refund(4, 100),
            needs_attention(4),
            resolve(4, AttentionResolution::RefundedOtherwise),
        ]),
        history(vec![
            place_cmd(),
            confirm(2, 1),
            OrderCommand::CloseOrder { at: t(3) },
        ]),
        history(vec![
            place_cmd(),
            confirm(1, TOTAL),
            ship(1),
            shipping_failed(1),
            shipping_uploaded(1),
            confirm_receipt(),
            settle(),
        ]),
    ];
    for events in histories {
        all.extend(events.into_iter().map(Into::into));
    }
    all
}

#[test]
fn every_event_type_round_trips_at_its_current_version() {
    let events = one_of_each();
    for (name, version) in EVENT_TYPES {
        assert!(
            events.iter().any(|e| e.event_type() == *name),
            "no sample of {name} v{version}"
        );
    }
    for event in events {
        let encoded = encode(&event).expect("encodes");
        let current = EVENT_TYPES.iter().find(|(n, _)| *n == encoded.event_type);
        assert_eq!(current.map(|(_, v)| *v), Some(encoded.schema_version));
        let decoded = decode(encoded.event_type, encoded.schema_version, &encoded.payload);
        assert_eq!(decoded.as_ref(), Ok(&event), "{}", encoded.event_type);
    }
}

/// Shapes [`one_of_each`] does not reach: a password user, a v3 prepay.
fn other_shapes() -> Vec<DomainEvent> {
    let password = crate::user::UserRegistered {
        user_id: user_id(2),
        credentials: Credentials::Password {
            username: Username::parse("olga").expect("valid"),
            password_hash: crate::identity::PasswordHash::parse(
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo",
            )
            .expect("valid"),
        },
        at: t0(),
    };
    let v3 = crate::order::PaymentRequested {
        order_id: order_id(3),
        prepay_id: crate::payment_refs::PrepayId::parse("wx2014102720093955226").expect("valid"),
        valid_until: t(120),
        api: crate::payment_refs::PayApi::V3,
        at: t(1),
    };
    vec![
        crate::user::UserEvent::UserRegistered(password).into(),
        OrderEvent::PaymentRequested(v3).into(),
    ]
}

#[test]
fn every_event_reads_the_same_from_json_and_from_binary() {
    for event in one_of_each().into_iter().chain(other_shapes()) {
        let binary = encode(&event).expect("encodes");
        let json = encode_json(&event).expect("encodes");
        assert_eq!(
            PayloadEncoding::of(&binary.payload),
            PayloadEncoding::Binary
        );
        assert_eq!(PayloadEncoding::of(&json.payload), PayloadEncoding::Json);
        assert_eq!(
            (binary.event_type, binary.schema_version),
            (json.event_type, json.schema_version)
        );
        let from_json = decode(json.event_type, json.schema_version, &json.payload);
        assert_eq!(from_json.as_ref(), Ok(&event), "{}", json.event_type);
        // People see the binary payload as exactly the JSON the event always had.
        let (version, rendered) =
            payload_json(binary.event_type, binary.schema_version, &binary.payload)
                .expect("renders");
        assert_eq!(version, json.schema_version);
        assert_eq!(
            rendered.as_ref(),
            json.payload.as_slice(),
            "{}",
            json.event_type
        );
        // A JSON payload is shown as stored, byte for byte.
        let (_, shown) =
            payload_json(json.event_type, json.schema_version, &json.payload).expect("renders");
        assert!(matches!(shown, Cow::Borrowed(_)));
        assert!(
            binary.payload.len() < json.payload.len(),
            "{}",
            json.event_type
        );
    }
}

/// The binary bytes of every `(event_type, schema_version)`, frozen in
/// `golden_binary.txt` (`EventType vN hex`, one line each, from [`one_of_each`]'s
/// first event of the type). postcard reads fields by position, so a field added,
/// removed, reordered or retyped in an event would silently misread every binary
/// payload already in a log: this test fails instead, and the change has to become a
/// new schema version whose upcast reads these bytes (the old line stays).
#[test]
fn binary_payloads_are_pinned_per_type_and_version() {
    let golden: Vec<(&str, u16, Vec<u8>)> = include_str!("golden_binary.txt")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next().expect("a type");
            let version = parts.next().and_then(|v| v.strip_prefix('v'));
            let version = version.and_then(|v| v.parse().ok()).expect("a version");
            let bytes = hex::decode(parts.next().expect("bytes")).expect("hex");
            (name, version, bytes)
        })
        .collect();
    let events = one_of_each();
    let mut missing = Vec::new();
    for (name, version) in EVENT_TYPES {
        let sample = events
            .iter()
            .find(|e| e.event_type() == *name)
            .expect("a sample");
        let encoded = encode(sample).expect("encodes");
        let line = format!("{name} v{version} {}", hex::encode(&encoded.payload));
        let Some(frozen) = golden.iter().find(|(n, v, _)| n == name && v == version) else {
            missing.push(line);
            continue;
        };
        assert_eq!(
            decode(name, *version, &frozen.2).as_ref(),
            Ok(sample),
            "{name} v{version}: the frozen bytes no longer read as the event"
        );
        assert_eq!(
            encoded.payload, frozen.2,
            "{name} v{version}: the bytes changed (a changed shape is a new version)"
        );
    }
    assert!(
        missing.is_empty(),
        "no golden bytes for a new (type, version); add:\n{}",
        missing.join("\n")
    );
    // Older versions still read (through their upcasts) from their frozen bytes.
    for (name, version, bytes) in &golden {
        assert!(
            decode(name, *version, bytes).is_ok(),
            "{name} v{version}: frozen bytes no longer decode"
        );
    }
}

#[test]
fn a_binary_payload_with_bytes_missing_or_left_over_is_malformed() {
    let event: DomainEvent = history(vec![place_cmd()]).remove(0).into();
    let encoded = encode(&event).expect("encodes");
    let mut longer = encoded.payload.clone();
    longer.push(0);
    let shorter = &encoded.payload[..encoded.payload.len() - 1];
    for payload in [&longer[..], shorter, &[BINARY_PAYLOAD_TAG][..]] {
        assert!(matches!(
            decode("OrderPlaced", 2, payload),
            Err(CodecError::MalformedEvent {
                schema_version: 2,
                ..
            })
        ));
    }
}

#[test]
fn payload_is_the_json_of_the_event_fields_without_a_tag() {
    let placed = history(vec![place_cmd()]).remove(0);
    let encoded = encode_json(&placed.into()).expect("encodes");
    assert_eq!(
        (encoded.event_type, encoded.schema_version),
        ("OrderPlaced", 2)
    );
    let json: serde_json::Value = serde_json::from_slice(&encoded.payload).expect("json");
    assert_eq!(json["total"], serde_json::json!(TOTAL));
    assert_eq!(json["lines"][0]["line_total"], serde_json::json!(2000));
    assert_eq!(
        json["out_trade_no"],
        serde_json::json!(order_id(1).as_uuid().simple().to_string())
    );
    assert!(json.get("type").is_none());
}

#[test]
fn order_placed_v1_is_upcast_with_a_two_hour_window() {
    // A v1 payload exactly as the old code wrote it: no `expires_at`.
    let v1 = serde_json::json!({
        "order_id": order_id(7).to_string(),
        "user_id": user_id(1).to_string(),
        "out_trade_no": order_id(7).as_uuid().simple().to_string(),
        "lines": [{
            "product_id": product_id(1).to_string(),
            "product_name": "Oolong",
            "unit_price": 1000,
            "quantity": 3,
            "line_total": 3000
        }],
        "total": 3000,
        "at": "2024-05-01T12:00:00Z"
    });
    let payload = serde_json::to_vec(&v1).expect("json");
    let decoded = decode("OrderPlaced", 1, &payload).expect("v1 decodes");
    let DomainEvent::Order(OrderEvent::OrderPlaced(placed)) = &decoded else {
        panic!("expected OrderPlaced, got {decoded:?}");
    };
    assert_eq!(placed.expires_at, t(120));
    assert_eq!(placed.at, t0());
    assert_eq!(placed.total, Fen::new(3000));
    // The upcast event folds into a sound order that can be closed after two hours.
    let state = crate::order::Order::fold([&OrderEvent::OrderPlaced(placed.clone())]);
    let state = state.expect("placed");
    assert_eq!(state.check_invariants(), Ok(()));
    // Re-encoding writes the current shape.
    let encoded = encode(&decoded).expect("encodes");
    assert_eq!(encoded.schema_version, 2);
    assert_eq!(decode("OrderPlaced", 2, &encoded.payload), Ok(decoded));
    // Read as v2, the same payload is refused: defaults only come from the upcast.
    assert!(matches!(
        decode("OrderPlaced", 2, &payload),
        Err(CodecError::MalformedEvent {
            schema_version: 2,
            ..
        })
    ));
}

#[test]
fn unknown_types_versions_and_bad_payloads_are_refused() {
    assert_eq!(
        decode("OrderTeleported", 1, b"{}"),
        Err(CodecError::UnknownEventType("OrderTeleported".into()))
    );
    assert_eq!(
        decode("OrderPlaced", 3, b"{}"),
        Err(CodecError::UnsupportedSchemaVersion {
            event_type: "OrderPlaced".into(),
            schema_version: 3,
        })
    );
    assert!(matches!(
        decode("OrderCancelled", 1, b"not json"),
        Err(CodecError::MalformedEvent { .. })
    ));
    // Validation of value types also applies when reading: a bad id is malformed.
    let bad = br#"{"order_id":"nope","at":"2024-05-01T12:00:00Z"}"#;
    assert!(matches!(
        decode("OrderCancelled", 1, bad),
        Err(CodecError::MalformedEvent { .. })
    ));
}

#[test]
fn events_serialise_with_their_type_name_for_audits() {
    let event: DomainEvent = history(vec![place_cmd(), OrderCommand::CancelOrder { at: t(1) }])
        .remove(1)
        .into();
    let json = serde_json::to_value(&event).expect("json");
    assert_eq!(json["type"], "OrderCancelled");
    assert_eq!(json["at"], "2024-05-01T12:01:00Z");
    assert_eq!(event.at(), t(1));
    assert!(matches!(
        crate::user::UserEvent::try_from(event),
        Err(CodecError::UnexpectedEvent {
            event_type: "OrderCancelled",
            aggregate: "user"
        })
    ));
}

#[test]
fn stock_adjusted_v1_is_upcast_with_the_marker_reason() {
    // A v1 payload exactly as the old code wrote it: no `reason`.
    let v1 = serde_json::json!({
        "product_id": product_id(3).to_string(),
        "delta": -2,
        "stock_after": 3,
        "at": "2024-05-01T12:30:00Z"
    });
    let payload = serde_json::to_vec(&v1).expect("json");
    let decoded = decode("StockAdjusted", 1, &payload);
    assert_eq!(
        decoded,
        Ok(DomainEvent::Product(ProductEvent::StockAdjusted(
            StockAdjusted {
                product_id: product_id(3),
                delta: -2,
                stock_after: 3,
                reason: STOCK_ADJUSTED_V1_REASON.into(),
                at: t(30),
            }
        )))
    );
    // The marker is not a reason anyone could have typed by accident, and it is a
    // valid one (within the limit), so the upcast event is as sound as a new one.
    assert!(
        STOCK_ADJUSTED_V1_REASON.chars().count() <= crate::product::MAX_ADJUSTMENT_REASON_CHARS
    );
    // Re-encoded, it is a v2 event that reads back the same.
    let decoded = decoded.expect("decodes");
    let encoded = encode(&decoded).expect("encodes");
    assert_eq!(encoded.schema_version, 2);
    assert_eq!(decode("StockAdjusted", 2, &encoded.payload), Ok(decoded));
    // Read as v2, the v1 payload is refused: the marker only comes from the upcast.
    assert!(matches!(
        decode("StockAdjusted", 2, &payload),
        Err(CodecError::MalformedEvent { .. })
    ));
    assert!(matches!(
        decode("StockAdjusted", 3, &payload),
        Err(CodecError::UnsupportedSchemaVersion { .. })
    ));
}

#[test]
fn order_closed_v1_is_upcast_as_an_expiry() {
    // A v1 payload exactly as the old code wrote it: no `reason`.
    let v1 = serde_json::json!({
        "order_id": order_id(7).to_string(),
        "at": "2024-05-01T12:30:00Z"
    });
    let payload = serde_json::to_vec(&v1).expect("json");
    assert_eq!(
        decode("OrderClosed", 1, &payload),
        Ok(DomainEvent::Order(OrderEvent::OrderClosed(OrderClosed {
            order_id: order_id(7),
            reason: CloseReason::Expired,
            at: t(30),
        })))
    );
    // Read as v2, the same payload is refused: the reason only defaults in the upcast.
    assert!(matches!(
        decode("OrderClosed", 2, &payload),
        Err(CodecError::MalformedEvent { .. })
    ));
    // A log of the old era still folds to a closed order.
    let DomainEvent::Order(closed) = decode("OrderClosed", 1, &payload).expect("decodes") else {
        unreachable!("decoded above");
    };
    let placed = history(vec![place_cmd()]);
    let mut events = placed;
    let OrderEvent::OrderClosed(mut c) = closed else {
        unreachable!("decoded above");
    };
    c.order_id = order_id(1);
    events.push(OrderEvent::OrderClosed(c));
    let state = crate::order::Order::fold(&events).expect("exists");
    assert_eq!(state.close_reason, Some(CloseReason::Expired));
    assert_eq!(state.check_invariants(), Ok(()));
}

/// Each event added for money after payment, as its v1 JSON payload: written out by
/// hand so that a change of shape cannot slip past as a silent re-encoding.
#[test]
fn each_new_money_event_has_a_frozen_v1_payload() {
    let order = order_id(1).to_string();
    let tx = txn(2).to_string();
    let golden = [
        (
            "DuplicatePaymentReceived",
            serde_json::json!({"order_id": order, "transaction_id": tx, "amount": 700,
                "paid_at": "2024-05-01T12:02:00Z", "paid_by": txn(1).to_string(),
                "at": "2024-05-01T12:02:00Z"}),
        ),
        (
            "AnomalousPaymentRefundRequested",
            serde_json::json!({"order_id": order, "transaction_id": tx, "out_refund_no": "R5",
                "amount": 700, "reason": "paid twice", "at": "2024-05-01T13:00:00Z"}),
        ),
        (
            "RefundConfirmedAfterFailure",
            serde_json::json!({"order_id": order, "out_refund_no": "R3",
                "refund_id": "50000000000003", "amount": 100, "refunded_after": 100,
                "at": "2024-05-01T13:01:00Z"}),
        ),
        (
            "RefundNeedsAttention",
            serde_json::json!({"order_id": order, "out_refund_no": "R4", "amount": 100,
                "reason": "CHANGE", "at": "2024-05-01T13:02:00Z"}),
        ),
        (
            "RefundAttentionResolved",
            serde_json::json!({"order_id": order, "out_refund_no": "R4", "amount": 100,
                "resolution": "RefundedOtherwise", "note": "refunded at the merchant platform",
                "refunded_after": 200, "at": "2024-05-01T13:30:00Z"}),
        ),
        (
            "OrderClosed",
            serde_json::json!({"order_id": order, "reason": "AmountMismatch",
                "at": "2024-05-01T12:03:00Z"}),
        ),
    ];
    let decided = one_of_each();
    for (event_type, payload) in golden {
        let (_, version) = EVENT_TYPES
            .iter()
            .find(|(name, _)| *name == event_type)
            .expect("registered");
        let bytes = serde_json::to_vec(&payload).expect("json");
        let decoded =
            decode(event_type, *version, &bytes).unwrap_or_else(|e| panic!("{event_type}: {e}"));
        assert!(
            decided.contains(&decoded),
            "{event_type}: {decoded:?} is not what decide produced"
        );
        let encoded = encode_json(&decoded).expect("encodes");
        let reencoded: serde_json::Value = serde_json::from_slice(&encoded.payload).expect("json");
        assert_eq!(reencoded, payload, "{event_type}");
    }
}

/// A log written before the money events existed, payload by payload as the old code
/// wrote it, decodes and folds to the state it always meant: refunds are of the
/// payment, a close is an expiry, anomalies keep their transaction and amount.
#[test]
fn an_old_log_keeps_its_meaning() {
    let order = order_id(1).to_string();
    let out_trade_no = order_id(1).as_uuid().simple().to_string();
    let placed = serde_json::json!({"order_id": order, "user_id": user_id(1).to_string(),
        "out_trade_no": out_trade_no, "lines": [{"product_id": product_id(1).to_string(),
        "product_name": "Oolong", "unit_price": 2500, "quantity": 1, "line_total": 2500}],
        "total": 2500, "expires_at": "2024-05-01T12:30:00Z", "at": "2024-05-01T12:00:00Z"});
    let paid_log = [
        ("OrderPlaced", 2, placed.clone()),
        (
            "PaymentConfirmed",
            1,
            serde_json::json!({"order_id": order,
            "transaction_id": txn(1).to_string(), "amount": 2500,
            "paid_at": "2024-05-01T12:02:00Z", "at": "2024-05-01T12:02:00Z"}),
        ),
        (
            "RefundRequested",
            1,
            serde_json::json!({"order_id": order, "out_refund_no": "R1",
            "amount": 1000, "reason": "damaged", "at": "2024-05-01T13:00:00Z"}),
        ),
        (
            "RefundConfirmed",
            1,
            serde_json::json!({"order_id": order, "out_refund_no": "R1",
            "refund_id": "50000000000001", "amount": 1000, "refunded_after": 1000,
            "at": "2024-05-01T13:01:00Z"}),
        ),
        (
            "RefundRequested",
            1,
            serde_json::json!({"order_id": order, "out_refund_no": "R2",
            "amount": 500, "reason": "damaged", "at": "2024-05-01T13:02:00Z"}),
        ),
        (
            "RefundFailed",
            1,
            serde_json::json!({"order_id": order, "out_refund_no": "R2",
            "amount": 500, "reason": "NOTENOUGH", "at": "2024-05-01T13:03:00Z"}),
        ),
    ];
    let fold = |log: &[(&str, u16, serde_json::Value)]| {
        let events: Vec<OrderEvent> = log
            .iter()
            .map(|(event_type, version, payload)| {
                let bytes = serde_json::to_vec(payload).expect("json");
                match decode(event_type, *version, &bytes) {
                    Ok(DomainEvent::Order(e)) => e,
                    other => panic!("{event_type} v{version}: {other:?}"),
                }
            })
            .collect();
        crate::order::Order::fold(&events).expect("placed")
    };
    let state = fold(&paid_log);
    assert_eq!(state.check_invariants(), Ok(()));
    assert_eq!(
        (state.status, state.refunded, state.pending_refunds),
        (
            crate::order::OrderStatus::PartiallyRefunded,
            Fen::new(1000),
            Fen::ZERO
        )
    );
    assert!(
        state
            .refunds
            .iter()
            .all(|r| r.target == crate::order::RefundTarget::Payment && !r.revived_after_failure)
    );
    assert_eq!(state.money_held(), Some(Fen::new(1500)));

    let closed_log = [
        ("OrderPlaced", 2, placed),
        (
            "OrderClosed",
            1,
            serde_json::json!({"order_id": order, "at": "2024-05-01T12:30:00Z"}),
        ),
        (
            "LatePaymentReceived",
            1,
            serde_json::json!({"order_id": order,
            "transaction_id": txn(2).to_string(), "amount": 2500,
            "paid_at": "2024-05-01T12:31:00Z", "order_status": "Closed",
            "at": "2024-05-01T12:31:00Z"}),
        ),
    ];
    let state = fold(&closed_log);
    assert_eq!(state.check_invariants(), Ok(()));
    assert_eq!(state.close_reason, Some(CloseReason::Expired));
    assert_eq!(
        state
            .anomalies
            .iter()
            .map(|a| (&a.transaction_id, a.amount))
            .collect::<Vec<_>>(),
        [(&txn(2), Fen::new(2500))]
    );
    assert_eq!(state.money_held(), Some(Fen::new(2500)));
}
