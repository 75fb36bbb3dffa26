//! `AEAD_AES_256_GCM` resources: notify payloads and platform certificates,
//! encrypted with the APIv3 key, the resource's 12-character nonce (its bytes)
//! and `associated_data` (absent means empty).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use serde::{Deserialize, Serialize};

use super::WxPayV3Error;
use super::b64;
use super::keys::ApiV3Key;

/// The only algorithm WeChat Pay v3 uses for resources.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";
/// The nonce is 12 bytes (WeChat sends 12 ASCII characters).
pub const NONCE_BYTES: usize = 12;
/// Longest base64 ciphertext accepted (a notify resource is well under 4 KiB).
pub const MAX_CIPHERTEXT_B64_BYTES: usize = 64 * 1024;
/// Longest associated_data accepted.
pub const MAX_ASSOCIATED_DATA_BYTES: usize = 256;

/// An encrypted resource as WeChat sends it (`resource` of a notify,
/// `encrypt_certificate` of `/v3/certificates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_data: Option<String>,
    pub nonce: String,
    /// `transaction`, `refund`… (notifies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
}

impl EncryptedResource {
    /// Decrypts and authenticates. A tag mismatch explains its usual cause (a v2
    /// API key configured as the APIv3 key).
    pub fn decrypt(&self, key: &ApiV3Key) -> Result<Vec<u8>, WxPayV3Error> {
        if self.algorithm != ALGORITHM {
            return Err(WxPayV3Error::UnsupportedAlgorithm(super::keys::truncate(
                &self.algorithm,
            )));
        }
        if self.ciphertext.len() > MAX_CIPHERTEXT_B64_BYTES {
            return Err(WxPayV3Error::TooLarge {
                what: "resource ciphertext",
                size_bytes: self.ciphertext.len(),
                limit_bytes: MAX_CIPHERTEXT_B64_BYTES,
            });
        }
        let associated_data = self.associated_data.as_deref().unwrap_or("");
        check_associated_data(associated_data)?;
        let nonce = nonce(&self.nonce)?;
        let ciphertext = b64::decode(&self.ciphertext).map_err(|_| WxPayV3Error::Base64 {
            field: "resource ciphertext",
        })?;
        Aes256Gcm::new(key.expose().into())
            .decrypt(
                nonce,
                Payload {
                    msg: &ciphertext,
                    aad: associated_data.as_bytes(),
                },
            )
            .map_err(|_| WxPayV3Error::TagMismatch)
    }

    /// [`Self::decrypt`], then UTF-8 (JSON payloads and PEM certificates are text).
    pub fn decrypt_utf8(&self, key: &ApiV3Key) -> Result<String, WxPayV3Error> {
        String::from_utf8(self.decrypt(key)?).map_err(|_| WxPayV3Error::NotUtf8)
    }

    /// Encrypts `plaintext` (the simulator's side). The nonce comes from the
    /// caller, who must never reuse one with the same key.
    pub fn encrypt(
        key: &ApiV3Key,
        nonce_str: &str,
        associated_data: Option<&str>,
        original_type: Option<&str>,
        plaintext: &[u8],
    ) -> Result<Self, WxPayV3Error> {
        let aad = associated_data.unwrap_or("");
        check_associated_data(aad)?;
        let ciphertext = Aes256Gcm::new(key.expose().into())
            .encrypt(
                nonce(nonce_str)?,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            // Only reachable for plaintexts beyond GCM's 64 GiB limit.
            .map_err(|_| WxPayV3Error::TooLarge {
                what: "resource plaintext",
                size_bytes: plaintext.len(),
                limit_bytes: MAX_CIPHERTEXT_B64_BYTES,
            })?;
        let ciphertext = b64::encode(&ciphertext);
        if ciphertext.len() > MAX_CIPHERTEXT_B64_BYTES {
            return Err(WxPayV3Error::TooLarge {
                what: "resource ciphertext",
                size_bytes: ciphertext.len(),
                limit_bytes: MAX_CIPHERTEXT_B64_BYTES,
            });
        }
        Ok(Self {
            algorithm: ALGORITHM.to_owned(),
            ciphertext,
            associated_data: associated_data.map(str::to_owned),
            nonce: nonce_str.to_owned(),
            original_type: original_type.map(str::to_owned),
        })
    }
}

fn nonce(nonce: &str) -> Result<&Nonce<aes_gcm::aead::consts::U12>, WxPayV3Error> {
    // Checked first: `Nonce::from_slice` panics on any other length.
    if nonce.len() != NONCE_BYTES {
        return Err(WxPayV3Error::NonceLength {
            len_bytes: nonce.len(),
        });
    }
    Ok(Nonce::from_slice(nonce.as_bytes()))
}

fn check_associated_data(associated_data: &str) -> Result<(), WxPayV3Error> {
    if associated_data.len() > MAX_ASSOCIATED_DATA_BYTES {
        return Err(WxPayV3Error::TooLarge {
            what: "associated_data",
            size_bytes: associated_data.len(),
            limit_bytes: MAX_ASSOCIATED_DATA_BYTES,
        });
    }
    Ok(())
}
