//! What both importers check before they write an event, and the outcome they record
//! for each command: the writer's guarantees, restated for a log arriving whole.
//!
//! Positions gapless from 1, stream versions contiguous from 1, `recorded_at`
//! non-decreasing, and each command's events contiguous with its id used once. Only
//! how an event is then written differs between RocksDB and NATS.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::types::{AppendOutcome, RecordedEvent, StreamHead};

/// The order an import has seen so far.
#[derive(Debug)]
pub(crate) struct ImportOrder {
    next_position: u64,
    last_recorded_at: DateTime<Utc>,
    heads: HashMap<String, u64>,
    commands: HashSet<Uuid>,
    /// The command whose events are arriving.
    current: Option<Uuid>,
}

/// Where a checked event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// The event starts a command (the previous one, if any, is complete).
    pub new_command: bool,
    /// The event starts a stream.
    pub new_stream: bool,
}

impl ImportOrder {
    pub(crate) fn new() -> Self {
        Self {
            next_position: 1,
            last_recorded_at: DateTime::UNIX_EPOCH,
            heads: HashMap::new(),
            commands: HashSet::new(),
            current: None,
        }
    }

    /// The position the next event must have.
    pub(crate) fn next_position(&self) -> u64 {
        self.next_position
    }

    /// The version stream `stream_id` is at (0: not yet seen).
    pub(crate) fn head(&self, stream_id: &str) -> u64 {
        self.heads.get(stream_id).copied().unwrap_or(0)
    }

    /// Checks that `event` may come next; changes nothing.
    pub(crate) fn check(&self, event: &RecordedEvent) -> Result<Step, StoreError> {
        let invalid = |msg: String| Err(StoreError::InvalidRequest(msg));
        if event.position != self.next_position {
            return invalid(format!(
                "expected position {}, got {}",
                self.next_position, event.position
            ));
        }
        let head = self.head(&event.stream_id);
        if event.stream_version != head + 1 {
            return invalid(format!(
                "position {}: stream {:?} is at version {head}, the event is version {}",
                event.position, event.stream_id, event.stream_version
            ));
        }
        if event.recorded_at < self.last_recorded_at {
            return invalid(format!(
                "position {}: recorded_at goes backwards",
                event.position
            ));
        }
        let new_command = self.current != Some(event.command_id);
        if new_command && self.commands.contains(&event.command_id) {
            return invalid(format!(
                "position {}: command {} resumes after other commands",
                event.position, event.command_id
            ));
        }
        Ok(Step {
            new_command,
            new_stream: head == 0,
        })
    }

    /// Records `event`, which [`check`](Self::check) accepted.
    pub(crate) fn accept(&mut self, event: &RecordedEvent) {
        debug_assert!(self.check(event).is_ok());
        self.heads
            .insert(event.stream_id.clone(), event.stream_version);
        self.commands.insert(event.command_id);
        self.current = Some(event.command_id);
        self.next_position += 1;
        self.last_recorded_at = event.recorded_at;
    }
}

/// The outcome of a command whose first event is `event`.
pub(crate) fn first_outcome(event: &RecordedEvent) -> AppendOutcome {
    AppendOutcome {
        first_position: event.position,
        last_position: event.position,
        recorded_at: event.recorded_at,
        streams: Vec::new(),
        duplicate: false,
    }
}

/// Adds `event`, the command's next, to its outcome: the last position and the head
/// of each stream it touched.
pub(crate) fn extend_outcome(outcome: &mut AppendOutcome, event: &RecordedEvent) {
    outcome.last_position = event.position;
    match outcome
        .streams
        .iter_mut()
        .find(|h| h.stream_id == event.stream_id)
    {
        Some(head) => head.version = event.stream_version,
        None => outcome.streams.push(StreamHead {
            stream_id: event.stream_id.clone(),
            version: event.stream_version,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn event(position: u64, stream: &str, version: u64, command: u128, at_s: i64) -> RecordedEvent {
        RecordedEvent {
            position,
            stream_id: stream.to_owned(),
            stream_version: version,
            event_type: "Happened".to_owned(),
            schema_version: 1,
            recorded_at: DateTime::from_timestamp(at_s, 0).expect("instant"),
            command_id: Uuid::from_u128(command),
            correlation_id: Uuid::from_u128(command),
            causation_id: None,
            payload: b"{}".to_vec(),
        }
    }

    /// Accepts `events` in order, then says what `next` gets.
    fn after(events: &[RecordedEvent], next: &RecordedEvent) -> Result<Step, StoreError> {
        let mut order = ImportOrder::new();
        for e in events {
            order.check(e).expect("a well-ordered prefix");
            order.accept(e);
        }
        order.check(next)
    }

    fn refusal(events: &[RecordedEvent], next: &RecordedEvent) -> String {
        match after(events, next) {
            Err(StoreError::InvalidRequest(msg)) => msg,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_well_ordered_log_is_accepted_and_says_where_commands_and_streams_start() {
        let a1 = event(1, "a", 1, 1, 10);
        let b1 = event(2, "b", 1, 1, 10);
        let a2 = event(3, "a", 2, 2, 11);
        assert_eq!(
            after(&[], &a1).unwrap(),
            Step {
                new_command: true,
                new_stream: true
            }
        );
        assert_eq!(
            after(std::slice::from_ref(&a1), &b1).unwrap(),
            Step {
                new_command: false,
                new_stream: true
            }
        );
        assert_eq!(
            after(&[a1.clone(), b1.clone()], &a2).unwrap(),
            Step {
                new_command: true,
                new_stream: false
            }
        );
        let mut outcome = first_outcome(&a1);
        extend_outcome(&mut outcome, &a1);
        extend_outcome(&mut outcome, &b1);
        assert_eq!((outcome.first_position, outcome.last_position), (1, 2));
        assert_eq!(outcome.streams.len(), 2);
    }

    #[test]
    fn gaps_skipped_versions_time_going_back_and_resumed_commands_are_refused() {
        let a1 = event(1, "a", 1, 1, 10);
        let b1 = event(2, "b", 1, 2, 10);
        assert!(refusal(&[], &event(2, "a", 1, 1, 10)).contains("expected position 1"));
        assert!(refusal(std::slice::from_ref(&a1), &event(2, "a", 3, 1, 10)).contains("version 1"));
        assert!(refusal(std::slice::from_ref(&a1), &event(2, "b", 1, 1, 9)).contains("backwards"));
        assert!(
            refusal(&[a1.clone(), b1], &event(3, "c", 1, 1, 10))
                .contains("resumes after other commands")
        );
    }
}
