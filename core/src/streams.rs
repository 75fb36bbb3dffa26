//! Stream names: which stream of the log each aggregate lives in.
//!
//! | stream                     | holds                                         |
//! |----------------------------|-----------------------------------------------|
//! | `user-<uuid>`              | one user's events (`UserRegistered`)          |
//! | `product-<uuid>`           | one product's events (created, stock moves)   |
//! | `order-<uuid>`             | one order's events (placed … refunded)        |
//! | `username-<username>`      | the claim on a normalised username            |
//! | `openid-<openid>`          | the claim on a WeChat openid                  |
//!
//! Uniqueness is enforced by the store, not by a lookup: the first event of a claim
//! stream is appended with `ExpectedVersion::NoStream`, atomically with the user's
//! own stream, so two concurrent registrations of one name cannot both succeed.
//! Uuids are printed hyphenated, lower-case.

use crate::identity::{OpenId, Username};
use crate::ids::{OrderId, ProductId, UserId};

pub fn user_stream(id: UserId) -> String {
    format!("user-{id}")
}

pub fn product_stream(id: ProductId) -> String {
    format!("product-{id}")
}

pub fn order_stream(id: OrderId) -> String {
    format!("order-{id}")
}

pub fn username_stream(name: &Username) -> String {
    format!("username-{name}")
}

pub fn openid_stream(openid: &OpenId) -> String {
    format!("openid-{openid}")
}

/// A stream name taken apart, for audits and projections that walk the whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRef {
    User(UserId),
    Product(ProductId),
    Order(OrderId),
    Username(Username),
    OpenId(OpenId),
}

impl StreamRef {
    /// Parses a stream name; `None` if it is not one paylog writes.
    pub fn parse(stream_id: &str) -> Option<Self> {
        // Longer prefixes first would matter only if one prefix were another's
        // prefix; "user-" and "username-" differ at the fifth byte, so order is free.
        let (kind, rest) = stream_id.split_once('-')?;
        match kind {
            "user" => rest.parse().ok().map(Self::User),
            "product" => rest.parse().ok().map(Self::Product),
            "order" => rest.parse().ok().map(Self::Order),
            "username" => Username::parse(rest)
                .ok()
                .filter(|name| name.as_str() == rest)
                .map(Self::Username),
            "openid" => OpenId::parse(rest).ok().map(Self::OpenId),
            _ => None,
        }
    }

    /// The stream name this reference came from.
    pub fn stream_id(&self) -> String {
        match self {
            Self::User(id) => user_stream(*id),
            Self::Product(id) => product_stream(*id),
            Self::Order(id) => order_stream(*id),
            Self::Username(name) => username_stream(name),
            Self::OpenId(openid) => openid_stream(openid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn stream_names_round_trip() {
        let uuid = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001);
        let refs = [
            StreamRef::User(UserId::from_uuid(uuid)),
            StreamRef::Product(ProductId::from_uuid(uuid)),
            StreamRef::Order(OrderId::from_uuid(uuid)),
            StreamRef::Username(Username::parse("Alice").expect("valid")),
            StreamRef::OpenId(OpenId::parse("oAbC-123_x").expect("valid")),
        ];
        for r in refs {
            let id = r.stream_id();
            assert_eq!(StreamRef::parse(&id), Some(r), "{id}");
        }
        assert_eq!(
            order_stream(OrderId::from_uuid(uuid)),
            "order-01920000-0000-7000-8000-000000000001"
        );
        assert_eq!(
            username_stream(&Username::parse("Alice").expect("valid")),
            "username-alice"
        );
        assert_eq!(StreamRef::parse("order-xyz"), None);
        assert_eq!(StreamRef::parse("username-Alice"), None);
        assert_eq!(StreamRef::parse("basket-1"), None);
    }
}
