//! Appends: positions, versions, conflicts, atomicity, validation.

use std::collections::HashMap;
use std::sync::Arc;

use paylog_store::{EventStore, ExpectedVersion, StoreError};

use super::common::{request, single, stream, temp_store};

#[tokio::test]
async fn the_first_append_gets_position_one_and_version_one() {
    let (_dir, store) = temp_store().await;
    assert_eq!(store.head(), 0);
    let req = single("order-1", ExpectedVersion::NoStream, 1);
    let outcome = store.append(req.clone()).await.expect("append");
    assert_eq!((outcome.first_position, outcome.last_position), (1, 1));
    assert_eq!(outcome.streams.len(), 1);
    assert_eq!(
        (
            outcome.streams[0].stream_id.as_str(),
            outcome.streams[0].version
        ),
        ("order-1", 1)
    );
    assert!(!outcome.duplicate);
    assert_eq!(store.head(), 1);

    let events = store.read_all(0, 10).await.expect("read");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.position, e.stream_id.as_str(), e.stream_version),
        (1, "order-1", 1)
    );
    assert_eq!(e.event_type, req.streams[0].events[0].event_type);
    assert_eq!(e.payload, req.streams[0].events[0].payload);
    assert_eq!(e.schema_version, 1);
    assert_eq!(e.recorded_at, outcome.recorded_at);
    assert_eq!(
        (e.command_id, e.correlation_id, e.causation_id),
        (req.command_id, req.correlation_id, None)
    );
}

#[tokio::test]
async fn a_committed_command_is_found_by_its_id_with_its_first_outcome() {
    let (_dir, store) = temp_store().await;
    let req = single("order-1", ExpectedVersion::NoStream, 2);
    assert_eq!(store.committed(req.command_id).await.expect("lookup"), None);
    let outcome = store.append(req.clone()).await.expect("append");
    let found = store
        .committed(req.command_id)
        .await
        .expect("lookup")
        .expect("committed");
    assert!(found.duplicate);
    assert_eq!(
        (found.first_position, found.last_position, &found.streams),
        (
            outcome.first_position,
            outcome.last_position,
            &outcome.streams
        )
    );
    let other = single("order-2", ExpectedVersion::NoStream, 1);
    assert_eq!(
        store.committed(other.command_id).await.expect("lookup"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_get_gapless_positions_and_contiguous_versions() {
    let (_dir, store) = temp_store().await;
    let store = Arc::new(store);
    const TASKS: usize = 64;
    const APPENDS: usize = 25;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..APPENDS {
                // A private stream with exact expected versions, and a stream shared by
                // eight tasks with no check: both must come out contiguous.
                let own = stream(&format!("own-{t}"), ExpectedVersion::Exact(i as u64), 1);
                let shared = stream(&format!("shared-{}", t % 8), ExpectedVersion::Any, 2);
                let outcome = store
                    .append(request(vec![own, shared]))
                    .await
                    .expect("append");
                outcomes.push(outcome);
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.expect("task"));
    }
    let total = (TASKS * APPENDS * 3) as u64;
    assert_eq!(store.head(), total);

    let log = store.read_all(0, usize::MAX).await.expect("read");
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for e in &log {
        let v = versions.entry(e.stream_id.as_str()).or_insert(0);
        *v += 1;
        assert_eq!(
            e.stream_version, *v,
            "stream {} out of order at {}",
            e.stream_id, e.position
        );
    }
    assert_eq!(versions.len(), TASKS + 8);
    // Every outcome matches what the log says about its positions.
    for outcome in &outcomes {
        assert_eq!(outcome.last_position - outcome.first_position, 2);
        let mine = &log[(outcome.first_position - 1) as usize..outcome.last_position as usize];
        assert!(mine.iter().all(|e| e.recorded_at == outcome.recorded_at));
        for head in &outcome.streams {
            let last = mine
                .iter()
                .filter(|e| e.stream_id == head.stream_id)
                .map(|e| e.stream_version)
                .max();
            assert_eq!(last, Some(head.version));
        }
    }
    // recorded_at never goes backwards along the log.
    assert!(log.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));

    let stats = store.stats();
    assert_eq!(
        (stats.requests, stats.events),
        ((TASKS * APPENDS) as u64, total)
    );
    assert!(stats.batches >= 1 && stats.batches <= stats.requests);
    println!(
        "group commit: {} requests in {} batches, mean {:.1} per batch",
        stats.requests,
        stats.batches,
        stats.mean_batch_requests()
    );
}

#[tokio::test]
async fn an_expected_version_conflict_appends_nothing() {
    let (_dir, store) = temp_store().await;
    store
        .append(single("a", ExpectedVersion::NoStream, 1))
        .await
        .expect("seed");
    let before = store.read_all(0, 100).await.expect("read");

    let conflicting = request(vec![
        stream("b", ExpectedVersion::NoStream, 2),
        stream("a", ExpectedVersion::Exact(0), 1),
    ]);
    let err = store
        .append(conflicting.clone())
        .await
        .expect_err("conflict");
    match err {
        StoreError::Conflict {
            stream_id,
            expected,
            actual,
        } => {
            assert_eq!(
                (stream_id.as_str(), expected, actual),
                ("a", ExpectedVersion::Exact(0), 1)
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store
            .append(single("a", ExpectedVersion::NoStream, 1))
            .await,
        Err(StoreError::Conflict { actual: 1, .. })
    ));
    assert_eq!(store.head(), 1);
    assert_eq!(store.read_all(0, 100).await.expect("read"), before);
    assert_eq!(store.stream_version("b").await.expect("b"), 0);
    assert_eq!(store.stats().conflicts, 2);

    // The conflict recorded nothing under the command id: once fixed, it commits.
    let mut fixed = conflicting;
    fixed.streams[1].expected = ExpectedVersion::Exact(1);
    let outcome = store.append(fixed).await.expect("retry");
    assert!(!outcome.duplicate);
    assert_eq!((outcome.first_position, outcome.last_position), (2, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creators_of_one_stream_exactly_one_wins() {
    let (_dir, store) = temp_store().await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let contested = store
                .append(single("contested", ExpectedVersion::NoStream, 1))
                .await;
            let private = store
                .append(single(&format!("p{i}"), ExpectedVersion::NoStream, 1))
                .await;
            (contested, private)
        }));
    }
    let mut wins = 0;
    for task in tasks {
        let (contested, private) = task.await.expect("task");
        private.expect("uncontested appends commit");
        match contested {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, 1),
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.head(), 33);
    assert_eq!(store.stream_version("contested").await.expect("v"), 1);
}

#[tokio::test]
async fn a_multi_stream_append_is_one_contiguous_atomic_unit() {
    let (_dir, store) = temp_store().await;
    store
        .append(single("stock-1", ExpectedVersion::NoStream, 1))
        .await
        .expect("seed");
    let req = request(vec![
        stream("order-9", ExpectedVersion::NoStream, 2),
        stream("stock-1", ExpectedVersion::Exact(1), 1),
        stream("user-3", ExpectedVersion::Any, 3),
    ]);
    let outcome = store.append(req.clone()).await.expect("append");
    assert_eq!((outcome.first_position, outcome.last_position), (2, 7));
    let heads: Vec<_> = outcome
        .streams
        .iter()
        .map(|h| (h.stream_id.as_str(), h.version))
        .collect();
    assert_eq!(heads, [("order-9", 2), ("stock-1", 2), ("user-3", 3)]);

    let log = store.read_all(1, 100).await.expect("read");
    let got: Vec<_> = log
        .iter()
        .map(|e| (e.position, e.stream_id.as_str(), e.stream_version))
        .collect();
    assert_eq!(
        got,
        [
            (2, "order-9", 1),
            (3, "order-9", 2),
            (4, "stock-1", 2),
            (5, "user-3", 1),
            (6, "user-3", 2),
            (7, "user-3", 3),
        ]
    );
    assert!(
        log.iter()
            .all(|e| e.command_id == req.command_id && e.recorded_at == outcome.recorded_at)
    );
    let stock = store.read_stream("stock-1", 1, 10).await.expect("stock");
    assert_eq!(stock.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 4]);
}

#[tokio::test]
async fn malformed_requests_are_rejected_and_change_nothing() {
    let (_dir, store) = temp_store().await;
    let cases = [
        request(vec![]),
        single("", ExpectedVersion::Any, 1),
        single("bad\0id", ExpectedVersion::Any, 1),
        single("no-events", ExpectedVersion::Any, 0),
        request(vec![
            stream("twice", ExpectedVersion::Any, 1),
            stream("twice", ExpectedVersion::Any, 1),
        ]),
    ];
    for case in cases {
        let result = store.append(case.clone()).await;
        assert!(
            matches!(result, Err(StoreError::InvalidRequest(_))),
            "{case:?} gave {result:?}"
        );
    }
    assert_eq!(store.head(), 0);
    assert!(store.read_all(0, 10).await.expect("read").is_empty());
    assert!(matches!(
        store.read_stream("a\0", 1, 10).await,
        Err(StoreError::InvalidRequest(_))
    ));
}
