//! Replay for audits against a real RocksStore: history and state as of each step,
//! verification of sound and broken logs, export → import round trips.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Duration;
use paylog_core::order::{OrderCommand, OrderStatus};
use paylog_core::payment_refs::OutRefundNo;
use paylog_core::{Fen, OrderId};
use paylog_projections::audit::{Secrets, export_line, import_line, order_history, verify_log};
use paylog_projections::{Views, diff, rebuild};
use paylog_store::{EventStore, RecordedEvent, RocksStore};
use support::{Shop, append_raw, open_store};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_gives_the_state_at_each_step_of_a_scripted_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let mut shop = Shop::new(store.clone(), 5);
    let (user, _) = shop.register_user().await;
    let tea = shop.create_product(1200, 10).await;
    let (order, placed) = shop
        .place_order(user, vec![(tea, 2)])
        .await
        .expect("placed");
    let mut steps = vec![(placed, OrderStatus::Placed)];
    let at = shop.clock + Duration::minutes(1);
    let prepay_id = shop.prepay();
    let transaction_id = shop.transaction();
    let refund_no = OutRefundNo::from_uuid(Uuid::from_u128(99));
    let refund_id = shop.refund_id();
    let script = [
        (
            OrderCommand::RequestPayment {
                prepay_id,
                valid_until: at + Duration::hours(2),
                api: Default::default(),
                at,
            },
            OrderStatus::PaymentRequested,
        ),
        (
            OrderCommand::ConfirmPayment {
                transaction_id,
                amount: Fen::new(2400),
                paid_at: at,
                at,
            },
            OrderStatus::Paid,
        ),
        (
            OrderCommand::RequestRefund {
                out_refund_no: refund_no.clone(),
                amount: Fen::new(400),
                reason: "one cup broke".into(),
                at,
            },
            OrderStatus::Refunding,
        ),
        (
            OrderCommand::ConfirmRefund {
                out_refund_no: refund_no,
                refund_id,
                amount: Fen::new(400),
                at,
            },
            OrderStatus::PartiallyRefunded,
        ),
    ];
    for (command, status) in script {
        // Distinct recorded_at instants for each step.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let outcome = shop.on_order(order, command).await.expect("accepted");
        steps.push((outcome, status));
    }

    let history = order_history(&*store, order).await.expect("history");
    assert_eq!(history.entries.len(), steps.len());
    for (entry, (outcome, status)) in history.entries.iter().zip(&steps) {
        assert_eq!(entry.position, outcome.first_position);
        assert_eq!(entry.recorded_at, outcome.recorded_at);
        assert_eq!(entry.state.as_ref().map(|s| s.status), Some(*status));
        let as_of = history
            .state_as_of(outcome.recorded_at)
            .expect("exists then");
        assert_eq!(as_of.status, *status);
        // Just before the step, the state was the previous one.
        let before = history.state_as_of(outcome.recorded_at - Duration::nanoseconds(1));
        assert_ne!(before.map(|s| s.status), Some(*status));
    }
    assert!(
        history
            .state_as_of(steps[0].0.recorded_at - Duration::nanoseconds(1))
            .is_none()
    );
    let current = history.current().expect("exists");
    assert_eq!(
        (current.paid, current.refunded),
        (Fen::new(2400), Fen::new(400))
    );
    let unknown = order_history(&*store, OrderId::from_uuid(Uuid::from_u128(1))).await;
    assert!(unknown.expect("reads").entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_a_sound_log_and_catches_broken_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let mut shop = Shop::new(store.clone(), 21);
    shop.random_history(300).await;
    let report = verify_log(&*store, 10, |_, _| {}).await.expect("verify");
    assert!(report.is_sound(), "{:#?}", report.breaches);
    assert_eq!(report.events, store.head());
    assert!(report.orders > 0 && report.products > 0 && report.users > 0);

    // An order "paid" with the wrong amount, appended raw, bypassing decide.
    let (user, _) = shop.register_user().await;
    let tea = shop.create_product(500, 5).await;
    let (order, _) = shop
        .place_order(user, vec![(tea, 1)])
        .await
        .expect("placed");
    let stream = paylog_core::streams::order_stream(order);
    let at = shop.clock.to_rfc3339();
    let payload = format!(
        r#"{{"order_id":"{order}","transaction_id":"4200000000000000000000000001","amount":1,"paid_at":"{at}","at":"{at}"}}"#
    );
    append_raw(
        &store,
        &stream,
        vec![("PaymentConfirmed", 1, payload.into_bytes())],
    )
    .await;
    // Stock reserved beyond what is there.
    let product_stream = paylog_core::streams::product_stream(tea);
    let payload = format!(
        r#"{{"product_id":"{tea}","order_id":"{order}","quantity":9,"stock_after":0,"at":"{at}"}}"#
    );
    append_raw(
        &store,
        &product_stream,
        vec![("StockReserved", 1, payload.into_bytes())],
    )
    .await;
    // An event nobody can decode.
    append_raw(&store, &stream, vec![("OrderPlaced", 9, b"{}".to_vec())]).await;

    let report = verify_log(&*store, 10, |_, _| {}).await.expect("verify");
    assert!(!report.is_sound());
    let messages: Vec<String> = report.breaches.iter().map(ToString::to_string).collect();
    let any = |needle: &str| messages.iter().any(|m| m.contains(needle));
    assert!(any("≠ total"), "wrong amount not caught: {messages:#?}");
    assert!(any("negative"), "negative stock not caught: {messages:#?}");
    assert!(
        any("schema version"),
        "undecodable event not caught: {messages:#?}"
    );
    assert_eq!(report.breach_count as usize, report.breaches.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_round_trips_to_identical_views() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let mut shop = Shop::new(store.clone(), 31);
    shop.random_history(300).await;

    let mut lines = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.read_all(after, 100).await.expect("read");
        let Some(last) = batch.last() else { break };
        after = last.position;
        for event in &batch {
            lines.push(export_line(event, Secrets::Included).expect("exports"));
        }
    }

    let copy_path = dir.path().join("copy-log");
    let mut importer = RocksStore::importer(&copy_path).expect("importer");
    for line in &lines {
        importer
            .push(import_line(line).expect("parses"))
            .expect("imports");
    }
    let stats = importer.finish().expect("finishes");
    assert_eq!(stats.events, store.head());

    let copy = open_store(&copy_path);
    assert_eq!(copy.head(), store.head());
    // The copy holds the same envelopes; its payloads are the JSON the export showed
    // (the original's are binary), which decode to the very same events.
    let copied = copy.read_all(0, 100_000).await.expect("read copy");
    let original = store.read_all(0, 100_000).await.expect("read original");
    assert_eq!(copied.len(), original.len());
    for (c, o) in copied.iter().zip(&original) {
        assert_eq!(
            RecordedEvent {
                payload: o.payload.clone(),
                ..c.clone()
            },
            *o
        );
        let decode = |e: &RecordedEvent| {
            paylog_core::codec::decode(&e.event_type, e.schema_version, &e.payload)
                .expect("decodes")
        };
        assert_eq!(decode(c), decode(o));
        assert_eq!(
            export_line(c, Secrets::Included).expect("exports"),
            export_line(o, Secrets::Included).expect("exports")
        );
    }
    let original_views = Views::open(dir.path().join("views")).expect("views");
    rebuild(&*store, &original_views, |_| {})
        .await
        .expect("rebuild");
    let copy_views = Views::open(dir.path().join("copy-views")).expect("views");
    rebuild(&*copy, &copy_views, |_| {}).await.expect("rebuild");
    let differences = diff(&original_views, &copy_views, 10).expect("diff");
    assert!(differences.is_empty(), "{differences:#?}");

    // A store that holds events refuses an import.
    drop(copy);
    assert!(RocksStore::importer(&copy_path).is_err());
    // An import out of order is refused.
    let mut importer = RocksStore::importer(dir.path().join("other")).expect("importer");
    let second = import_line(&lines[1]).expect("parses");
    assert!(importer.push(second).is_err());
}
