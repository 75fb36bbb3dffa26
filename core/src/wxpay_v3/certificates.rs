//! Platform certificates (平台证书): the `/v3/certificates` answer decrypted with
//! the APIv3 key, parsed, and kept by serial with their validity, so that a
//! caller can refresh them before they expire.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use super::WxPayV3Error;
use super::aead::EncryptedResource;
use super::keys::{ApiV3Key, CertificateSerial, RsaVerifyingKey};

/// At most this many platform certificates are kept (WeChat lists one, two while
/// it rotates them).
pub const MAX_PLATFORM_CERTIFICATES: usize = 16;
/// Longest certificate PEM accepted.
pub const MAX_CERTIFICATE_PEM_BYTES: usize = 16 * 1024;

/// One parsed platform certificate: its serial, validity and RSA public key.
#[derive(Debug, Clone)]
pub struct PlatformCertificate {
    pub serial: CertificateSerial,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub key: RsaVerifyingKey,
}

impl PlatformCertificate {
    /// Parses a PEM certificate (`BEGIN CERTIFICATE`). Its own signature is not
    /// checked: the certificate arrives inside a resource only the holder of the
    /// APIv3 key could have encrypted, or from the merchant's configuration.
    pub fn from_pem(pem: &str) -> Result<Self, WxPayV3Error> {
        if pem.len() > MAX_CERTIFICATE_PEM_BYTES {
            return Err(WxPayV3Error::TooLarge {
                what: "platform certificate PEM",
                size_bytes: pem.len(),
                limit_bytes: MAX_CERTIFICATE_PEM_BYTES,
            });
        }
        let cert = Certificate::from_pem(pem.trim().as_bytes())
            .map_err(|e| WxPayV3Error::CertificateParse(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let serial = CertificateSerial::from_der_bytes(tbs.serial_number.as_bytes())?;
        let not_before = to_utc(tbs.validity.not_before.to_unix_duration())?;
        let not_after = to_utc(tbs.validity.not_after.to_unix_duration())?;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| WxPayV3Error::CertificateParse(e.to_string()))?;
        let rsa = RsaPublicKey::from_public_key_der(&spki).map_err(|e| {
            WxPayV3Error::CertificateParse(format!("its public key is not RSA: {e}"))
        })?;
        let key = RsaVerifyingKey::from_rsa("platform certificate key", rsa)?;
        Ok(Self {
            serial,
            not_before,
            not_after,
            key,
        })
    }

    /// Refuses a certificate outside its validity period at `now`.
    pub fn check_valid_at(&self, now: DateTime<Utc>) -> Result<(), WxPayV3Error> {
        if now < self.not_before || now > self.not_after {
            return Err(WxPayV3Error::CertificateNotValidNow {
                serial: self.serial.to_string(),
                not_before: self.not_before.to_rfc3339(),
                not_after: self.not_after.to_rfc3339(),
                now: now.to_rfc3339(),
            });
        }
        Ok(())
    }
}

fn to_utc(since_epoch: std::time::Duration) -> Result<DateTime<Utc>, WxPayV3Error> {
    i64::try_from(since_epoch.as_secs())
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| WxPayV3Error::CertificateParse("validity out of range".to_owned()))
}

/// Platform certificates by serial.
#[derive(Debug, Clone, Default)]
pub struct CertificateStore {
    by_serial: BTreeMap<CertificateSerial, PlatformCertificate>,
}

impl CertificateStore {
    /// Adds or replaces (same serial) a certificate.
    pub fn insert(&mut self, cert: PlatformCertificate) -> Result<(), WxPayV3Error> {
        if !self.by_serial.contains_key(&cert.serial)
            && self.by_serial.len() >= MAX_PLATFORM_CERTIFICATES
        {
            return Err(WxPayV3Error::TooManyCertificates {
                limit: MAX_PLATFORM_CERTIFICATES,
            });
        }
        self.by_serial.insert(cert.serial.clone(), cert);
        Ok(())
    }

    pub fn get(&self, serial: &CertificateSerial) -> Option<&PlatformCertificate> {
        self.by_serial.get(serial)
    }

    pub fn len(&self) -> usize {
        self.by_serial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_serial.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &PlatformCertificate> {
        self.by_serial.values()
    }

    /// The latest expiry among the certificates, if any: refresh before
    /// `not_after - margin` (WeChat publishes the next certificate well before).
    pub fn latest_expiry(&self) -> Option<DateTime<Utc>> {
        self.by_serial.values().map(|c| c.not_after).max()
    }

    /// True when no certificate stays valid until `now + margin`: time to call
    /// `/v3/certificates` again.
    pub fn needs_refresh(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        match now.checked_add_signed(margin) {
            Some(horizon) => !self
                .by_serial
                .values()
                .any(|c| c.not_before <= now && c.not_after > horizon),
            None => true,
        }
    }

    /// Drops certificates that expired before `now`.
    pub fn remove_expired(&mut self, now: DateTime<Utc>) {
        self.by_serial.retain(|_, c| c.not_after >= now);
    }

    /// A short list for error messages: serials only.
    pub(crate) fn describe(&self) -> String {
        if self.by_serial.is_empty() {
            "none loaded".to_owned()
        } else {
            self.by_serial
                .keys()
                .map(CertificateSerial::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// The body of `GET /v3/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatesResponse {
    pub data: Vec<CertificateEntry>,
}

/// One entry of `/v3/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEntry {
    pub serial_no: String,
    pub effective_time: DateTime<FixedOffset>,
    pub expire_time: DateTime<FixedOffset>,
    pub encrypt_certificate: EncryptedResource,
}

impl CertificatesResponse {
    /// Decrypts and parses every certificate. Each must carry the serial its
    /// entry lists: a mismatch means the answer was tampered with or mixed up.
    pub fn decrypt(&self, key: &ApiV3Key) -> Result<Vec<PlatformCertificate>, WxPayV3Error> {
        if self.data.len() > MAX_PLATFORM_CERTIFICATES {
            return Err(WxPayV3Error::TooManyCertificates {
                limit: MAX_PLATFORM_CERTIFICATES,
            });
        }
        self.data
            .iter()
            .map(|entry| {
                let pem = entry.encrypt_certificate.decrypt_utf8(key)?;
                let cert = PlatformCertificate::from_pem(&pem)?;
                let listed =
                    CertificateSerial::parse("/v3/certificates serial_no", &entry.serial_no)?;
                if listed != cert.serial {
                    return Err(WxPayV3Error::CertificateSerialMismatch {
                        listed: listed.to_string(),
                        actual: cert.serial.to_string(),
                    });
                }
                Ok(cert)
            })
            .collect()
    }
}
