//! Subjects, headers and message bodies of the NATS layout (see the table in `mod.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::types::{AppendOutcome, RecordedEvent, StreamHead};

/// The position header: on an event its global position, on a command marker the last
/// position of its command. Non-decreasing along the JetStream sequence, which is what
/// lets a reader binary-search the sequence of a position.
pub(super) const HDR_POSITION: &str = "Paylog-Position";
/// The stream version of an event (events only).
pub(super) const HDR_VERSION: &str = "Paylog-Version";

/// JetStream's own headers (ADR-50 atomic batches, optimistic concurrency).
pub(super) const HDR_BATCH_ID: &str = "Nats-Batch-Id";
pub(super) const HDR_BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
pub(super) const HDR_BATCH_COMMIT: &str = "Nats-Batch-Commit";
pub(super) const HDR_EXPECTED_LAST_SEQUENCE: &str = "Nats-Expected-Last-Sequence";
pub(super) const HDR_EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";

/// Tag byte of this layout's bodies, so a later layout can be read beside this one.
const BODY_TAG_V1: u8 = 0x01;

/// Bytes of a stream id kept as they are in a subject token; every other byte is
/// written `~XX` (uppercase hex). NATS tokens may not hold `.`, `*`, `>` or whitespace,
/// and keeping to this set also keeps subjects ASCII. `~` itself is escaped, so the
/// encoding is injective and decodes back exactly.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The subject token of a stream id.
pub(super) fn encode_stream_id(stream_id: &str) -> String {
    let mut token = String::with_capacity(stream_id.len());
    for &byte in stream_id.as_bytes() {
        if is_plain(byte) {
            token.push(char::from(byte));
        } else {
            token.push('~');
            token.push_str(&format!("{byte:02X}"));
        }
    }
    token
}

/// The stream id of a subject token written by [`encode_stream_id`].
pub(super) fn decode_stream_id(token: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Corrupt(format!("malformed stream token {token:?}"));
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'~' {
            let hex = token.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else if is_plain(byte) {
            out.push(byte);
            i += 1;
        } else {
            return Err(bad());
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The subjects of one paylog log inside its JetStream stream.
#[derive(Debug, Clone)]
pub(super) struct Subjects {
    prefix: String,
}

/// What a message of the log is, from its subject.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Event { stream_id: String },
    Marker { command_id: Uuid },
}

impl Subjects {
    pub(super) fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }

    /// Every subject of the log: the JetStream stream's only subject filter.
    pub(super) fn all(&self) -> String {
        format!("{}.>", self.prefix)
    }

    pub(super) fn event(&self, stream_id: &str) -> String {
        format!("{}.e.{}", self.prefix, encode_stream_id(stream_id))
    }

    pub(super) fn marker(&self, command_id: Uuid) -> String {
        format!("{}.c.{}", self.prefix, command_id.simple())
    }

    pub(super) fn kind(&self, subject: &str) -> Result<Kind, StoreError> {
        let rest = subject
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('.'));
        let unknown = || StoreError::Corrupt(format!("unexpected subject {subject:?} in the log"));
        let rest = rest.ok_or_else(unknown)?;
        if let Some(token) = rest.strip_prefix("e.") {
            return Ok(Kind::Event {
                stream_id: decode_stream_id(token)?,
            });
        }
        if let Some(token) = rest.strip_prefix("c.") {
            let command_id = Uuid::try_parse(token).map_err(|_| unknown())?;
            return Ok(Kind::Marker { command_id });
        }
        Err(unknown())
    }
}

/// An event's body: everything of the envelope but its stream (in the subject), position
/// and version (in headers).
#[derive(Serialize, Deserialize)]
struct EventBody {
    event_type: String,
    schema_version: u16,
    recorded_secs: i64,
    recorded_nanos: u32,
    command_id: [u8; 16],
    correlation_id: [u8; 16],
    causation_id: Option<[u8; 16]>,
    payload: Vec<u8>,
}

/// A command marker's body: the command's outcome, returned again to a repeat.
#[derive(Serialize, Deserialize)]
struct MarkerBody {
    first_position: u64,
    last_position: u64,
    recorded_secs: i64,
    recorded_nanos: u32,
    streams: Vec<(String, u64)>,
}

fn tagged<T: Serialize>(body: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![BODY_TAG_V1];
    postcard::to_io(body, &mut bytes)
        .map_err(|e| StoreError::InvalidRequest(format!("cannot encode a message body: {e}")))?;
    Ok(bytes)
}

fn untagged<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&BODY_TAG_V1, rest)) => postcard::from_bytes(rest)
            .map_err(|e| StoreError::Corrupt(format!("undecodable {what}: {e}"))),
        _ => Err(StoreError::Corrupt(format!("{what} with an unknown tag"))),
    }
}

fn to_instant(secs: i64, nanos: u32) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {secs}.{nanos} out of range")))
}

/// The body of one event message.
pub(super) struct NewEventBody<'a> {
    pub event_type: &'a str,
    pub schema_version: u16,
    pub payload: &'a [u8],
    pub recorded_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
}

pub(super) fn encode_event(event: &NewEventBody<'_>) -> Result<Vec<u8>, StoreError> {
    tagged(&EventBody {
        event_type: event.event_type.to_owned(),
        schema_version: event.schema_version,
        recorded_secs: event.recorded_at.timestamp(),
        recorded_nanos: event.recorded_at.timestamp_subsec_nanos(),
        command_id: event.command_id.into_bytes(),
        correlation_id: event.correlation_id.into_bytes(),
        causation_id: event.causation_id.map(Uuid::into_bytes),
        payload: event.payload.to_vec(),
    })
}

pub(super) fn decode_event(
    stream_id: String,
    position: u64,
    stream_version: u64,
    body: &[u8],
) -> Result<RecordedEvent, StoreError> {
    let body: EventBody = untagged(body, "event body")?;
    Ok(RecordedEvent {
        position,
        stream_id,
        stream_version,
        event_type: body.event_type,
        schema_version: body.schema_version,
        recorded_at: to_instant(body.recorded_secs, body.recorded_nanos)?,
        command_id: Uuid::from_bytes(body.command_id),
        correlation_id: Uuid::from_bytes(body.correlation_id),
        causation_id: body.causation_id.map(Uuid::from_bytes),
        payload: body.payload,
    })
}

pub(super) fn encode_marker(outcome: &AppendOutcome) -> Result<Vec<u8>, StoreError> {
    tagged(&MarkerBody {
        first_position: outcome.first_position,
        last_position: outcome.last_position,
        recorded_secs: outcome.recorded_at.timestamp(),
        recorded_nanos: outcome.recorded_at.timestamp_subsec_nanos(),
        streams: outcome
            .streams
            .iter()
            .map(|h| (h.stream_id.clone(), h.version))
            .collect(),
    })
}

/// The outcome a marker recorded, as first committed (`duplicate = false`).
pub(super) fn decode_marker(body: &[u8]) -> Result<AppendOutcome, StoreError> {
    let body: MarkerBody = untagged(body, "command marker")?;
    Ok(AppendOutcome {
        first_position: body.first_position,
        last_position: body.last_position,
        recorded_at: to_instant(body.recorded_secs, body.recorded_nanos)?,
        streams: body
            .streams
            .into_iter()
            .map(|(stream_id, version)| StreamHead { stream_id, version })
            .collect(),
        duplicate: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_round_trip_through_subject_tokens() {
        for id in [
            "order-1",
            "a.b",
            "a*b>c",
            "with space\tand tab",
            "~tilde~7E",
            "订单-42",
            "x",
        ] {
            let token = encode_stream_id(id);
            assert!(
                token.bytes().all(|b| is_plain(b) || b == b'~'),
                "{token:?} is not a safe token"
            );
            assert_eq!(decode_stream_id(&token).ok().as_deref(), Some(id));
        }
        // Distinct ids never share a token.
        assert_ne!(encode_stream_id("a.b"), encode_stream_id("a~2Eb"));
        assert!(decode_stream_id("a.b").is_err());
        assert!(decode_stream_id("~4").is_err());
        assert!(decode_stream_id("~FF").is_err());
    }

    #[test]
    fn subjects_tell_events_from_markers() {
        let subjects = Subjects::new("paylog");
        let command_id = Uuid::new_v4();
        assert_eq!(
            subjects.kind(&subjects.event("a.b")).ok(),
            Some(Kind::Event {
                stream_id: "a.b".into()
            })
        );
        assert_eq!(
            subjects.kind(&subjects.marker(command_id)).ok(),
            Some(Kind::Marker { command_id })
        );
        assert!(subjects.kind("other.e.x").is_err());
        assert!(subjects.kind("paylog.z.x").is_err());
    }
}
