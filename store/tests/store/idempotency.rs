//! Idempotent commands: a command id that committed appends nothing the second time.

use std::sync::Arc;

use paylog_store::{AppendOutcome, EventStore, ExpectedVersion};

use super::common::{single, temp_store};

#[tokio::test]
async fn a_repeated_command_returns_the_first_outcome_and_appends_nothing() {
    let (_dir, store) = temp_store().await;
    let first = single("order-1", ExpectedVersion::NoStream, 2);
    let original = store.append(first.clone()).await.expect("first");
    store
        .append(single("other", ExpectedVersion::Any, 1))
        .await
        .expect("other");

    // Same command id, even with a body that would now conflict: the original answer.
    let again = store.append(first.clone()).await.expect("repeat");
    assert!(again.duplicate);
    assert_eq!(
        AppendOutcome {
            duplicate: false,
            ..again
        },
        original
    );
    assert_eq!(store.head(), 3);
    assert_eq!(store.stream_version("order-1").await.expect("v"), 2);
    assert_eq!(store.stats().duplicates, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_of_a_command_commit_it_once() {
    let (_dir, store) = temp_store().await;
    let store = Arc::new(store);
    let req = single("pay-1", ExpectedVersion::Any, 3);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (store, req) = (Arc::clone(&store), req.clone());
        tasks.push(tokio::spawn(async move { store.append(req).await }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task").expect("append"));
    }
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    let canonical = AppendOutcome {
        duplicate: false,
        ..outcomes[0].clone()
    };
    for outcome in &outcomes {
        assert_eq!(
            AppendOutcome {
                duplicate: false,
                ..outcome.clone()
            },
            canonical
        );
    }
    assert_eq!((canonical.first_position, canonical.last_position), (1, 3));
    assert_eq!(store.head(), 3);
    assert_eq!(store.read_all(0, 100).await.expect("read").len(), 3);
}
