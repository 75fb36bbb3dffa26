//! `paylog migrate`: a RocksDB log copied into an empty JetStream stream keeps every
//! envelope as recorded, the copy is verified, a non-empty stream is refused with one
//! line, and the migrated log takes appends where the old one stopped.

use std::sync::Arc;

use paylog_engine::{CommandMeta, Engine};
use paylog_store::{EventStore, NatsOptions, NatsStore};

use crate::cluster::Cluster;
use crate::support::{paylog, product_log};

#[tokio::test]
async fn migrate_copies_a_rocksdb_log_into_an_empty_stream_exactly_and_refuses_a_full_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (product_id, source) = product_log(&dir.path().join("log"), &[5, -2, 7]).await;
    assert_eq!(source.len(), 4);

    let cluster = Cluster::start().await;
    let url = format!(
        "nats://{}",
        cluster
            .urls
            .iter()
            .map(|u| u.trim_start_matches("nats://"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let migrate = [
        "migrate",
        "--from",
        data_dir,
        "--to",
        &url,
        "--nats-stream",
        "SHOP",
    ];
    let out = paylog(&migrate);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("verified 4 events, 1 streams, 4 commands"),
        "{stdout}"
    );

    // Every envelope as recorded: positions, versions, ids, times, payloads.
    let options = NatsOptions::from_url(&url)
        .expect("url")
        .with_stream("SHOP");
    let copy = NatsStore::open(options).await.expect("open the copy");
    assert_eq!(copy.read_all(0, 100).await.expect("read"), source);
    assert_eq!(copy.head(), 4);

    // A second migration into the now full stream changes nothing and says why, in one line.
    let again = paylog(&migrate);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(copy.read_all(0, 100).await.expect("read"), source);

    // The migrated log goes on where the old one stopped, with the same stream versions
    // and command ids (a command of the old log is still a duplicate).
    let engine = Engine::new(Arc::new(copy));
    let next = engine
        .adjust_stock(CommandMeta::now(), product_id, 1, "recount".into())
        .await
        .expect("append after the migration");
    assert_eq!(next.position, 5);
    let product = engine
        .product(product_id)
        .await
        .expect("load")
        .expect("the product");
    assert_eq!(product.stock, 3 + 5 - 2 + 7 + 1);

    let audit = paylog(&[
        "audit",
        "verify",
        "--data-dir",
        data_dir,
        "--store",
        &url,
        "--nats-stream",
        "SHOP",
    ]);
    assert!(
        audit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
}
