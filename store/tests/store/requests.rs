//! Request builders shared by the contract tests of every backend.

use paylog_store::{AppendRequest, ExpectedVersion, NewEvent, StreamAppend};
use uuid::Uuid;

pub fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        schema_version: 1,
        payload: payload.to_vec(),
    }
}

pub fn stream(id: &str, expected: ExpectedVersion, n: usize) -> StreamAppend {
    StreamAppend {
        stream_id: id.into(),
        expected,
        events: (0..n)
            .map(|i| event("Happened", format!("{id}#{i}").as_bytes()))
            .collect(),
    }
}

pub fn request(streams: Vec<StreamAppend>) -> AppendRequest {
    AppendRequest {
        command_id: Uuid::new_v4(),
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        streams,
    }
}

/// A one-stream request with `n` events.
pub fn single(id: &str, expected: ExpectedVersion, n: usize) -> AppendRequest {
    request(vec![stream(id, expected, n)])
}
