//! Signing and verification: MD5 or HMAC-SHA256 over the sorted `k=v` string.

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Fields, WxPayError};

/// The merchant's API key (商户平台 API 密钥). Never printed by `Debug`.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(SecretString::from(key.into()))
    }

    /// The raw key, for the few places that must feed it to a primitive.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<SecretString> for ApiKey {
    fn from(s: SecretString) -> Self {
        Self(s)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

/// The two signature algorithms of API v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignType {
    #[default]
    Md5,
    HmacSha256,
}

impl SignType {
    /// The wire name (`MD5`, `HMAC-SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::HmacSha256 => "HMAC-SHA256",
        }
    }
}

impl std::str::FromStr for SignType {
    type Err = WxPayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "MD5" => Ok(Self::Md5),
            "HMAC-SHA256" => Ok(Self::HmacSha256),
            other => Err(WxPayError::UnsupportedSignType(other.to_owned())),
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `k=v&…` part: every non-empty field except `sign`, in byte order of the keys.
fn joined_fields(fields: &Fields) -> String {
    let mut out = String::new();
    // BTreeMap<String, _> iterates in byte order of the keys, which is what WeChat sorts by.
    for (k, v) in fields
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
    {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The exact string that is hashed: the sorted fields, then `&key=API_KEY`.
pub fn string_to_sign(fields: &Fields, key: &ApiKey) -> String {
    format!("{}&key={}", joined_fields(fields), key.expose())
}

/// [`string_to_sign`] with the key masked, for `--explain` and logs.
pub fn string_to_sign_masked(fields: &Fields) -> String {
    format!("{}&key=********", joined_fields(fields))
}

/// The upper-case hex sign of `fields` with an explicitly chosen algorithm.
pub fn sign(fields: &Fields, key: &ApiKey, sign_type: SignType) -> String {
    let input = string_to_sign(fields, key);
    let digest = match sign_type {
        SignType::Md5 => Md5::digest(input.as_bytes()).to_vec(),
        SignType::HmacSha256 => {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose().as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            Mac::update(&mut mac, input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    hex::encode_upper(digest)
}

/// The algorithm that applies to a body: its own `sign_type` field when present
/// (that field is then part of the signed set), otherwise the merchant's setting.
/// WeChat often leaves `sign_type` out of notifies.
pub fn effective_sign_type(fields: &Fields, configured: SignType) -> Result<SignType, WxPayError> {
    match fields.get("sign_type").filter(|s| !s.is_empty()) {
        Some(s) => s.parse(),
        None => Ok(configured),
    }
}

/// Adds `sign` (and nothing else) to `fields`, using the body's own `sign_type` if set.
pub fn sign_fields(
    fields: &mut Fields,
    key: &ApiKey,
    configured: SignType,
) -> Result<(), WxPayError> {
    let st = effective_sign_type(fields, configured)?;
    let s = sign(fields, key, st);
    fields.insert("sign".to_owned(), s);
    Ok(())
}

/// Verifies the `sign` of a received body in constant time.
///
/// A body without a `sign` is never trusted, whatever its `return_code` says:
/// some SDKs skip verification when `return_code=FAIL`, which lets anyone forge
/// a failure (or worse) without the key.
pub fn verify(fields: &Fields, key: &ApiKey, configured: SignType) -> Result<(), WxPayError> {
    let given = fields
        .get("sign")
        .filter(|s| !s.is_empty())
        .ok_or(WxPayError::MissingSign)?;
    let st = effective_sign_type(fields, configured)?;
    let expected = sign(fields, key, st);
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(WxPayError::SignMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_fields() -> Fields {
        [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn key_is_never_debug_printed() {
        let k = ApiKey::new("192006250b4c09247ec02edce69f6a2d");
        assert!(!format!("{k:?}").contains("1920"));
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = ApiKey::new("k");
        let mut f = doc_fields();
        f.insert("body".into(), "腾讯充值中心-QQ会员充值".into());
        sign_fields(&mut f, &key, SignType::HmacSha256).expect("known sign type");
        verify(&f, &key, SignType::HmacSha256).expect("valid");
        // The configured type matters when the body carries no sign_type.
        assert_eq!(
            verify(&f, &key, SignType::Md5),
            Err(WxPayError::SignMismatch)
        );
        f.insert("body".into(), "x".into());
        assert_eq!(
            verify(&f, &key, SignType::HmacSha256),
            Err(WxPayError::SignMismatch)
        );
    }

    #[test]
    fn body_sign_type_is_signed_and_picks_the_algorithm() {
        let key = ApiKey::new("k");
        let mut f = doc_fields();
        f.insert("sign_type".into(), "HMAC-SHA256".into());
        sign_fields(&mut f, &key, SignType::Md5).expect("known");
        assert_eq!(f["sign"].len(), 64);
        verify(&f, &key, SignType::Md5).expect("body's sign_type wins");
        f.insert("sign_type".into(), "MD5".into());
        assert_eq!(
            verify(&f, &key, SignType::Md5),
            Err(WxPayError::SignMismatch)
        );
        f.insert("sign_type".into(), "RSA".into());
        assert!(matches!(
            verify(&f, &key, SignType::Md5),
            Err(WxPayError::UnsupportedSignType(_))
        ));
    }

    #[test]
    fn missing_sign_is_never_trusted() {
        let mut f = doc_fields();
        f.insert("return_code".into(), "FAIL".into());
        assert_eq!(
            verify(&f, &ApiKey::new("k"), SignType::Md5),
            Err(WxPayError::MissingSign)
        );
        f.insert("sign".into(), String::new());
        assert_eq!(
            verify(&f, &ApiKey::new("k"), SignType::Md5),
            Err(WxPayError::MissingSign)
        );
    }

    #[test]
    fn masked_string_hides_the_key() {
        let s = string_to_sign_masked(&doc_fields());
        assert!(s.ends_with("&key=********"));
        assert!(s.starts_with("appid=wxd930ea5d5a258f4f&body=test&"));
    }
}
