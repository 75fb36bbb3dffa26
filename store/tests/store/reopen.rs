//! Closing and reopening: everything reads back identical and appends continue.

use paylog_store::{EventStore, ExpectedVersion, StoreError};

use super::common::{missing_read_only, new_dir, open, open_read_only, request, single, stream};

#[tokio::test]
async fn a_reopened_store_reads_back_identical_and_continues() {
    let dir = new_dir().await;
    let store = open(&dir).await;
    let mut first_request = None;
    for i in 0..50u64 {
        let mut req = request(vec![
            stream(&format!("order-{}", i % 5), ExpectedVersion::Any, 1),
            stream("ledger", ExpectedVersion::Exact(i), 1),
        ]);
        req.causation_id = Some(uuid::Uuid::new_v4());
        let outcome = store.append(req.clone()).await.expect("append");
        first_request.get_or_insert((req, outcome));
    }
    let log = store.read_all(0, usize::MAX).await.expect("read");
    let ledger = store.read_stream("ledger", 1, 1000).await.expect("ledger");
    store.close().await;
    assert!(matches!(
        store.append(single("x", ExpectedVersion::Any, 1)).await,
        Err(StoreError::Closed)
    ));
    // Reads still work on a closed store until it is dropped.
    assert_eq!(
        store.read_all(0, usize::MAX).await.expect("read closed"),
        log
    );
    drop(store);

    let store = open(&dir).await;
    assert_eq!(store.head(), 100);
    assert_eq!(store.read_all(0, usize::MAX).await.expect("reread"), log);
    assert_eq!(
        store.read_stream("ledger", 1, 1000).await.expect("ledger"),
        ledger
    );
    assert_eq!(store.stream_version("ledger").await.expect("v"), 50);
    assert_eq!(store.stream_version("order-0").await.expect("v"), 10);

    // Command ids survive the restart.
    let (req, outcome) = first_request.expect("first");
    let again = store.append(req).await.expect("repeat");
    assert!(again.duplicate);
    assert_eq!(again.first_position, outcome.first_position);

    // Positions and versions continue where they stopped.
    let next = store
        .append(single("ledger", ExpectedVersion::Exact(50), 1))
        .await
        .expect("next");
    assert_eq!((next.first_position, next.streams[0].version), (101, 51));
    let last_before = log.last().map(|e| e.recorded_at).expect("log is not empty");
    assert!(next.recorded_at >= last_before);
}

#[tokio::test]
async fn a_read_only_open_sees_the_durable_log_beside_a_running_writer() {
    let dir = new_dir().await;
    let store = open(&dir).await;
    for i in 0..20u64 {
        store
            .append(single("ledger", ExpectedVersion::Exact(i), 1))
            .await
            .expect("append");
    }
    // The writer still holds the directory; a read-only open is allowed beside it.
    let reader = open_read_only(&dir).await.expect("read-only open");
    assert_eq!(reader.head(), 20);
    assert_eq!(
        reader.read_all(0, usize::MAX).await.expect("read"),
        store.read_all(0, usize::MAX).await.expect("read")
    );
    // It is a snapshot as of opening, and refuses to write.
    store
        .append(single("ledger", ExpectedVersion::Exact(20), 1))
        .await
        .expect("append");
    assert_eq!(reader.head(), 20);
    assert!(matches!(
        reader.append(single("x", ExpectedVersion::Any, 1)).await,
        Err(StoreError::Closed)
    ));
    // A location without a store is refused rather than created.
    assert!(missing_read_only().await.is_err());
}
