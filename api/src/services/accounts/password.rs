//! Password hashing with argon2id (the crate's defaults: m=19 MiB, t=2, p=1), always
//! on the blocking pool: a hash takes tens of milliseconds of CPU.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

use crate::error::Error;

/// Shortest and longest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Hashes a password into a PHC string (`$argon2id$…`).
pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

fn hash_blocking(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("argon2 salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches `phc`. With no hash (unknown user) a dummy hash is
/// checked anyway, so that the answer takes as long as for a real user. A dummy that
/// cannot be made is an error, not a skipped check: skipping it would let response
/// times tell which usernames exist.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = match phc {
            Some(phc) => phc,
            None => dummy_hash()?.to_owned(),
        };
        // A stored hash that does not parse cannot match; it is still a refusal.
        let matches = PasswordHash::new(&phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        Ok(known && matches)
    })
    .await
    .map_err(|e| Error::Internal(format!("password check task failed: {e}")))?
}

/// A real argon2id hash of a password nobody has, made once.
fn dummy_hash() -> Result<&'static str, Error> {
    static DUMMY: OnceLock<Result<String, String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_blocking("not-a-real-password").map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| Error::Internal(format!("dummy password hash: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let phc = hash("correct horse".into()).await.expect("hashes");
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("checks")
        );
        assert!(
            !verify("wrong horse".into(), Some(phc))
                .await
                .expect("checks")
        );
        assert!(
            !verify("not-a-real-password".into(), None)
                .await
                .expect("checks")
        );
    }
}
