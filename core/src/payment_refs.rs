//! WeChat's references to money movements: prepay ids, transaction ids, refund numbers.
//!
//! They are opaque strings chosen by WeChat (or, for [`OutRefundNo`], by paylog at the
//! edge), validated once so that the aggregates can compare them without re-checking.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::ids::truncate;

/// Which WeChat Pay API a prepay was opened on. An order keeps talking to WeChat
/// on that API (query, close, refund, `wx.requestPayment` parameters) even after
/// the shop switched the API new payments use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayApi {
    /// API v2 (XML, MD5/HMAC-SHA256): every prepay recorded before v3 existed.
    #[default]
    V2,
    /// API v3 (JSON, SHA256-with-RSA).
    V3,
}

impl PayApi {
    pub fn is_v2(&self) -> bool {
        *self == Self::V2
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V3 => "v3",
        }
    }
}

impl fmt::Display for PayApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! wx_ref {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $extra:pat) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: &str) -> Result<Self, DomainError> {
                let valid = !value.is_empty()
                    && value.len() <= Self::MAX_LEN
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, $extra));
                if !valid {
                    return Err(DomainError::InvalidReference { kind: $what, value: truncate(value) });
                }
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

wx_ref!(
    /// `prepay_id` returned by unifiedorder; valid for two hours at WeChat.
    PrepayId,
    "prepay_id",
    64,
    b'_' | b'-'
);
wx_ref!(
    /// WeChat's `transaction_id` of a payment: the proof the money moved.
    TransactionId,
    "transaction_id",
    32,
    b'_' | b'-'
);
wx_ref!(
    /// WeChat's `refund_id` of a refund.
    RefundId,
    "refund_id",
    32,
    b'_' | b'-'
);
wx_ref!(
    /// The merchant's refund number (`out_refund_no`): at most 64 of `[A-Za-z0-9_-|*@]`.
    OutRefundNo,
    "out_refund_no",
    64,
    b'_' | b'-' | b'|' | b'*' | b'@'
);

impl OutRefundNo {
    /// A refund number from a uuid generated at the edge (32 hex digits).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid.simple().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_validate_length_and_alphabet() {
        assert!(TransactionId::parse("4200001234202401011234567890").is_ok());
        assert!(TransactionId::parse(&"1".repeat(33)).is_err());
        assert!(PrepayId::parse("wx2017033010242291fcfe0db70013231072").is_ok());
        assert!(PrepayId::parse("").is_err());
        assert!(OutRefundNo::parse("r|1*2@3_4-5").is_ok());
        assert!(OutRefundNo::parse("r 1").is_err());
        assert_eq!(OutRefundNo::from_uuid(Uuid::nil()).as_str().len(), 32);
        assert!(RefundId::parse("50000000382019052709732678859").is_ok());
        assert!(serde_json::from_str::<RefundId>("\"<x>\"").is_err());
    }
}
