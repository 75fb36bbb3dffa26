//! Byte encodings of everything the store keeps in RocksDB: keys and values.
//!
//! Integers in keys are big-endian so that RocksDB's default bytewise ordering is numeric
//! ordering: iterating `events` is iterating by position, iterating a stream's slice of
//! `streams` is iterating by version. Values start with a one-byte format tag so that a
//! later layout can be read side by side with this one; the body is postcard.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::error::StoreError;
use crate::types::{AppendOutcome, NewEvent, RecordedEvent, StreamHead};

/// Column family names. `default` exists too (RocksDB insists) and stays empty.
pub const CF_EVENTS: &str = "events";
pub const CF_STREAMS: &str = "streams";
pub const CF_HEADS: &str = "heads";
pub const CF_COMMANDS: &str = "commands";
pub const CF_META: &str = "meta";
pub const ALL_CFS: [&str; 5] = [CF_EVENTS, CF_STREAMS, CF_HEADS, CF_COMMANDS, CF_META];

/// `meta` key holding the layout version; its value is [`LAYOUT_VERSION`] as one byte.
pub const META_LAYOUT_KEY: &[u8] = b"layout";
/// Layout 2 is layout 1 whose event payloads may be binary (the codec's tag byte,
/// which the store does not read): the key and value formats are the same, so a
/// layout-1 directory is read as it is and stamped 2 when opened for writing. The
/// bump makes a build that knows only JSON payloads refuse the directory at open
/// rather than fail on the first binary event it reads.
pub const LAYOUT_VERSION: u8 = 2;
/// The layouts this build reads (and, opened for writing, stamps [`LAYOUT_VERSION`]).
pub const READABLE_LAYOUTS: [u8; 2] = [1, LAYOUT_VERSION];

/// Format tag of the values written by this code (envelopes and outcomes).
const VALUE_FORMAT_V1: u8 = 1;

/// Key of `events`: the position, big-endian.
pub fn position_key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

pub fn decode_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!("{what}: expected 8 bytes, got {}", bytes.len()))
    })?;
    Ok(u64::from_be_bytes(array))
}

/// Key of `streams`: stream id ++ 0x00 ++ version (big-endian). The NUL separator (stream
/// ids may not contain one) keeps each stream's keys contiguous and stops stream "a" from
/// sharing a prefix with stream "ab": 0x00 sorts before every byte an id can continue with.
pub fn stream_index_key(stream_id: &str, version: u64) -> Vec<u8> {
    let mut key = stream_index_prefix(stream_id);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// The part of a `streams` key shared by all versions of one stream.
pub fn stream_index_prefix(stream_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream_id.len() + 9);
    key.extend_from_slice(stream_id.as_bytes());
    key.push(0);
    key
}

/// The stored form of an event: the envelope minus the position, which is the key.
/// Times are split into seconds and nanoseconds so they round-trip exactly.
#[derive(Serialize, Deserialize)]
struct StoredEvent<S, B> {
    stream_id: S,
    stream_version: u64,
    event_type: S,
    schema_version: u16,
    recorded_secs: i64,
    recorded_nanos: u32,
    command_id: [u8; 16],
    correlation_id: [u8; 16],
    causation_id: Option<[u8; 16]>,
    payload: B,
}

/// A borrowed view of an envelope about to be written: the writer builds these straight
/// from the request, so encoding never copies a payload into an intermediate struct.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeRef<'a> {
    pub stream_id: &'a str,
    pub stream_version: u64,
    pub event: &'a NewEvent,
    pub recorded_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
}

/// A payload serialised with `serialize_bytes`. In postcard that is exactly the bytes
/// a sequence of `u8` gives (a varint length, then each byte as is), so the layout is
/// unchanged and `Vec<u8>` decodes it as before; but it is written with one copy
/// instead of one serialiser call per byte (most of an envelope's encoding cost).
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Room for an envelope's fixed fields and its two strings besides the payload, so
/// encoding allocates once.
const ENVELOPE_OVERHEAD: usize = 96;

/// Encodes an envelope for `events`.
pub fn encode_event(envelope: &EnvelopeRef<'_>) -> Result<Vec<u8>, StoreError> {
    let stored = StoredEvent::<&str, RawBytes<'_>> {
        stream_id: envelope.stream_id,
        stream_version: envelope.stream_version,
        event_type: &envelope.event.event_type,
        schema_version: envelope.event.schema_version,
        recorded_secs: envelope.recorded_at.timestamp(),
        recorded_nanos: envelope.recorded_at.timestamp_subsec_nanos(),
        command_id: envelope.command_id.into_bytes(),
        correlation_id: envelope.correlation_id.into_bytes(),
        causation_id: envelope.causation_id.map(Uuid::into_bytes),
        payload: RawBytes(&envelope.event.payload),
    };
    let capacity = ENVELOPE_OVERHEAD
        + envelope.stream_id.len()
        + envelope.event.event_type.len()
        + envelope.event.payload.len();
    tagged(&stored, capacity)
}

pub fn decode_event(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let what = format!("event at position {position}");
    let stored: StoredEvent<String, Vec<u8>> = untag(bytes, &what)?;
    Ok(RecordedEvent {
        position,
        stream_id: stored.stream_id,
        stream_version: stored.stream_version,
        event_type: stored.event_type,
        schema_version: stored.schema_version,
        recorded_at: timestamp(stored.recorded_secs, stored.recorded_nanos, &what)?,
        command_id: Uuid::from_bytes(stored.command_id),
        correlation_id: Uuid::from_bytes(stored.correlation_id),
        causation_id: stored.causation_id.map(Uuid::from_bytes),
        payload: stored.payload,
    })
}

/// The stored form of a committed command's [`AppendOutcome`] (always `duplicate = false`
/// on disk; the flag describes a call, not a commit).
#[derive(Serialize, Deserialize)]
struct StoredOutcome {
    first_position: u64,
    last_position: u64,
    recorded_secs: i64,
    recorded_nanos: u32,
    streams: Vec<(String, u64)>,
}

pub fn encode_outcome(outcome: &AppendOutcome) -> Result<Vec<u8>, StoreError> {
    let stored = StoredOutcome {
        first_position: outcome.first_position,
        last_position: outcome.last_position,
        recorded_secs: outcome.recorded_at.timestamp(),
        recorded_nanos: outcome.recorded_at.timestamp_subsec_nanos(),
        streams: outcome
            .streams
            .iter()
            .map(|h| (h.stream_id.clone(), h.version))
            .collect(),
    };
    let capacity = 32
        + outcome
            .streams
            .iter()
            .map(|h| h.stream_id.len() + 11)
            .sum::<usize>();
    tagged(&stored, capacity)
}

pub fn decode_outcome(bytes: &[u8]) -> Result<AppendOutcome, StoreError> {
    let stored: StoredOutcome = untag(bytes, "command outcome")?;
    Ok(AppendOutcome {
        first_position: stored.first_position,
        last_position: stored.last_position,
        recorded_at: timestamp(
            stored.recorded_secs,
            stored.recorded_nanos,
            "command outcome",
        )?,
        streams: stored
            .streams
            .into_iter()
            .map(|(stream_id, version)| StreamHead { stream_id, version })
            .collect(),
        duplicate: false,
    })
}

/// The tag byte, then `value` in postcard, into one buffer of `capacity` bytes (grown
/// if that was too small).
fn tagged<T: Serialize>(value: &T, capacity: usize) -> Result<Vec<u8>, StoreError> {
    let mut buffer = Vec::with_capacity(capacity);
    buffer.push(VALUE_FORMAT_V1);
    // Serialising plain structs into a Vec cannot fail in postcard; map it anyway
    // rather than unwrap, so the writer never panics.
    postcard::to_extend(value, buffer)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode value: {e}")))
}

fn untag<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&VALUE_FORMAT_V1, body)) => postcard::from_bytes(body)
            .map_err(|e| StoreError::Corrupt(format!("{what}: cannot decode: {e}"))),
        Some((tag, _)) => Err(StoreError::Corrupt(format!(
            "{what}: unknown format tag {tag}"
        ))),
        None => Err(StoreError::Corrupt(format!("{what}: empty value"))),
    }
}

fn timestamp(secs: i64, nanos: u32, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| StoreError::Corrupt(format!("{what}: timestamp out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_exactly() {
        let new = NewEvent {
            event_type: "OrderPlaced".into(),
            schema_version: 2,
            payload: vec![0, 1, 2, 255],
        };
        let envelope = EnvelopeRef {
            stream_id: "order-1",
            stream_version: 3,
            event: &new,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default(),
            command_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
            causation_id: Some(Uuid::new_v4()),
        };
        let bytes = encode_event(&envelope).expect("encode");
        let expected = RecordedEvent {
            position: 42,
            stream_id: "order-1".into(),
            stream_version: 3,
            event_type: new.event_type.clone(),
            schema_version: 2,
            recorded_at: envelope.recorded_at,
            command_id: envelope.command_id,
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            payload: new.payload.clone(),
        };
        assert_eq!(decode_event(42, &bytes).expect("decode"), expected);
    }

    /// The payload is written with `serialize_bytes` for speed; the bytes on disk must
    /// stay those of the layout as it was first written (a sequence of `u8`).
    #[test]
    fn payload_bytes_are_the_layout_of_a_byte_sequence() {
        let new = NewEvent {
            event_type: "PaymentRequested".into(),
            schema_version: 1,
            payload: (0..=255u8).chain(0..=44).collect(),
        };
        let envelope = EnvelopeRef {
            stream_id: "order-x",
            stream_version: 1,
            event: &new,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 9).unwrap_or_default(),
            command_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
            causation_id: None,
        };
        let generic = StoredEvent::<&str, &[u8]> {
            stream_id: envelope.stream_id,
            stream_version: 1,
            event_type: &new.event_type,
            schema_version: 1,
            recorded_secs: 1_700_000_000,
            recorded_nanos: 9,
            command_id: envelope.command_id.into_bytes(),
            correlation_id: envelope.correlation_id.into_bytes(),
            causation_id: None,
            payload: &new.payload,
        };
        let as_sequence = postcard::to_extend(&generic, vec![VALUE_FORMAT_V1]).expect("encode");
        assert_eq!(encode_event(&envelope).expect("encode"), as_sequence);
    }

    #[test]
    fn outcomes_round_trip() {
        let outcome = AppendOutcome {
            first_position: 7,
            last_position: 9,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 5).unwrap_or_default(),
            streams: vec![StreamHead {
                stream_id: "a".into(),
                version: 2,
            }],
            duplicate: false,
        };
        let bytes = encode_outcome(&outcome).expect("encode");
        assert_eq!(decode_outcome(&bytes).expect("decode"), outcome);
    }

    #[test]
    fn garbage_is_reported_as_corrupt() {
        assert!(matches!(decode_event(1, &[]), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            decode_event(1, &[9, 1, 2]),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            decode_event(1, &[1, 200]),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            decode_u64(&[1, 2], "x"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn stream_keys_keep_streams_apart_and_versions_ordered() {
        assert!(stream_index_key("a", u64::MAX) < stream_index_key("ab", 0));
        assert!(stream_index_key("a", 2) < stream_index_key("a", 10));
        assert!(position_key(2) < position_key(256));
    }
}
