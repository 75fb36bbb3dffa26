//! The JSON-lines form of the log: one [`ExportedEvent`] per line.
//!
//! Every field of the envelope is kept, so an import reproduces the log exactly
//! (positions, stream versions, `recorded_at` to the nanosecond, command, correlation
//! and causation ids). The payload is embedded as JSON, byte for byte as stored, so
//! the file is readable and re-importing it gives back identical bytes.

use chrono::{DateTime, Utc};
use paylog_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::error::{ProjectionError, Result};

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedEvent {
    pub position: u64,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: u16,
    pub recorded_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub payload: Box<RawValue>,
}

impl ExportedEvent {
    /// The exported form of a recorded event. Fails if the payload is not JSON
    /// (paylog only writes JSON payloads).
    pub fn from_recorded(event: &RecordedEvent) -> Result<Self> {
        let text = std::str::from_utf8(&event.payload).map_err(|_| not_json(event.position))?;
        let payload =
            RawValue::from_string(text.to_owned()).map_err(|_| not_json(event.position))?;
        Ok(ExportedEvent {
            position: event.position,
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            recorded_at: event.recorded_at,
            command_id: event.command_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            payload,
        })
    }
}

/// The export line of an event (no trailing newline). Fails if the payload is not JSON.
pub fn export_line(event: &RecordedEvent) -> Result<String> {
    serde_json::to_string(&ExportedEvent::from_recorded(event)?)
        .map_err(|e| ProjectionError::Corrupt(format!("position {}: {e}", event.position)))
}

/// Parses one export line back into the recorded event.
pub fn import_line(line: &str) -> Result<RecordedEvent> {
    let line: ExportedEvent = serde_json::from_str(line)
        .map_err(|e| ProjectionError::InvalidArgument(format!("not an exported event: {e}")))?;
    Ok(RecordedEvent {
        position: line.position,
        stream_id: line.stream_id,
        stream_version: line.stream_version,
        event_type: line.event_type,
        schema_version: line.schema_version,
        recorded_at: line.recorded_at,
        command_id: line.command_id,
        correlation_id: line.correlation_id,
        causation_id: line.causation_id,
        payload: line.payload.get().as_bytes().to_vec(),
    })
}

fn not_json(position: u64) -> ProjectionError {
    ProjectionError::Corrupt(format!("the payload at position {position} is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_exactly() {
        let event = RecordedEvent {
            position: 9,
            stream_id: "order-1".into(),
            stream_version: 2,
            event_type: "OrderCancelled".into(),
            schema_version: 1,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default(),
            command_id: Uuid::from_u128(1),
            correlation_id: Uuid::from_u128(2),
            causation_id: Some(Uuid::from_u128(3)),
            payload: br#"{"order_id":"x","at":"2024-01-01T00:00:00Z"}"#.to_vec(),
        };
        let line = export_line(&event).expect("exports");
        assert!(!line.contains('\n'));
        assert_eq!(import_line(&line).expect("imports"), event);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            import_line("{"),
            Err(ProjectionError::InvalidArgument(_))
        ));
        let mut event = import_line(
            r#"{"position":1,"stream_id":"a","stream_version":1,"event_type":"E","schema_version":1,"recorded_at":"2024-01-01T00:00:00Z","command_id":"00000000-0000-0000-0000-000000000001","correlation_id":"00000000-0000-0000-0000-000000000001","causation_id":null,"payload":{}}"#,
        )
        .expect("a minimal line imports");
        event.payload = vec![0xff];
        assert!(export_line(&event).is_err());
    }
}
