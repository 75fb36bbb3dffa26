//! WeChat's local times (Asia/Shanghai) to and from chrono UTC.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use super::WxPayError;

/// `time_end`, `time_expire`, `time_start`: `yyyyMMddHHmmss` in Beijing time.
const COMPACT: &str = "%Y%m%d%H%M%S";
/// A refund notify's `success_time`: `yyyy-MM-dd HH:mm:ss` in Beijing time.
const SPACED: &str = "%Y-%m-%d %H:%M:%S";

fn parse(value: &str, fmt: &str, field: &'static str) -> Result<DateTime<Utc>, WxPayError> {
    let invalid = || WxPayError::InvalidField {
        field,
        value: value.to_owned(),
    };
    let naive = NaiveDateTime::parse_from_str(value, fmt).map_err(|_| invalid())?;
    // China has had no DST since 1991, so every local time maps to one instant.
    Shanghai
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(invalid)
}

/// Parses `yyyyMMddHHmmss` (Asia/Shanghai) into UTC; `field` names it in errors.
pub fn parse_compact(value: &str, field: &'static str) -> Result<DateTime<Utc>, WxPayError> {
    parse(value, COMPACT, field)
}

/// Parses `yyyy-MM-dd HH:mm:ss` (Asia/Shanghai) into UTC.
pub fn parse_spaced(value: &str, field: &'static str) -> Result<DateTime<Utc>, WxPayError> {
    parse(value, SPACED, field)
}

/// Formats a UTC instant as `yyyyMMddHHmmss` in Asia/Shanghai.
pub fn format_compact(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format(COMPACT).to_string()
}

/// Formats a UTC instant as `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai.
pub fn format_spaced(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format(SPACED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_is_eight_hours_ahead() {
        let t = parse_compact("20140903131540", "time_end").expect("valid");
        assert_eq!(t.to_rfc3339(), "2014-09-03T05:15:40+00:00");
        assert_eq!(format_compact(t), "20140903131540");
        let s = parse_spaced("2018-11-19 16:24:13", "success_time").expect("valid");
        assert_eq!(s.to_rfc3339(), "2018-11-19T08:24:13+00:00");
        assert_eq!(format_spaced(s), "2018-11-19 16:24:13");
        assert!(parse_compact("2014-09-03", "time_end").is_err());
        assert!(parse_compact("20141303131540", "time_end").is_err());
    }
}
