//! Instants as integers in machine formats, as RFC 3339 text in human ones.
//!
//! chrono writes a `DateTime` as RFC 3339 text in every serde format. In JSON (events,
//! the HTTP API) that is what people read; in the views' binary values (postcard) it
//! was most of the cost of a projection rebuild: formatting and parsing dates. With
//! `#[serde(with = "paylog_core::compact_time")]` (or `compact_time::option` for an
//! `Option`), a format that is not human-readable gets `(seconds, nanoseconds)` since
//! the epoch instead: exact (no precision lost) and a few bytes. Human-readable formats
//! are unchanged, so no event and no API answer changes.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes an instant: text when human-readable, `(secs, nanos)` otherwise.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        at.serialize(serializer)
    } else {
        (at.timestamp(), at.timestamp_subsec_nanos()).serialize(serializer)
    }
}

/// Deserializes what [`serialize`] wrote in the same format.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    if deserializer.is_human_readable() {
        DateTime::<Utc>::deserialize(deserializer)
    } else {
        let (secs, nanos) = <(i64, u32)>::deserialize(deserializer)?;
        DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| D::Error::custom(format!("instant {secs}.{nanos:09} is out of range")))
    }
}

/// An instant that serializes as [`serialize`] does, for a hand-written `Serialize`
/// (or inside an `Option`).
#[derive(Debug, Clone, Copy)]
pub struct Compact<'a>(pub &'a DateTime<Utc>);

impl Serialize for Compact<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

/// The same for an optional instant.
pub mod option {
    use super::*;

    #[derive(Deserialize)]
    struct Owned(#[serde(with = "super")] DateTime<Utc>);

    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        at.as_ref().map(Compact).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Owned>::deserialize(deserializer)?.map(|o| o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Times {
        #[serde(with = "super")]
        at: DateTime<Utc>,
        #[serde(with = "super::option")]
        maybe: Option<DateTime<Utc>>,
        #[serde(with = "super::option")]
        none: Option<DateTime<Utc>>,
    }

    #[test]
    fn json_keeps_rfc3339_text_and_round_trips_exactly() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T04:05:06.123456789Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("a valid instant");
        let times = Times {
            at,
            maybe: Some(at),
            none: None,
        };
        let json = serde_json::to_string(&times).expect("encodes");
        assert_eq!(
            json,
            r#"{"at":"2026-11-30T04:05:06.123456789Z","maybe":"2026-11-30T04:05:06.123456789Z","none":null}"#
        );
        assert_eq!(serde_json::from_str::<Times>(&json).ok(), Some(times));
    }
}
