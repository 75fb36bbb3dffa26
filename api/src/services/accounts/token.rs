//! Bearer tokens: HS256 JWTs signed with the server's token secret, expiring.
//!
//! A token carries only the user id and its validity window: never WeChat's
//! `session_key`, never anything a client could use beyond this API.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use paylog_core::UserId;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long a token is valid, in seconds (a `u32`, so it always fits the `i64`
/// seconds of a JWT's `exp` without a fallback).
const TOKEN_TTL_SECS: u32 = 2 * 3600;

/// How long a token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(TOKEN_TTL_SECS as u64);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    exp: i64,
}

/// The keys tokens are signed and checked with.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([REDACTED])")
    }
}

impl TokenKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    /// A fresh token for `user_id`, valid for [`TOKEN_TTL`].
    pub fn issue(&self, user_id: UserId) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let ttl = i64::from(TOKEN_TTL_SECS);
        let claims = Claims {
            sub: user_id.as_uuid(),
            iat: now,
            exp: now.saturating_add(ttl),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The user a valid, unexpired, untampered token names.
    pub fn verify(&self, token: &str) -> Option<UserId> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| UserId::from_uuid(data.claims.sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering_and_other_keys() {
        let keys = TokenKeys::new(&SecretString::from("a-secret-of-some-length-0123456789"));
        let user = UserId::from_uuid(Uuid::now_v7());
        let token = keys.issue(user).expect("signs");
        assert_eq!(keys.verify(&token), Some(user));
        let other = TokenKeys::new(&SecretString::from("another-secret-0123456789abcdef"));
        assert_eq!(other.verify(&token), None);
        let mut tampered = token.clone();
        tampered.push('x');
        assert_eq!(keys.verify(&tampered), None);
        assert_eq!(keys.verify("not a token"), None);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let secret = SecretString::from("a-secret-of-some-length-0123456789");
        let keys = TokenKeys::new(&secret);
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::now_v7(),
            iat: now - 7200,
            exp: now - 60,
        };
        let stale = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
        )
        .expect("signs");
        assert_eq!(keys.verify(&stale), None);
    }
}
