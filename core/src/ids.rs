//! Identifiers: uuid newtypes for the aggregates, and the `out_trade_no` WeChat sees.
//!
//! Core has no clock and no randomness, so ids are generated at the edge (uuid v7,
//! which sorts by creation time) and arrive here via [`UserId::from_uuid`] and friends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a uuid generated at the edge (v7 in production).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying uuid.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| DomainError::InvalidId { kind: $what, value: truncate(s) })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A user of the mini-program shop.
    UserId,
    "user id"
);
uuid_id!(
    /// A product of the catalog.
    ProductId,
    "product id"
);
uuid_id!(
    /// An order; its `out_trade_no` for WeChat is derived from it.
    OrderId,
    "order id"
);

/// Keeps error messages bounded when a caller sends a huge bogus value.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The merchant's order number as WeChat Pay sees it (`out_trade_no`).
///
/// WeChat requires it to be unique per merchant and at most 32 characters of
/// `[A-Za-z0-9_-]`. paylog derives it from the [`OrderId`] as the uuid's 32-character
/// simple hex form, so a notify's `out_trade_no` maps back to its order without any
/// lookup table (see [`OutTradeNo::order_id`]). Parsing accepts any well-formed value
/// so that foreign numbers in a notify are reported as "unknown order", not "malformed".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OutTradeNo(String);

impl OutTradeNo {
    /// The longest `out_trade_no` WeChat accepts.
    pub const MAX_LEN: usize = 32;

    /// The `out_trade_no` of an order: its uuid in 32 lower-case hex digits.
    pub fn for_order(order_id: OrderId) -> Self {
        Self(order_id.as_uuid().simple().to_string())
    }

    /// Validates a value received from outside (a notify, an API path).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(DomainError::InvalidOutTradeNo(truncate(value)));
        }
        Ok(Self(value.to_owned()))
    }

    /// The order this number was derived from, or `None` for a number paylog did not
    /// issue (anything that is not exactly 32 hex digits).
    pub fn order_id(&self) -> Option<OrderId> {
        if self.0.len() != 32 {
            return None;
        }
        // Only the exact form paylog writes maps back (not, say, upper-case hex),
        // so an order has one out_trade_no and never two.
        Uuid::try_parse(&self.0)
            .ok()
            .map(OrderId::from_uuid)
            .filter(|id| Self::for_order(*id) == *self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutTradeNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OutTradeNo {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for OutTradeNo {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OutTradeNo> for String {
    fn from(value: OutTradeNo) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_id() -> OrderId {
        OrderId::from_uuid(Uuid::from_u128(0x0192_3456_789a_7bcd_8ef0_1234_5678_9abc))
    }

    #[test]
    fn ids_round_trip_through_display_fromstr_and_serde() {
        let id = order_id();
        let text = id.to_string();
        assert_eq!(text, "01923456-789a-7bcd-8ef0-123456789abc");
        assert_eq!(text.parse::<OrderId>(), Ok(id));
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, "\"01923456-789a-7bcd-8ef0-123456789abc\"");
        assert_eq!(serde_json::from_str::<OrderId>(&json).ok(), Some(id));
        assert!(matches!(
            "not-a-uuid".parse::<UserId>(),
            Err(DomainError::InvalidId {
                kind: "user id",
                ..
            })
        ));
    }

    #[test]
    fn out_trade_no_is_32_hex_chars_and_maps_back_to_its_order() {
        let no = OutTradeNo::for_order(order_id());
        assert_eq!(no.as_str(), "01923456789a7bcd8ef0123456789abc");
        assert_eq!(no.as_str().len(), OutTradeNo::MAX_LEN);
        assert_eq!(no.order_id(), Some(order_id()));
        assert_eq!(OutTradeNo::parse(no.as_str()), Ok(no));
    }

    #[test]
    fn out_trade_no_rejects_what_wechat_rejects() {
        for bad in ["", "a b", "订单1", "x/y", &"a".repeat(33)] {
            assert!(OutTradeNo::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let foreign = OutTradeNo::parse("ABC_123-x").ok();
        assert_eq!(foreign.and_then(|n| n.order_id()), None);
        let upper = OutTradeNo::parse("01923456789A7BCD8EF0123456789ABC").ok();
        assert_eq!(upper.and_then(|n| n.order_id()), None);
        assert!(serde_json::from_str::<OutTradeNo>("\"a b\"").is_err());
    }
}
