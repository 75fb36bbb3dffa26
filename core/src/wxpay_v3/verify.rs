//! Verifying WeChat: the `Wechatpay-*` headers of every response and notify,
//! checked over `TIMESTAMP\nNONCE\nBODY\n` of the exact bytes received, with the
//! key that `Wechatpay-Serial` names. Also the signing side, for the simulator.

use chrono::{DateTime, Utc};

use super::certificates::CertificateStore;
use super::keys::{CertificateSerial, PublicKeyId, RsaSigningKey, RsaVerifyingKey, truncate};
use super::{SIGNATURE_TYPE, WxPayV3Error};

pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";

/// A response or notify dated further than this from `now` is refused (WeChat's
/// SDKs use the same five minutes).
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Longest `Wechatpay-*` header value accepted (a 4096-bit signature is 684 base64 chars).
pub const MAX_HEADER_BYTES: usize = 1024;
/// WeChat sends responses signed with this prefix to check that the merchant
/// refuses what it cannot verify (签名探测).
pub const SIGNATURE_PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// The five `Wechatpay-*` headers of a response or notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatpayHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub serial: String,
    /// `Wechatpay-Signature-Type`; WeChat does not always send it.
    pub signature_type: Option<String>,
}

impl WechatpayHeaders {
    /// Reads the headers through `get`, which looks a header up by name (HTTP
    /// header names are case-insensitive; `http::HeaderMap` handles that). A
    /// missing or empty header is an error naming it.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, WxPayV3Error> {
        let required = |name: &'static str| -> Result<String, WxPayV3Error> {
            let value = get(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or(WxPayV3Error::MissingHeader(name))?;
            check_len(name, value)?;
            Ok(value.to_owned())
        };
        let signature_type = match get(HEADER_SIGNATURE_TYPE).map(str::trim) {
            Some(v) if !v.is_empty() => {
                check_len(HEADER_SIGNATURE_TYPE, v)?;
                Some(v.to_owned())
            }
            _ => None,
        };
        Ok(Self {
            timestamp: required(HEADER_TIMESTAMP)?,
            nonce: required(HEADER_NONCE)?,
            signature: required(HEADER_SIGNATURE)?,
            serial: required(HEADER_SERIAL)?,
            signature_type,
        })
    }

    /// The headers as `(name, value)` pairs, for the simulator to send.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_SERIAL, self.serial.clone()),
        ];
        if let Some(t) = &self.signature_type {
            pairs.push((HEADER_SIGNATURE_TYPE, t.clone()));
        }
        pairs
    }
}

fn check_len(header: &'static str, value: &str) -> Result<(), WxPayV3Error> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(WxPayV3Error::HeaderTooLong {
            header,
            len_bytes: value.len(),
            limit_bytes: MAX_HEADER_BYTES,
        });
    }
    Ok(())
}

/// `TIMESTAMP\nNONCE\nBODY\n` over the body's bytes exactly as received.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(nonce.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The WeChat Pay public key and its id (public-key mode, 微信支付公钥).
#[derive(Debug, Clone)]
pub struct WechatPayPublicKey {
    pub id: PublicKeyId,
    pub key: RsaVerifyingKey,
}

/// Which key a signature was verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifiedBy {
    PublicKey(PublicKeyId),
    PlatformCertificate(CertificateSerial),
}

/// The keys WeChat's signatures are checked with: the WeChat Pay public key,
/// platform certificates, or both during a switch-over from certificates to the
/// public key (WeChat then signs with either, and `Wechatpay-Serial` says which).
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    public_key: Option<WechatPayPublicKey>,
    certificates: CertificateStore,
}

impl Verifier {
    /// Public-key mode (every merchant onboarded since late 2024).
    pub fn with_public_key(public_key: WechatPayPublicKey) -> Self {
        Self {
            public_key: Some(public_key),
            certificates: CertificateStore::default(),
        }
    }

    /// Platform-certificate mode.
    pub fn with_certificates(certificates: CertificateStore) -> Self {
        Self {
            public_key: None,
            certificates,
        }
    }

    /// Both, for the switch-over.
    pub fn with_both(public_key: WechatPayPublicKey, certificates: CertificateStore) -> Self {
        Self {
            public_key: Some(public_key),
            certificates,
        }
    }

    pub fn public_key(&self) -> Option<&WechatPayPublicKey> {
        self.public_key.as_ref()
    }

    pub fn certificates(&self) -> &CertificateStore {
        &self.certificates
    }

    /// For refreshing the certificates (`/v3/certificates`) in place.
    pub fn certificates_mut(&mut self) -> &mut CertificateStore {
        &mut self.certificates
    }

    /// The value of the `Wechatpay-Serial` header every request carries in
    /// public-key mode (it tells WeChat which key to sign the answer with).
    pub fn request_serial_header(&self) -> Option<&str> {
        self.public_key.as_ref().map(|p| p.id.as_str())
    }

    /// Picks the key `Wechatpay-Serial` names: exactly the public key id → the
    /// public key; a platform certificate's serial (hex, any case) valid at `now`
    /// → that certificate; anything else is refused.
    pub fn key_for(
        &self,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<(&RsaVerifyingKey, VerifiedBy), WxPayV3Error> {
        if let Some(pk) = &self.public_key
            && serial == pk.id.as_str()
        {
            return Ok((&pk.key, VerifiedBy::PublicKey(pk.id.clone())));
        }
        let cert = CertificateSerial::parse("Wechatpay-Serial", serial)
            .ok()
            .and_then(|s| self.certificates.get(&s));
        match cert {
            Some(cert) => {
                cert.check_valid_at(now)?;
                Ok((
                    &cert.key,
                    VerifiedBy::PlatformCertificate(cert.serial.clone()),
                ))
            }
            None => Err(WxPayV3Error::UnknownSerial {
                serial: truncate(serial),
                public_key_id: self
                    .public_key
                    .as_ref()
                    .map_or_else(|| "none configured".to_owned(), |p| p.id.to_string()),
                certificates: self.certificates.describe(),
            }),
        }
    }

    /// Verifies a response or notify: the signature type, the timestamp within
    /// [`MAX_CLOCK_SKEW_SECS`] of `now`, the key by serial, then the signature over
    /// `body` exactly as received. Only after `Ok` may anything in `body` be read.
    pub fn verify(
        &self,
        headers: &WechatpayHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedBy, WxPayV3Error> {
        if let Some(t) = &headers.signature_type
            && t != SIGNATURE_TYPE
        {
            return Err(WxPayV3Error::UnsupportedSignatureType(truncate(t)));
        }
        check_timestamp(&headers.timestamp, now)?;
        if headers.signature.starts_with(SIGNATURE_PROBE_PREFIX) {
            return Err(WxPayV3Error::SignatureProbe);
        }
        let (key, by) = self.key_for(&headers.serial, now)?;
        let message = response_message(&headers.timestamp, &headers.nonce, body);
        key.verify_base64(&message, &headers.signature, &headers.serial)?;
        Ok(by)
    }
}

/// Refuses a timestamp that is not a number or is more than
/// [`MAX_CLOCK_SKEW_SECS`] away from `now`, in either direction.
pub fn check_timestamp(timestamp: &str, now: DateTime<Utc>) -> Result<i64, WxPayV3Error> {
    let timestamp_secs: i64 = timestamp
        .parse()
        .map_err(|_| WxPayV3Error::BadTimestamp(truncate(timestamp)))?;
    let now_secs = now.timestamp();
    let skew_secs = timestamp_secs.abs_diff(now_secs);
    if skew_secs > MAX_CLOCK_SKEW_SECS {
        return Err(WxPayV3Error::StaleTimestamp {
            timestamp_secs,
            now_secs,
            skew_secs,
            limit_secs: MAX_CLOCK_SKEW_SECS,
        });
    }
    Ok(timestamp_secs)
}

/// WeChat's side (the simulator): signs a response or notify body and returns
/// the headers to send with it. `serial` is the public key id or the platform
/// certificate's serial the key belongs to.
pub fn sign_response(
    key: &RsaSigningKey,
    serial: &str,
    timestamp_secs: i64,
    nonce: &str,
    body: &[u8],
) -> Result<WechatpayHeaders, WxPayV3Error> {
    super::sign::check_nonce(nonce)?;
    let timestamp = timestamp_secs.to_string();
    let signature = key.sign_base64(&response_message(&timestamp, nonce, body))?;
    Ok(WechatpayHeaders {
        timestamp,
        nonce: nonce.to_owned(),
        signature,
        serial: serial.to_owned(),
        signature_type: Some(SIGNATURE_TYPE.to_owned()),
    })
}
