//! The JSON-lines form of the log: one [`ExportedEvent`] per line.
//!
//! Every field of the envelope is kept, so an import reproduces the log exactly
//! (positions, stream versions, `recorded_at` to the nanosecond, command, correlation
//! and causation ids). The payload is embedded as JSON whatever its stored encoding
//! (`paylog_core::codec::payload_json`): a JSON payload byte for byte as stored, a
//! binary one as the JSON of the same event (at its current schema version), so the
//! file is readable and re-importing it gives back the same events. An import stores
//! the JSON it reads as it is: old versions stay readable through their upcasts.
//!
//! Secrets in payloads (password hashes) are replaced by [`REDACTED`] unless the
//! caller asks for them ([`Secrets::Included`]): an export for a person to read, or a
//! page of `/v1/admin/events`, should not hand out offline-crackable hashes. A
//! redacted export cannot restore the log, so [`import_line`] refuses one.

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
    /// The exported form of a recorded event: its payload as JSON (a binary payload
    /// decoded and rendered). Fails if the payload is neither JSON nor a binary
    /// payload the codec reads.
    pub fn from_recorded(event: &RecordedEvent) -> Result<Self> {
        let (schema_version, json) = paylog_core::codec::payload_json(
            &event.event_type,
            event.schema_version,
            &event.payload,
        )
        .map_err(|source| ProjectionError::Decode {
            position: event.position,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            source,
        })?;
        let text = std::str::from_utf8(&json).map_err(|_| not_json(event.position))?;
        let payload =
            RawValue::from_string(text.to_owned()).map_err(|_| not_json(event.position))?;
        Ok(ExportedEvent {
            position: event.position,
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            schema_version,
            recorded_at: event.recorded_at,
            command_id: event.command_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            payload,
        })
    }
}

/// What stands in for a secret in a redacted export or events page.
pub const REDACTED: &str = "<redacted>";

/// Payload fields that hold secrets, at any depth.
const SECRET_FIELDS: [&str; 1] = ["password_hash"];

/// Whether an export shows the secrets its payloads hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Each secret replaced by [`REDACTED`] (for people and dashboards).
    Redacted,
    /// Byte for byte as stored (for a backup that `paylog import` restores).
    Included,
}

impl ExportedEvent {
    /// The exported form with secrets treated as `secrets` says.
    pub fn from_recorded_with(event: &RecordedEvent, secrets: Secrets) -> Result<Self> {
        let mut exported = Self::from_recorded(event)?;
        if secrets == Secrets::Redacted && mentions_a_secret(exported.payload.get()) {
            let mut value: serde_json::Value = serde_json::from_str(exported.payload.get())
                .map_err(|_| not_json(event.position))?;
            redact(&mut value);
            exported.payload =
                RawValue::from_string(value.to_string()).map_err(|_| not_json(event.position))?;
        }
        Ok(exported)
    }
}

fn mentions_a_secret(payload: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| payload.contains(f))
}

fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) && v.is_string() {
                    *v = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn is_redacted(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().any(|(key, v)| {
            (SECRET_FIELDS.contains(&key.as_str()) && v.as_str() == Some(REDACTED))
                || is_redacted(v)
        }),
        serde_json::Value::Array(items) => items.iter().any(is_redacted),
        _ => false,
    }
}

/// The export line of an event (no trailing newline). Fails if the payload is not JSON.
pub fn export_line(event: &RecordedEvent, secrets: Secrets) -> Result<String> {
    serde_json::to_string(&ExportedEvent::from_recorded_with(event, secrets)?)
        .map_err(|e| ProjectionError::Corrupt(format!("position {}: {e}", event.position)))
}

/// Parses one export line back into the recorded event.
pub fn import_line(line: &str) -> Result<RecordedEvent> {
    let line: ExportedEvent = serde_json::from_str(line)
        .map_err(|e| ProjectionError::InvalidArgument(format!("not an exported event: {e}")))?;
    if line.payload.get().contains(REDACTED)
        && serde_json::from_str(line.payload.get()).is_ok_and(|v| is_redacted(&v))
    {
        return Err(ProjectionError::InvalidArgument(format!(
            "position {}: a redacted export cannot be imported (export with \
             --include-password-hashes for a restorable copy)",
            line.position
        )));
    }
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
        let line = export_line(&event, Secrets::Included).expect("exports");
        assert!(!line.contains('\n'));
        assert_eq!(import_line(&line).expect("imports"), event);
    }

    #[test]
    fn a_binary_payload_is_exported_as_the_json_of_its_event() {
        let cancelled = paylog_core::DomainEvent::Order(
            paylog_core::order::OrderEvent::OrderCancelled(paylog_core::order::OrderCancelled {
                order_id: paylog_core::OrderId::from_uuid(Uuid::from_u128(7)),
                at: DateTime::from_timestamp(1_700_000_000, 5).unwrap_or_default(),
            }),
        );
        let binary = paylog_core::codec::encode(&cancelled).expect("encodes");
        let json = paylog_core::codec::encode_json(&cancelled).expect("encodes");
        let event = RecordedEvent {
            position: 3,
            stream_id: "order-7".into(),
            stream_version: 2,
            event_type: binary.event_type.into(),
            schema_version: binary.schema_version,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 9).unwrap_or_default(),
            command_id: Uuid::from_u128(1),
            correlation_id: Uuid::from_u128(2),
            causation_id: None,
            payload: binary.payload,
        };
        let line = export_line(&event, Secrets::Redacted).expect("exports");
        let imported = import_line(&line).expect("imports");
        // The import holds the JSON of the very same event; the envelope is unchanged.
        assert_eq!(imported.payload, json.payload);
        assert_eq!(
            crate::decode::decode_one(&imported).expect("decodes"),
            cancelled
        );
        assert_eq!(
            RecordedEvent {
                payload: event.payload.clone(),
                ..imported
            },
            event
        );
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
        assert!(export_line(&event, Secrets::Included).is_err());
    }

    #[test]
    fn password_hashes_are_redacted_unless_asked_for_and_a_redacted_line_is_not_imported() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
        let event = RecordedEvent {
            position: 1,
            stream_id: "user-1".into(),
            stream_version: 1,
            event_type: "UserRegistered".into(),
            schema_version: 1,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            command_id: Uuid::from_u128(1),
            correlation_id: Uuid::from_u128(1),
            causation_id: None,
            payload: format!(
                r#"{{"user_id":"u","credentials":{{"Password":{{"username":"al","password_hash":"{hash}"}}}}}}"#
            )
            .into_bytes(),
        };
        let redacted = export_line(&event, Secrets::Redacted).expect("exports");
        assert!(!redacted.contains(hash), "{redacted}");
        assert!(redacted.contains(REDACTED), "{redacted}");
        assert!(redacted.contains(r#""username":"al""#), "{redacted}");
        assert!(import_line(&redacted).is_err());

        let full = export_line(&event, Secrets::Included).expect("exports");
        assert!(full.contains(hash));
        assert_eq!(import_line(&full).expect("imports").payload, event.payload);
    }
}
