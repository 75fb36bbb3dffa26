//! The envelope and the request/response types of the event log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the caller believes the current version of a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream must be exactly at this version (`Exact(0)` is the same as `NoStream`).
    Exact(u64),
}

/// One event to append: the store never looks inside `payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_type: String,
    pub schema_version: u16,
    pub payload: Vec<u8>,
}

/// The events for one stream within an [`AppendRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAppend {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// An atomic append to one or more streams, on behalf of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendRequest {
    /// Idempotency key: a second append with the same id appends nothing.
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub streams: Vec<StreamAppend>,
}

/// The version a stream reached after an append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHead {
    pub stream_id: String,
    pub version: u64,
}

/// What an append committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    pub first_position: u64,
    pub last_position: u64,
    pub recorded_at: DateTime<Utc>,
    pub streams: Vec<StreamHead>,
    /// True when the command id had already committed and this call appended nothing.
    pub duplicate: bool,
}

/// An event as recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub position: u64,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: u16,
    pub recorded_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub payload: Vec<u8>,
}
