//! A log written before binary payloads stays readable for ever.
//!
//! `tests/data/log-v1-json.jsonl` is a `paylog export` written by the code as it was
//! before binary payloads (JSON payloads only, store layout 1): users by password and
//! by WeChat, products, a stock adjustment, orders paid, refunded, cancelled, shipped
//! and left open. It is imported as recorded, so its envelopes sit on disk with the
//! JSON payloads of that code, and the same history is also written with every
//! payload in today's binary encoding. Both must replay to identical views, pass the
//! audit, and export to the very file they came from; and a binary event appended
//! after the old ones reads beside them.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use paylog_core::DomainEvent;
use paylog_core::codec::{self, PayloadEncoding};
use paylog_core::product::{ProductEvent, StockAdjusted};
use paylog_projections::audit::{Secrets, export_line, import_line, verify_log};
use paylog_projections::{Page, Views, diff, rebuild};
use paylog_store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, RecordedEvent, RocksStore, StoreOptions,
    StreamAppend,
};
use uuid::Uuid;

const FIXTURE: &str = include_str!("../data/log-v1-json.jsonl");

fn fixture_events() -> Vec<RecordedEvent> {
    FIXTURE
        .lines()
        .map(|line| import_line(line).expect("a line of the fixture imports"))
        .collect()
}

/// Writes `events` into a new log at `dir/log` as `paylog import` does.
fn import(dir: &Path, events: Vec<RecordedEvent>) {
    let mut importer = RocksStore::importer(dir.join("log")).expect("importer");
    for event in events {
        importer.push(event).expect("imports");
    }
    importer.finish().expect("finishes");
}

async fn open(dir: &Path) -> RocksStore {
    let path = dir.join("log");
    tokio::task::spawn_blocking(move || RocksStore::open(path, StoreOptions::default()))
        .await
        .expect("task")
        .expect("opens")
}

async fn replay(store: &dyn EventStore, dir: &Path) -> Views {
    let views = Views::open(dir.join("views")).expect("views");
    rebuild(store, &views, |_| {}).await.expect("rebuilds");
    views
}

async fn export(store: &dyn EventStore) -> String {
    let mut out = String::new();
    for event in store.read_all(0, 10_000).await.expect("reads") {
        out.push_str(&export_line(&event, Secrets::Included).expect("exports"));
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn a_log_written_before_binary_payloads_replays_to_the_same_views_as_a_binary_one() {
    let old = fixture_events();
    assert!(old.len() > 20, "the fixture holds a real history");
    assert!(
        old.iter()
            .all(|e| PayloadEncoding::of(&e.payload) == PayloadEncoding::Json)
    );
    let binary: Vec<RecordedEvent> = old
        .iter()
        .map(|e| {
            let event = codec::decode(&e.event_type, e.schema_version, &e.payload)
                .expect("the fixture decodes");
            let encoded = codec::encode(&event).expect("encodes");
            if encoded.schema_version != e.schema_version {
                // An older shape (StockAdjusted v1, before reasons) is only ever read
                // and upcast, never written again: it stays JSON in both logs.
                return e.clone();
            }
            RecordedEvent {
                payload: encoded.payload,
                ..e.clone()
            }
        })
        .collect();

    let json_dir = tempfile::tempdir().expect("temp dir");
    let binary_dir = tempfile::tempdir().expect("temp dir");
    import(json_dir.path(), old);
    import(binary_dir.path(), binary);
    let json_log = open(json_dir.path()).await;
    let binary_log = open(binary_dir.path()).await;

    // On disk, the imported log holds the old JSON envelopes, the other binary ones.
    let stored = json_log.read_all(0, 10_000).await.expect("reads");
    assert!(
        stored
            .iter()
            .all(|e| PayloadEncoding::of(&e.payload) == PayloadEncoding::Json)
    );
    let stored = binary_log.read_all(0, 10_000).await.expect("reads");
    let current = |e: &RecordedEvent| {
        paylog_core::codec::EVENT_TYPES
            .iter()
            .any(|(name, version)| *name == e.event_type && *version == e.schema_version)
    };
    assert!(
        stored.iter().any(|e| !current(e)),
        "the fixture holds an old shape"
    );
    assert!(stored.iter().all(|e| {
        let binary = PayloadEncoding::of(&e.payload) == PayloadEncoding::Binary;
        binary == current(e)
    }));

    // People see the same JSON whatever the stored encoding: the very file exported.
    assert_eq!(export(&json_log).await, FIXTURE);
    assert_eq!(export(&binary_log).await, FIXTURE);

    // Both replay to the same views, which hold the fixture's shop.
    let json_views = replay(&json_log, json_dir.path()).await;
    let binary_views = replay(&binary_log, binary_dir.path()).await;
    assert_eq!(diff(&json_views, &binary_views, 10).expect("diffs"), vec![]);
    let orders = json_views
        .orders_newest_first(&Page::first(50))
        .expect("orders");
    let mut statuses: Vec<String> = orders
        .items
        .iter()
        .map(|o| format!("{:?}", o.status))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        ["Cancelled", "Paid", "PartiallyRefunded", "Placed"],
        "{orders:?}"
    );
    let products = json_views.products(&Page::first(50)).expect("products");
    assert_eq!(products.items.len(), 2);

    // And both pass the audit, which folds every stream.
    for log in [&json_log as &dyn EventStore, &binary_log] {
        let report = verify_log(log, 10, |_, _| {}).await.expect("verifies");
        assert!(report.is_sound(), "{:?}", report.breaches);
    }
}

#[tokio::test]
async fn a_binary_event_appended_to_an_old_log_reads_beside_the_old_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    import(dir.path(), fixture_events());
    let log = open(dir.path()).await;
    let views = replay(&log, dir.path()).await;
    let product = views
        .products(&Page::first(50))
        .expect("products")
        .items
        .remove(0);
    let stream = paylog_core::streams::product_stream(product.product_id);
    let version = log.stream_version(&stream).await.expect("version");
    let adjusted = DomainEvent::Product(ProductEvent::StockAdjusted(StockAdjusted {
        product_id: product.product_id,
        delta: 7,
        stock_after: product.stock + 7,
        reason: "a delivery".to_owned(),
        at: chrono::Utc::now(),
    }));
    let encoded = codec::encode(&adjusted).expect("encodes");
    let id = Uuid::now_v7();
    log.append(AppendRequest {
        command_id: id,
        correlation_id: id,
        causation_id: None,
        streams: vec![StreamAppend {
            stream_id: stream.clone(),
            expected: ExpectedVersion::Exact(version),
            events: vec![NewEvent {
                event_type: encoded.event_type.into(),
                schema_version: encoded.schema_version,
                payload: encoded.payload,
            }],
        }],
    })
    .await
    .expect("appends");

    let events = log.read_stream(&stream, 1, 100).await.expect("reads");
    let encodings: Vec<PayloadEncoding> = events
        .iter()
        .map(|e| PayloadEncoding::of(&e.payload))
        .collect();
    assert_eq!(encodings.first(), Some(&PayloadEncoding::Json));
    assert_eq!(encodings.last(), Some(&PayloadEncoding::Binary));
    let decoded: Vec<DomainEvent> = events
        .iter()
        .map(|e| codec::decode(&e.event_type, e.schema_version, &e.payload).expect("decodes"))
        .collect();
    assert_eq!(decoded.last(), Some(&adjusted));

    let fresh = tempfile::tempdir().expect("temp dir");
    let rebuilt = replay(&log, fresh.path()).await;
    let after = rebuilt
        .product(product.product_id)
        .expect("reads")
        .expect("exists");
    assert_eq!(after.stock, product.stock + 7);
    let report = verify_log(&log, 10, |_, _| {}).await.expect("verifies");
    assert!(report.is_sound(), "{:?}", report.breaches);
}
