//! Key material and identifiers: RSA keys from PEM, the APIv3 key, serials and key ids.
//!
//! Everything is validated when it is built, so a wrong credential is a one-line
//! error at start-up rather than a "签名错误" at the first payment.

use std::fmt;

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use secrecy::{ExposeSecret, SecretBox};

use sha2::Sha256;

use super::WxPayV3Error;
use super::b64;

/// WeChat Pay v3 is "SHA256-RSA2048": smaller keys are refused when loaded.
pub const MIN_RSA_BITS: usize = 2048;
/// The APIv3 key is exactly 32 bytes (an AES-256 key).
pub const APIV3_KEY_BYTES: usize = 32;
/// Longest certificate serial accepted (WeChat's are 40 hex digits; X.509 allows 20 bytes).
pub const MAX_SERIAL_HEX_CHARS: usize = 40;
/// Longest WeChat Pay public key id accepted (`PUB_KEY_ID_` and about 35 digits today).
pub const MAX_PUBLIC_KEY_ID_CHARS: usize = 64;
/// Prefix of every WeChat Pay public key id.
pub const PUBLIC_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

/// An RSA private key that signs SHA256-with-RSA (PKCS#1 v1.5): the merchant's API
/// key, or WeChat's key in the simulator. `Debug` never shows it.
#[derive(Clone)]
pub struct RsaSigningKey {
    // Not a `secrecy::SecretBox`: `RsaPrivateKey` zeroizes itself on drop but does
    // not implement `Zeroize`. The manual `Debug` below is what keeps it out of logs.
    signer: SigningKey<Sha256>,
    bits: usize,
}

impl RsaSigningKey {
    /// Parses a PEM private key, PKCS#8 (`BEGIN PRIVATE KEY`, what the merchant
    /// platform's `apiclient_key.pem` holds) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    /// `what` names the credential in errors (e.g. "merchant private key").
    pub fn from_pem(what: &'static str, pem: &str) -> Result<Self, WxPayV3Error> {
        let pem = pem.trim();
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|pkcs8_err| {
                RsaPrivateKey::from_pkcs1_pem(pem).map_err(|pkcs1_err| {
                    // Neither error quotes key material, only the structure that failed.
                    if pem.contains("BEGIN RSA PRIVATE KEY") {
                        pkcs1_err.to_string()
                    } else if pem.contains("BEGIN PRIVATE KEY") {
                        pkcs8_err.to_string()
                    } else if pem.contains("BEGIN CERTIFICATE") || pem.contains("PUBLIC KEY") {
                        "this is a certificate or a public key, not a private key".to_owned()
                    } else {
                        "no `BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` block".to_owned()
                    }
                })
            })
            .map_err(|reason| WxPayV3Error::KeyParse { what, reason })?;
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(WxPayV3Error::KeyTooSmall {
                what,
                bits,
                min_bits: MIN_RSA_BITS,
            });
        }
        Ok(Self {
            signer: SigningKey::<Sha256>::new(key),
            bits,
        })
    }

    /// SHA256-with-RSA (PKCS#1 v1.5) over `message`, base64. Deterministic: the
    /// same key and message always give the same signature.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, WxPayV3Error> {
        let signature = self
            .signer
            .try_sign(message)
            .map_err(|e| WxPayV3Error::Sign(e.to_string()))?;
        Ok(b64::encode(&signature.to_bytes()))
    }

    /// The matching public key (what the counterpart verifies with).
    pub fn verifying_key(&self) -> RsaVerifyingKey {
        RsaVerifyingKey {
            key: self.signer.as_ref().to_public_key(),
        }
    }

    pub fn bits(&self) -> usize {
        self.bits
    }
}

impl fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaSigningKey(RSA-{}, [REDACTED])", self.bits)
    }
}

/// An RSA public key that verifies SHA256-with-RSA (PKCS#1 v1.5) signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaVerifyingKey {
    key: RsaPublicKey,
}

impl RsaVerifyingKey {
    /// Parses a PEM public key: SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, the form
    /// of the WeChat Pay public key `pub_key.pem`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    pub fn from_pem(what: &'static str, pem: &str) -> Result<Self, WxPayV3Error> {
        let pem = pem.trim();
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|spki_err| {
                RsaPublicKey::from_pkcs1_pem(pem).map_err(|pkcs1_err| {
                    if pem.contains("BEGIN RSA PUBLIC KEY") {
                        pkcs1_err.to_string()
                    } else if pem.contains("BEGIN PUBLIC KEY") {
                        spki_err.to_string()
                    } else if pem.contains("BEGIN CERTIFICATE") {
                        "this is a certificate; configure it as a platform certificate".to_owned()
                    } else if pem.contains("PRIVATE KEY") {
                        "this is a private key, not a public key".to_owned()
                    } else {
                        "no `BEGIN PUBLIC KEY` block".to_owned()
                    }
                })
            })
            .map_err(|reason| WxPayV3Error::KeyParse { what, reason })?;
        Self::from_rsa(what, key)
    }

    pub(crate) fn from_rsa(what: &'static str, key: RsaPublicKey) -> Result<Self, WxPayV3Error> {
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(WxPayV3Error::KeyTooSmall {
                what,
                bits,
                min_bits: MIN_RSA_BITS,
            });
        }
        Ok(Self { key })
    }

    /// Checks a base64 SHA256-with-RSA signature over `message`. `serial` only
    /// names the key in the error.
    pub fn verify_base64(
        &self,
        message: &[u8],
        signature_b64: &str,
        serial: &str,
    ) -> Result<(), WxPayV3Error> {
        let mismatch = || WxPayV3Error::SignatureMismatch {
            serial: serial.to_owned(),
        };
        // Undecodable base64 or a wrong length is just another bad signature.
        let raw = b64::decode(signature_b64).map_err(|_| mismatch())?;
        let signature = Signature::try_from(raw.as_slice()).map_err(|_| mismatch())?;
        VerifyingKey::<Sha256>::new(self.key.clone())
            .verify(message, &signature)
            .map_err(|_| mismatch())
    }

    pub fn bits(&self) -> usize {
        self.key.size() * 8
    }

    /// The key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), the form WeChat
    /// hands out the WeChat Pay public key in.
    pub fn to_public_key_pem(&self) -> Result<String, WxPayV3Error> {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| WxPayV3Error::KeyParse {
                what: "public key",
                reason: e.to_string(),
            })
    }
}

impl fmt::Debug for RsaVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaVerifyingKey(RSA-{})", self.bits())
    }
}

/// The 32-byte APIv3 key (商户平台 → API安全 → APIv3密钥) that encrypts notify
/// resources and platform certificates. Never printed.
pub struct ApiV3Key(SecretBox<[u8; APIV3_KEY_BYTES]>);

impl ApiV3Key {
    /// Accepts exactly 32 bytes; anything else is a configuration error (a 16- or
    /// 24-byte key would silently select AES-128/192 in other libraries).
    pub fn new(key: &[u8]) -> Result<Self, WxPayV3Error> {
        let bytes: [u8; APIV3_KEY_BYTES] =
            key.try_into().map_err(|_| WxPayV3Error::ApiV3KeyLength {
                len_bytes: key.len(),
            })?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    pub(crate) fn expose(&self) -> &[u8; APIV3_KEY_BYTES] {
        self.0.expose_secret()
    }
}

impl Clone for ApiV3Key {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key([REDACTED])")
    }
}

/// A certificate serial number in upper-case hex without leading zeros: the
/// merchant's API certificate (`serial_no` of `Authorization`) or a platform
/// certificate (`Wechatpay-Serial`). Compared case-insensitively by normalising.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertificateSerial(String);

impl CertificateSerial {
    pub fn parse(what: &'static str, value: &str) -> Result<Self, WxPayV3Error> {
        let valid = !value.is_empty()
            && value.len() <= MAX_SERIAL_HEX_CHARS
            && value.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(WxPayV3Error::InvalidIdentifier {
                what,
                value: truncate(value),
                expected: "1 to 40 hex digits (openssl x509 -noout -serial -in apiclient_cert.pem)",
            });
        }
        let trimmed = value.trim_start_matches('0');
        let normalised = if trimmed.is_empty() { "0" } else { trimmed };
        Ok(Self(normalised.to_ascii_uppercase()))
    }

    /// From a DER integer's bytes (leading zero bytes dropped).
    pub(crate) fn from_der_bytes(bytes: &[u8]) -> Result<Self, WxPayV3Error> {
        // A DER integer with its top bit set carries a 0x00 sign byte; openssl
        // and WeChat print the serial without it.
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let hex = hex::encode_upper(bytes.get(first..).unwrap_or_default());
        Self::parse("platform certificate serial", &hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertificateSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the WeChat Pay public key (`PUB_KEY_ID_…`), compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicKeyId(String);

impl PublicKeyId {
    pub fn parse(value: &str) -> Result<Self, WxPayV3Error> {
        let valid = value.len() <= MAX_PUBLIC_KEY_ID_CHARS
            && value
                .strip_prefix(PUBLIC_KEY_ID_PREFIX)
                .is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
                });
        if !valid {
            return Err(WxPayV3Error::InvalidIdentifier {
                what: "WeChat Pay public key id",
                value: truncate(value),
                expected: "PUB_KEY_ID_ followed by letters and digits, as shown next to the public key",
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublicKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Caps a value quoted in an error, so a hostile header cannot flood a log line.
pub(crate) fn truncate(value: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 80;
    if value.chars().count() <= MAX_QUOTED_CHARS {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX_QUOTED_CHARS).collect();
        s.push('…');
        s
    }
}
