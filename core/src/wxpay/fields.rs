//! Typed access to a parsed body's fields.

use chrono::{DateTime, Utc};

use super::{Fields, WxPayError, time};

/// A required, non-empty field.
pub fn required<'a>(f: &'a Fields, name: &'static str) -> Result<&'a str, WxPayError> {
    f.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(WxPayError::MissingField(name))
}

/// An optional field; empty counts as absent (WeChat leaves unsigned empties out).
pub fn optional(f: &Fields, name: &str) -> Option<String> {
    f.get(name).filter(|v| !v.is_empty()).cloned()
}

/// A required amount in fen: decimal digits only, no sign, no fraction.
pub fn fen(f: &Fields, name: &'static str) -> Result<u64, WxPayError> {
    let v = required(f, name)?;
    parse_fen(v).ok_or_else(|| WxPayError::InvalidField {
        field: name,
        value: v.to_owned(),
    })
}

/// An optional amount in fen.
pub fn optional_fen(f: &Fields, name: &'static str) -> Result<Option<u64>, WxPayError> {
    match optional(f, name) {
        None => Ok(None),
        Some(v) => parse_fen(&v).map(Some).ok_or(WxPayError::InvalidField {
            field: name,
            value: v,
        }),
    }
}

fn parse_fen(v: &str) -> Option<u64> {
    // `u64::from_str` would accept a leading '+'; WeChat never sends one.
    if v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse().ok()
    } else {
        None
    }
}

/// A required `yyyyMMddHHmmss` time.
pub fn compact_time(f: &Fields, name: &'static str) -> Result<DateTime<Utc>, WxPayError> {
    time::parse_compact(required(f, name)?, name)
}

/// `required(..).to_owned()`.
pub fn owned(f: &Fields, name: &'static str) -> Result<String, WxPayError> {
    required(f, name).map(str::to_owned)
}
