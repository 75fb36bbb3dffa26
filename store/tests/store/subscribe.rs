//! Subscriptions: catch up in pages, then follow live appends, then end on close.

use std::time::Duration;

use futures::StreamExt;
use paylog_store::{EventStore, ExpectedVersion, StoreError};

use super::common::{StoreOptions, buffered, new_dir, open_with, single};

/// Guards against a hang only (a hang is a failure, not a slow pass).
const HANG_GUARD: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_catches_up_in_pages_then_follows_live_appends() {
    let dir = new_dir().await;
    // A small page so that catching up takes several reads.
    let store = open_with(
        &dir,
        StoreOptions {
            read_page: 7,
            ..buffered()
        },
    )
    .await;
    for _ in 0..30 {
        store
            .append(single("s", ExpectedVersion::Any, 1))
            .await
            .expect("append");
    }
    let mut sub = store.subscribe(4);
    let mut positions = Vec::new();
    while positions.len() < 26 {
        let event = tokio::time::timeout(HANG_GUARD, sub.next())
            .await
            .expect("catch-up stalled");
        positions.push(event.expect("stream ended").expect("event").position);
    }
    assert_eq!(positions, (5..=30).collect::<Vec<_>>());

    // Live: appends made after the subscriber caught up arrive in order.
    let store = std::sync::Arc::new(store);
    let writer = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            for _ in 0..20 {
                store
                    .append(single("live", ExpectedVersion::Any, 2))
                    .await
                    .expect("live append");
            }
        })
    };
    let mut live = Vec::new();
    while live.len() < 40 {
        let event = tokio::time::timeout(HANG_GUARD, sub.next())
            .await
            .expect("live stalled");
        let event = event.expect("stream ended").expect("event");
        assert!(
            event.position <= store.head(),
            "saw an event before it was acknowledged"
        );
        live.push(event.position);
    }
    writer.await.expect("writer");
    assert_eq!(live, (31..=70).collect::<Vec<_>>());

    // Closing the store ends the subscription with `Closed` once it is caught up.
    store.close().await;
    let end = tokio::time::timeout(HANG_GUARD, sub.next())
        .await
        .expect("close not noticed");
    assert!(matches!(end, Some(Err(StoreError::Closed))));
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn a_subscription_from_the_head_waits_for_the_next_append() {
    let dir = new_dir().await;
    let store = open_with(&dir, buffered()).await;
    store
        .append(single("s", ExpectedVersion::Any, 3))
        .await
        .expect("append");
    let mut sub = store.subscribe(store.head());
    let next = sub.next();
    tokio::pin!(next);
    // Nothing to deliver yet: the stream is pending, not ended.
    assert!(futures::poll!(next.as_mut()).is_pending());
    store
        .append(single("s", ExpectedVersion::Exact(3), 1))
        .await
        .expect("append");
    let event = tokio::time::timeout(HANG_GUARD, next)
        .await
        .expect("not woken");
    assert_eq!(event.expect("ended").expect("event").position, 4);
}
