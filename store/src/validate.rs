//! Structural checks on an [`AppendRequest`], done before it reaches any backend.
//!
//! These checks need no storage, so they run on the caller's task: a malformed request
//! never occupies a slot in the writer's group-commit batch.

use std::collections::HashSet;

use crate::error::StoreError;
use crate::types::AppendRequest;

/// Longest stream id accepted, in bytes. Stream ids are keys in two column families;
/// a bound keeps index keys small and rejects garbage early.
pub const MAX_STREAM_ID_LEN: usize = 256;

/// Longest event type accepted, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 256;

/// Most events one request may carry. A command produces a handful of events; the bound
/// stops one runaway request from monopolising a group-commit batch.
pub const MAX_EVENTS_PER_REQUEST: usize = 4096;

impl AppendRequest {
    /// Checks the request's shape: at least one stream, every stream id non-empty,
    /// at most [`MAX_STREAM_ID_LEN`] bytes and free of NUL (the stream index uses 0x00 as
    /// the separator between id and version), no stream twice, every stream with at least
    /// one event, every event type non-empty, at most [`MAX_EVENTS_PER_REQUEST`] events.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |msg: String| Err(StoreError::InvalidRequest(msg));
        if self.streams.is_empty() {
            return invalid("the request appends to no stream".into());
        }
        let mut seen = HashSet::with_capacity(self.streams.len());
        let mut total_events = 0usize;
        for stream in &self.streams {
            let id = stream.stream_id.as_str();
            if id.is_empty() {
                return invalid("empty stream id".into());
            }
            if id.len() > MAX_STREAM_ID_LEN {
                return invalid(format!("stream id longer than {MAX_STREAM_ID_LEN} bytes"));
            }
            if id.as_bytes().contains(&0) {
                return invalid(format!("stream id {id:?} contains a NUL byte"));
            }
            if !seen.insert(id) {
                return invalid(format!("stream {id:?} appears twice in one request"));
            }
            if stream.events.is_empty() {
                return invalid(format!("no events for stream {id:?}"));
            }
            for event in &stream.events {
                if event.event_type.is_empty() {
                    return invalid(format!("an event for stream {id:?} has an empty type"));
                }
                if event.event_type.len() > MAX_EVENT_TYPE_LEN {
                    return invalid(format!(
                        "an event type for stream {id:?} is longer than {MAX_EVENT_TYPE_LEN} bytes"
                    ));
                }
            }
            total_events += stream.events.len();
        }
        if total_events > MAX_EVENTS_PER_REQUEST {
            return invalid(format!(
                "{total_events} events in one request; at most {MAX_EVENTS_PER_REQUEST}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ExpectedVersion, NewEvent, StreamAppend};
    use uuid::Uuid;

    fn stream(id: &str, n: usize) -> StreamAppend {
        StreamAppend {
            stream_id: id.into(),
            expected: ExpectedVersion::Any,
            events: (0..n)
                .map(|_| NewEvent {
                    event_type: "E".into(),
                    schema_version: 1,
                    payload: vec![],
                })
                .collect(),
        }
    }

    fn request(streams: Vec<StreamAppend>) -> AppendRequest {
        AppendRequest {
            command_id: Uuid::nil(),
            correlation_id: Uuid::nil(),
            causation_id: None,
            streams,
        }
    }

    fn rejected(r: AppendRequest) -> bool {
        matches!(r.validate(), Err(StoreError::InvalidRequest(_)))
    }

    #[test]
    fn accepts_a_well_formed_request() {
        assert!(
            request(vec![stream("a", 1), stream("b", 2)])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rejects_malformed_requests() {
        assert!(rejected(request(vec![])));
        assert!(rejected(request(vec![stream("", 1)])));
        assert!(rejected(request(vec![stream("a\0b", 1)])));
        assert!(rejected(request(vec![stream(
            &"x".repeat(MAX_STREAM_ID_LEN + 1),
            1
        )])));
        assert!(rejected(request(vec![stream("a", 1), stream("a", 1)])));
        assert!(rejected(request(vec![stream("a", 0)])));
        assert!(rejected(request(vec![stream(
            "a",
            MAX_EVENTS_PER_REQUEST + 1
        )])));
        let mut untyped = stream("a", 1);
        untyped.events[0].event_type.clear();
        assert!(rejected(request(vec![untyped])));
    }
}
