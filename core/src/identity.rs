//! Who a user is: a validated [`Username`], a WeChat [`OpenId`], a [`PasswordHash`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::truncate;

/// A login name: 3 to 32 ASCII letters, digits, `_`, `-` or `.`, stored lower-case.
///
/// Normalising at construction makes `Alice` and `alice` the same name, so the
/// uniqueness claim (stream `username-<name>`) cannot be dodged by changing case.
/// Only ASCII is accepted, which also rules out look-alike Unicode names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let value = value.trim();
        let valid = (Self::MIN_LEN..=Self::MAX_LEN).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(DomainError::InvalidUsername(truncate(value)));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A WeChat openid: the user's id within one mini-program (28 characters today).
///
/// Openids are case-sensitive and are kept exactly as WeChat sent them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpenId(String);

impl OpenId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        if !valid {
            return Err(DomainError::InvalidOpenId(truncate(value)));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An argon2id hash in PHC string form (`$argon2id$v=19$...`).
///
/// Core never hashes or verifies passwords (that is slow, salted work for the edge);
/// it only carries the hash into `UserRegistered`. `Debug` never prints it, so the
/// hash cannot leak into logs through a `{:?}` of a command or an event.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts only argon2id PHC strings, the one algorithm paylog uses.
    pub fn parse(phc: &str) -> Result<Self, DomainError> {
        if !phc.starts_with("$argon2id$") || phc.len() > 512 {
            return Err(DomainError::InvalidPasswordHash);
        }
        Ok(Self(phc.to_owned()))
    }

    /// The PHC string, for the edge to verify a password against.
    pub fn expose_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

macro_rules! string_conversions {
    ($($name:ident),*) => {$(
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

        impl std::str::FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    )*};
}

string_conversions!(Username, OpenId, PasswordHash);

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_validated() {
        assert_eq!(
            Username::parse(" Alice.W_1 ").map(|u| u.as_str().to_owned()),
            Ok("alice.w_1".to_owned())
        );
        assert_eq!(Username::parse("ALICE"), Username::parse("alice"));
        for bad in ["ab", "", "a b c", "ålice", "al!ce", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(serde_json::from_str::<Username>("\"x\"").is_err());
    }

    #[test]
    fn openids_keep_case_and_refuse_odd_characters() {
        let id = OpenId::parse("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").expect("valid openid");
        assert_eq!(id.as_str(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        for bad in ["", "o p", "o/p", &"o".repeat(65)] {
            assert!(OpenId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_hash_is_never_debug_printed() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        let hash = PasswordHash::parse(phc).expect("valid phc");
        assert_eq!(format!("{hash:?}"), "PasswordHash(<redacted>)");
        assert_eq!(hash.expose_phc(), phc);
        assert!(PasswordHash::parse("plaintext").is_err());
        assert!(PasswordHash::parse("$2b$12$bcrypt").is_err());
    }
}
