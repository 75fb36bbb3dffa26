//! Group-commit semantics inside one batch, driven by hand against a real RocksDB.
//!
//! Concurrency tests cannot force several requests into the same batch; these tests call
//! the writer's `commit` with a chosen batch, so the in-batch rules are checked exactly.

use tempfile::TempDir;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::writer::{Reply, Writer};
use super::{Shared, StoreOptions, prepare, read};
use crate::error::StoreError;
use crate::types::{AppendOutcome, AppendRequest, ExpectedVersion, NewEvent, StreamAppend};
use std::sync::Arc;

type Answer = oneshot::Receiver<Result<AppendOutcome, StoreError>>;

fn setup() -> (TempDir, Arc<Shared>, Writer) {
    let dir = TempDir::new().expect("temp dir");
    let (shared, writer, _tx) = prepare(dir.path(), &StoreOptions::default()).expect("open");
    (dir, shared, writer)
}

fn request(command_id: Uuid, streams: &[(&str, ExpectedVersion, usize)]) -> AppendRequest {
    AppendRequest {
        command_id,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        streams: streams
            .iter()
            .map(|(id, expected, n)| StreamAppend {
                stream_id: (*id).into(),
                expected: *expected,
                events: (0..*n)
                    .map(|i| NewEvent {
                        event_type: "Happened".into(),
                        schema_version: 1,
                        payload: vec![i as u8],
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Commits `requests` as exactly one batch and returns each caller's answer.
fn one_batch(
    writer: &mut Writer,
    requests: Vec<AppendRequest>,
) -> Vec<Result<AppendOutcome, StoreError>> {
    let mut jobs: Vec<(AppendRequest, Reply)> = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    for request in requests {
        let (tx, rx) = oneshot::channel();
        jobs.push((request, tx));
        answers.push(rx);
    }
    writer.commit(jobs);
    answers
        .into_iter()
        .map(|mut rx| rx.try_recv().unwrap_or(Err(StoreError::Closed)))
        .collect()
}

#[test]
fn a_conflict_in_a_batch_leaves_the_other_requests_committed() {
    let (_dir, shared, mut writer) = setup();
    let answers = one_batch(
        &mut writer,
        vec![
            request(Uuid::new_v4(), &[("x", ExpectedVersion::NoStream, 1)]),
            request(
                Uuid::new_v4(),
                &[
                    ("x", ExpectedVersion::NoStream, 1),
                    ("z", ExpectedVersion::Any, 1),
                ],
            ),
            request(Uuid::new_v4(), &[("y", ExpectedVersion::NoStream, 2)]),
        ],
    );
    let first = answers[0].as_ref().expect("first commits");
    assert_eq!((first.first_position, first.last_position), (1, 1));
    match &answers[1] {
        Err(StoreError::Conflict {
            stream_id,
            expected,
            actual,
        }) => {
            assert_eq!(
                (stream_id.as_str(), *expected, *actual),
                ("x", ExpectedVersion::NoStream, 1)
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let third = answers[2].as_ref().expect("third commits");
    assert_eq!((third.first_position, third.last_position), (2, 3));

    let head = *shared.head.borrow();
    assert_eq!(head, 3);
    let log = read::read_all(&shared.db, head, 0, 100).expect("read");
    let streams: Vec<_> = log
        .iter()
        .map(|e| (e.stream_id.as_str(), e.stream_version))
        .collect();
    assert_eq!(streams, [("x", 1), ("y", 1), ("y", 2)]);
    assert_eq!(read::stream_version(&shared.db, "z").expect("z"), 0);
    let stats = shared
        .stats
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(stats, 1);
}

#[test]
fn a_command_repeated_within_a_batch_commits_once() {
    let (_dir, shared, mut writer) = setup();
    let command = Uuid::new_v4();
    let answers = one_batch(
        &mut writer,
        vec![
            request(command, &[("a", ExpectedVersion::NoStream, 2)]),
            request(command, &[("a", ExpectedVersion::NoStream, 2)]),
        ],
    );
    let first = answers[0].as_ref().expect("first commits");
    let second = answers[1].as_ref().expect("second is answered");
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(
        AppendOutcome {
            duplicate: false,
            ..second.clone()
        },
        *first
    );
    assert_eq!(*shared.head.borrow(), 2);
    assert_eq!(
        read::read_all(&shared.db, 10, 0, 100).expect("read").len(),
        2
    );
}

#[test]
fn later_requests_in_a_batch_see_the_earlier_ones() {
    let (_dir, shared, mut writer) = setup();
    let answers = one_batch(
        &mut writer,
        vec![
            request(Uuid::new_v4(), &[("s", ExpectedVersion::Exact(0), 1)]),
            request(Uuid::new_v4(), &[("s", ExpectedVersion::Exact(1), 2)]),
            request(Uuid::new_v4(), &[("s", ExpectedVersion::Exact(1), 1)]),
        ],
    );
    assert_eq!(answers[1].as_ref().expect("second").streams[0].version, 3);
    assert!(matches!(
        answers[2],
        Err(StoreError::Conflict { actual: 3, .. })
    ));
    assert_eq!(read::stream_version(&shared.db, "s").expect("s"), 3);

    // A fresh batch reads the head back from RocksDB, not from the finished batch.
    let answers = one_batch(
        &mut writer,
        vec![request(
            Uuid::new_v4(),
            &[("s", ExpectedVersion::Exact(3), 1)],
        )],
    );
    let outcome = answers[0].as_ref().expect("commits");
    assert_eq!((outcome.first_position, outcome.streams[0].version), (4, 4));
}

#[test]
fn a_batch_of_only_rejected_requests_writes_nothing() {
    let (_dir, shared, mut writer) = setup();
    let answers = one_batch(
        &mut writer,
        vec![request(
            Uuid::new_v4(),
            &[("s", ExpectedVersion::Exact(5), 1)],
        )],
    );
    assert!(answers[0].as_ref().is_err_and(StoreError::is_conflict));
    assert_eq!(*shared.head.borrow(), 0);
    assert_eq!(
        shared
            .stats
            .batches
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
