//! What several of these tests share: running the `paylog` binary, and a small
//! RocksDB log written through the engine (one product, then stock adjustments).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use paylog_core::product::CreateProduct;
use paylog_core::{Fen, ProductId};
use paylog_engine::{CommandMeta, Engine};
use paylog_store::{EventStore, RecordedEvent, RocksStore, StoreOptions};
use uuid::Uuid;

/// Runs the `paylog` binary to completion with these arguments.
pub fn paylog(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(args)
        .output()
        .expect("run paylog")
}

/// Writes a log at `log_dir` through the engine: one product created with 3 in
/// stock, then one `AdjustStock` per delta; answers the product and every event
/// appended, in log order (the store is closed again).
pub async fn product_log(log_dir: &Path, deltas: &[i64]) -> (ProductId, Vec<RecordedEvent>) {
    let product_id = ProductId::from_uuid(Uuid::now_v7());
    let store = Arc::new(RocksStore::open(log_dir, StoreOptions::default()).expect("open"));
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
    for &delta in deltas {
        engine
            .adjust_stock(CommandMeta::now(), product_id, delta, "delivery".into())
            .await
            .expect("adjust");
    }
    let events = store.read_all(0, 100).await.expect("read");
    store.close().await;
    (product_id, events)
}
