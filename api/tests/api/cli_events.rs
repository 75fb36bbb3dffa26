//! `paylog events` prints exactly what was appended, as JSON lines.

use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use paylog_core::product::CreateProduct;
use paylog_core::{Fen, ProductId};
use paylog_engine::{CommandMeta, Engine};
use paylog_store::{EventStore, RocksStore, StoreOptions};
use serde_json::Value;
use uuid::Uuid;

fn paylog(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(args)
        .output()
        .expect("run paylog")
}

#[tokio::test]
async fn events_prints_every_appended_envelope_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let product_id = ProductId::from_uuid(Uuid::now_v7());
    let appended = {
        let store = Arc::new(
            RocksStore::open(dir.path().join("log"), StoreOptions::default()).expect("open"),
        );
        let engine = Engine::new(store.clone());
        let create = CreateProduct {
            product_id,
            name: "龙井".into(),
            price: Fen::new(1200),
            stock: 3,
            at: Utc::now(),
        };
        engine
            .create_product(CommandMeta::now(), create)
            .await
            .expect("create");
        engine
            .adjust_stock(CommandMeta::now(), product_id, 5)
            .await
            .expect("adjust");
        engine
            .adjust_stock(CommandMeta::now(), product_id, -2)
            .await
            .expect("adjust");
        let events = store.read_all(0, 100).await.expect("read");
        store.close().await;
        events
    };
    assert_eq!(appended.len(), 3);

    let data_dir = dir.path().to_str().expect("utf-8 path");
    let out = paylog(&["events", "--data-dir", data_dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), appended.len());
    for (line, event) in lines.iter().zip(&appended) {
        assert_eq!(line["position"], event.position);
        assert_eq!(line["stream_id"], event.stream_id.as_str());
        assert_eq!(line["stream_version"], event.stream_version);
        assert_eq!(line["event_type"], event.event_type.as_str());
        assert_eq!(line["command_id"], event.command_id.to_string().as_str());
        let payload: Value = serde_json::from_slice(&event.payload).expect("JSON payload");
        assert_eq!(line["payload"], payload);
    }
    assert_eq!(lines[2]["payload"]["stock_after"], 6);

    // --from and --stream select.
    let out = paylog(&["events", "--data-dir", data_dir, "--from", "2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let stream = format!("product-{product_id}");
    let out = paylog(&[
        "events",
        "--data-dir",
        data_dir,
        "--stream",
        &stream,
        "--from",
        "3",
    ]);
    let only: Vec<&str> = std::str::from_utf8(&out.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert_eq!(only.len(), 1);
    assert!(only[0].contains("\"stream_version\":3"));
}

#[test]
fn events_on_a_missing_data_dir_fails_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let out = paylog(&["events", "--data-dir", missing.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no event log"), "{stderr}");
    assert!(!missing.exists(), "nothing was created");
}
