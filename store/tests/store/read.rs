//! Reads: the whole log in pages, one stream from a version.

use paylog_store::{EventStore, ExpectedVersion};

use super::common::{buffered, new_dir, open_with, request, stream};

#[tokio::test]
async fn read_all_pages_through_the_whole_log() {
    let dir = new_dir().await;
    let store = open_with(&dir, buffered()).await;
    for i in 0..200u64 {
        let streams = vec![
            stream(&format!("s{}", i % 7), ExpectedVersion::Any, 2),
            stream(&format!("t{}", i % 3), ExpectedVersion::Any, 3),
        ];
        store.append(request(streams)).await.expect("append");
    }
    assert_eq!(store.head(), 1000);

    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.read_all(after, 64).await.expect("page");
        assert!(page.len() <= 64);
        let Some(last) = page.last() else { break };
        after = last.position;
        seen.extend(page.into_iter().map(|e| e.position));
    }
    assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
    assert_eq!(
        store.read_all(0, usize::MAX).await.expect("all").len(),
        1000
    );
    assert!(store.read_all(0, 0).await.expect("zero").is_empty());
    assert!(store.read_all(1000, 10).await.expect("end").is_empty());
    assert!(store.read_all(5000, 10).await.expect("past").is_empty());
    let tail = store.read_all(997, 10).await.expect("tail");
    assert_eq!(
        tail.iter().map(|e| e.position).collect::<Vec<_>>(),
        [998, 999, 1000]
    );
}

#[tokio::test]
async fn read_stream_starts_at_a_version_and_stops_at_the_limit() {
    let dir = new_dir().await;
    let store = open_with(&dir, buffered()).await;
    for _ in 0..10 {
        // "a" and "ab" share a prefix: the index must keep them apart.
        store
            .append(request(vec![
                stream("a", ExpectedVersion::Any, 1),
                stream("ab", ExpectedVersion::Any, 1),
            ]))
            .await
            .expect("append");
    }
    let all = store.read_stream("a", 0, 100).await.expect("a");
    assert_eq!(
        all.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(all.iter().all(|e| e.stream_id == "a"));
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=19).step_by(2).collect::<Vec<_>>()
    );

    let middle = store.read_stream("a", 4, 3).await.expect("middle");
    assert_eq!(
        middle.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [4, 5, 6]
    );
    assert!(
        store
            .read_stream("a", 11, 10)
            .await
            .expect("past")
            .is_empty()
    );
    assert!(
        store
            .read_stream("missing", 1, 10)
            .await
            .expect("missing")
            .is_empty()
    );
    assert_eq!(store.stream_version("ab").await.expect("ab"), 10);
    assert_eq!(store.stream_version("missing").await.expect("missing"), 0);
}
