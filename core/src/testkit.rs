//! Fixtures shared by the unit tests: fixed ids and instants (core has no clock).

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::ids::{OrderId, ProductId, UserId};

/// 2024-05-01 12:00:00 UTC, the "now" of every test.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// `t0` plus some minutes.
pub fn t(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

pub fn user_id(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(0x0100 << 64 | n))
}

pub fn product_id(n: u128) -> ProductId {
    ProductId::from_uuid(Uuid::from_u128(0x0200 << 64 | n))
}

pub fn order_id(n: u128) -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(0x0300 << 64 | n))
}
