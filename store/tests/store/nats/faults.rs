//! Faults on the replicated log: appenders keep writing while the stream's leader is
//! SIGKILLed, then while a follower is killed and restarted.
//!
//! Sixteen appenders spread over two store instances (as two `paylog serve` processes
//! would be) append with fresh command ids and retry an append that failed with the same
//! command id, as a client would. Afterwards every acknowledged append must be in the
//! log exactly where its outcome says, no command may be committed twice, positions must
//! be gapless and versions contiguous. Every loop is bounded; nothing asserts on time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paylog_store::{AppendOutcome, EventStore, ExpectedVersion, NatsOptions, NatsStore};
use uuid::Uuid;

use crate::cluster::Cluster;
use crate::requests::{request, stream};

const STORES: usize = 2;
const WRITERS_PER_STORE: usize = 8;
const APPENDS_PER_WRITER: usize = 60;
/// Attempts at one append (each one already retried inside the store) before the test fails.
const ATTEMPTS_PER_APPEND: usize = 10;
/// Polls (one per [`POLL`]) while waiting for the load to make progress or a leader to exist.
const MAX_POLLS: usize = 1200;
const POLL: Duration = Duration::from_millis(50);

fn options(cluster: &Cluster) -> NatsOptions {
    NatsOptions {
        stream: "FAULTS".into(),
        subject_prefix: "faults".into(),
        ..NatsOptions::new(cluster.urls.clone())
    }
}

/// Waits (bounded) until at least `target` appends were acknowledged.
async fn wait_for_acks(acked: &AtomicUsize, target: usize) {
    for _ in 0..MAX_POLLS {
        if acked.load(Ordering::SeqCst) >= target {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "the load stalled at {} acknowledged appends (waiting for {target})",
        acked.load(Ordering::SeqCst)
    );
}

async fn leader_of(cluster: &Cluster, stream: &str) -> usize {
    for _ in 0..MAX_POLLS {
        if let Some(leader) = cluster.stream_leader(stream).await {
            return leader;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("stream {stream} has no leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_appends_survive_leader_and_follower_kills() {
    let mut cluster = Cluster::start().await;
    let mut stores = Vec::new();
    for _ in 0..STORES {
        stores.push(Arc::new(
            NatsStore::open(options(&cluster))
                .await
                .expect("open store"),
        ));
    }
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..STORES * WRITERS_PER_STORE {
        let store = Arc::clone(&stores[w % STORES]);
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            let mut outcomes: Vec<(Uuid, AppendOutcome)> = Vec::new();
            for i in 0..APPENDS_PER_WRITER {
                // A private stream and a stream shared with three other writers (of both
                // stores), neither with a version check: versions come from the store.
                let req = request(vec![
                    stream(&format!("writer-{w}"), ExpectedVersion::Any, 1),
                    stream(&format!("shared-{}", w % 4), ExpectedVersion::Any, 1),
                ]);
                let mut result = None;
                for _ in 0..ATTEMPTS_PER_APPEND {
                    match store.append(req.clone()).await {
                        Ok(outcome) => {
                            result = Some(outcome);
                            break;
                        }
                        Err(e) => eprintln!("writer {w} append {i}: {e}; retrying"),
                    }
                }
                let outcome = result.expect("an append never succeeded");
                acked.fetch_add(1, Ordering::SeqCst);
                outcomes.push((req.command_id, outcome));
            }
            outcomes
        }));
    }

    let total = STORES * WRITERS_PER_STORE * APPENDS_PER_WRITER;
    // Round 1: SIGKILL the stream leader mid-load, then bring the node back.
    wait_for_acks(&acked, total / 6).await;
    let leader = leader_of(&cluster, "FAULTS").await;
    let before = acked.load(Ordering::SeqCst);
    cluster.kill(leader);
    let killed_at = Instant::now();
    wait_for_acks(&acked, before + 1).await;
    println!(
        "leader n{leader} killed: appends resumed after {:?}",
        killed_at.elapsed()
    );
    wait_for_acks(&acked, total / 3).await;
    cluster.restart(leader);

    // Round 2: kill a follower, keep writing, restart it.
    wait_for_acks(&acked, total / 2).await;
    let leader = leader_of(&cluster, "FAULTS").await;
    let follower = (leader + 1) % 3;
    cluster.kill(follower);
    let before = acked.load(Ordering::SeqCst);
    wait_for_acks(&acked, before + total / 8).await;
    cluster.restart(follower);

    let mut outcomes = Vec::new();
    for writer in writers {
        outcomes.extend(writer.await.expect("writer"));
    }
    assert_eq!(outcomes.len(), total);
    for store in &stores {
        store.close().await;
    }

    // A fresh store sees the whole log.
    let store = NatsStore::open(options(&cluster)).await.expect("reopen");
    let log = store.read_all(0, usize::MAX).await.expect("read");
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=log.len() as u64).collect::<Vec<_>>());
    assert_eq!(store.head(), log.len() as u64);
    // Each command committed once: its events form one contiguous range.
    let mut ranges: HashMap<Uuid, (u64, u64, usize)> = HashMap::new();
    for e in &log {
        let r = ranges
            .entry(e.command_id)
            .or_insert((e.position, e.position, 0));
        r.1 = e.position;
        r.2 += 1;
    }
    for (command, (first, last, count)) in &ranges {
        assert_eq!(
            (last - first + 1) as usize,
            *count,
            "command {command} is not one contiguous commit"
        );
        assert_eq!(*count, 2, "command {command} committed {count} events");
    }
    // Every acknowledged append is in the log where its outcome says.
    let acked_ids: HashSet<Uuid> = outcomes.iter().map(|(id, _)| *id).collect();
    assert_eq!(acked_ids.len(), total);
    for (command, outcome) in &outcomes {
        assert_eq!(
            ranges.get(command).map(|r| (r.0, r.1)),
            Some((outcome.first_position, outcome.last_position)),
            "acknowledged command {command} is not where its outcome says"
        );
    }
    assert_eq!(
        ranges.len(),
        total,
        "the log holds appends nobody asked for"
    );
    // Versions are contiguous per stream.
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for e in &log {
        let v = versions.entry(e.stream_id.as_str()).or_insert(0);
        *v += 1;
        assert_eq!(
            e.stream_version, *v,
            "stream {} at {}",
            e.stream_id, e.position
        );
    }
    // The cluster keeps taking appends.
    let outcome = store
        .append(request(vec![stream("after", ExpectedVersion::NoStream, 1)]))
        .await
        .expect("append after the faults");
    assert_eq!(outcome.first_position, log.len() as u64 + 1);
}
