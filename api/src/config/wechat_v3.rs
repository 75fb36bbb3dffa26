//! WeChat Pay API v3 settings: which API new payments use, the merchant's key
//! and certificate serial, the APIv3 key, and the keys WeChat's signatures are
//! checked with (the WeChat Pay public key and/or platform certificates).
//!
//! Every credential is loaded and checked at start-up ([`WechatV3Args::merchant`])
//! so that a wrong one is a one-line error naming the setting and the reason,
//! never a "签名错误" or an AES-GCM tag mismatch at the first payment.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use paylog_core::payment_refs::PayApi;
use paylog_core::wxpay_v3::{
    ApiV3Key, CertificateSerial, CertificateStore, MerchantSigner, MerchantV3, PlatformCertificate,
    PublicKeyId, RsaSigningKey, RsaVerifyingKey, Verifier, WechatPayPublicKey,
};
use secrecy::{ExposeSecret, SecretString};

/// Largest key or certificate file read (a PEM is a few KiB).
pub const MAX_PEM_FILE_BYTES: u64 = 64 * 1024;

/// `PAYLOG_WECHAT_PAY_VERSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PayVersionArg {
    #[default]
    V2,
    V3,
}

impl PayVersionArg {
    pub fn api(self) -> PayApi {
        match self {
            Self::V2 => PayApi::V2,
            Self::V3 => PayApi::V3,
        }
    }
}

#[derive(Debug, Clone, Args, Default)]
pub struct WechatV3Args {
    /// The API new payments are opened on: `v2` or `v3`. Orders prepaid on the
    /// other one stay on it (queries, close, refunds).
    #[arg(
        long = "wechat-pay-version",
        env = "PAYLOG_WECHAT_PAY_VERSION",
        value_enum,
        default_value_t = PayVersionArg::V2
    )]
    pub pay_version: PayVersionArg,
    /// v3: the merchant API private key (`apiclient_key.pem`), a PEM file path.
    #[arg(long = "wechat-mch-private-key", env = "PAYLOG_WECHAT_MCH_PRIVATE_KEY")]
    pub mch_private_key: Option<PathBuf>,
    /// v3: the serial of the merchant API certificate (40 hex digits).
    #[arg(long = "wechat-mch-serial", env = "PAYLOG_WECHAT_MCH_SERIAL")]
    pub mch_serial: Option<String>,
    /// v3: the APIv3 key (32 bytes; not the v2 API key).
    #[arg(
        long = "wechat-apiv3-key",
        env = "PAYLOG_WECHAT_APIV3_KEY",
        hide_env_values = true
    )]
    pub apiv3_key: Option<SecretString>,
    /// v3: the WeChat Pay public key (`pub_key.pem`), a PEM file path.
    #[arg(long = "wechat-public-key", env = "PAYLOG_WECHAT_PUBLIC_KEY")]
    pub public_key: Option<PathBuf>,
    /// v3: the id of the WeChat Pay public key (`PUB_KEY_ID_…`).
    #[arg(long = "wechat-public-key-id", env = "PAYLOG_WECHAT_PUBLIC_KEY_ID")]
    pub public_key_id: Option<String>,
    /// v3: platform certificates (PEM file paths, comma-separated), for merchants
    /// still on platform certificates or switching to the public key.
    #[arg(
        long = "wechat-platform-certificate",
        env = "PAYLOG_WECHAT_PLATFORM_CERTIFICATES",
        value_delimiter = ','
    )]
    pub platform_certificates: Vec<PathBuf>,
    /// v3: download the platform certificates from `/v3/certificates` (at
    /// start-up, then again before they expire), beside any configured ones.
    #[arg(
        long = "wechat-download-platform-certificates",
        env = "PAYLOG_WECHAT_DOWNLOAD_PLATFORM_CERTIFICATES"
    )]
    pub download_platform_certificates: bool,
    /// v3: where WeChat delivers payment notifies; default: `PAYLOG_NOTIFY_URL`
    /// followed by `/v3`.
    #[arg(long = "v3-notify-url", env = "PAYLOG_V3_NOTIFY_URL")]
    pub v3_notify_url: Option<String>,
}

impl WechatV3Args {
    /// Whether any v3 credential is set.
    pub fn any_set(&self) -> bool {
        self.mch_private_key.is_some()
            || self.mch_serial.is_some()
            || self.apiv3_key.is_some()
            || self.public_key.is_some()
            || self.public_key_id.is_some()
            || !self.platform_certificates.is_empty()
            || self.download_platform_certificates
    }

    /// Loads and checks the v3 merchant, or `None` when v3 is neither selected
    /// nor configured. `appid`, `mchid` and `v2_api_key` are the v2 settings
    /// (the v2 key only to refuse it as the APIv3 key). One-line errors.
    pub fn merchant(
        &self,
        appid: Option<&str>,
        mchid: Option<&str>,
        v2_api_key: Option<&SecretString>,
    ) -> Result<Option<MerchantV3>, String> {
        if self.pay_version == PayVersionArg::V2 && !self.any_set() {
            return Ok(None);
        }
        let missing: Vec<&str> = [
            ("PAYLOG_WECHAT_APPID", appid.is_none()),
            ("PAYLOG_WECHAT_MCH_ID", mchid.is_none()),
            (
                "PAYLOG_WECHAT_MCH_PRIVATE_KEY",
                self.mch_private_key.is_none(),
            ),
            ("PAYLOG_WECHAT_MCH_SERIAL", self.mch_serial.is_none()),
            ("PAYLOG_WECHAT_APIV3_KEY", self.apiv3_key.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        let (Some(appid), Some(mchid), Some(key_path), Some(serial), Some(apiv3_key)) = (
            appid,
            mchid,
            &self.mch_private_key,
            &self.mch_serial,
            &self.apiv3_key,
        ) else {
            return Err(format!(
                "incomplete WeChat Pay v3 configuration, missing {}",
                missing.join(", ")
            ));
        };
        let key = RsaSigningKey::from_pem(
            "merchant private key",
            &read_pem("PAYLOG_WECHAT_MCH_PRIVATE_KEY", key_path)?,
        )
        .map_err(|e| format!("PAYLOG_WECHAT_MCH_PRIVATE_KEY: {e}"))?;
        let serial = CertificateSerial::parse("merchant certificate serial", serial)
            .map_err(|e| format!("PAYLOG_WECHAT_MCH_SERIAL: {e}"))?;
        let merchant_public = key.verifying_key();
        let signer = MerchantSigner::new(mchid, serial, key)
            .map_err(|e| format!("PAYLOG_WECHAT_MCH_ID: {e}"))?;
        let apiv3 = apiv3_key.expose_secret();
        if v2_api_key.is_some_and(|v2| v2.expose_secret() == apiv3) {
            // Both are 32 characters, so only this comparison can tell; the
            // symptom otherwise is an AES-GCM tag mismatch on every notify.
            return Err(
                "PAYLOG_WECHAT_APIV3_KEY is the v2 API key (PAYLOG_WECHAT_API_KEY); \
                        set the APIv3 key from 商户平台 → API安全 → APIv3密钥"
                    .to_owned(),
            );
        }
        let apiv3_key =
            ApiV3Key::new(apiv3.as_bytes()).map_err(|e| format!("PAYLOG_WECHAT_APIV3_KEY: {e}"))?;
        let public_key = match (&self.public_key, &self.public_key_id) {
            (Some(path), Some(id)) => {
                let key = RsaVerifyingKey::from_pem(
                    "WeChat Pay public key",
                    &read_pem("PAYLOG_WECHAT_PUBLIC_KEY", path)?,
                )
                .map_err(|e| format!("PAYLOG_WECHAT_PUBLIC_KEY: {e}"))?;
                if key == merchant_public {
                    return Err(
                        "PAYLOG_WECHAT_PUBLIC_KEY is the merchant's own public key (of \
                                PAYLOG_WECHAT_MCH_PRIVATE_KEY), not the WeChat Pay public key \
                                (商户平台 → API安全 → 微信支付公钥)"
                            .to_owned(),
                    );
                }
                let id = PublicKeyId::parse(id)
                    .map_err(|e| format!("PAYLOG_WECHAT_PUBLIC_KEY_ID: {e}"))?;
                Some(WechatPayPublicKey { id, key })
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(
                    "PAYLOG_WECHAT_PUBLIC_KEY needs PAYLOG_WECHAT_PUBLIC_KEY_ID \
                            (the PUB_KEY_ID_… shown next to the key)"
                        .to_owned(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "PAYLOG_WECHAT_PUBLIC_KEY_ID needs PAYLOG_WECHAT_PUBLIC_KEY \
                            (the pub_key.pem file)"
                        .to_owned(),
                );
            }
        };
        let mut certificates = CertificateStore::default();
        for path in &self.platform_certificates {
            let cert = PlatformCertificate::from_pem(&read_pem(
                "PAYLOG_WECHAT_PLATFORM_CERTIFICATES",
                path,
            )?)
            .map_err(|e| {
                format!(
                    "PAYLOG_WECHAT_PLATFORM_CERTIFICATES ({}): {e}",
                    path.display()
                )
            })?;
            certificates
                .insert(cert)
                .map_err(|e| format!("PAYLOG_WECHAT_PLATFORM_CERTIFICATES: {e}"))?;
        }
        let verifier = match (public_key, certificates.is_empty()) {
            (Some(pk), true) => Verifier::with_public_key(pk),
            (Some(pk), false) => Verifier::with_both(pk, certificates),
            (None, false) => Verifier::with_certificates(certificates),
            // Filled at start-up from /v3/certificates.
            (None, true) if self.download_platform_certificates => Verifier::default(),
            (None, true) => {
                return Err(
                    "WeChat Pay v3 needs PAYLOG_WECHAT_PUBLIC_KEY + PAYLOG_WECHAT_PUBLIC_KEY_ID \
                            (public-key mode) or PAYLOG_WECHAT_PLATFORM_CERTIFICATES / \
                            PAYLOG_WECHAT_DOWNLOAD_PLATFORM_CERTIFICATES to verify WeChat"
                        .to_owned(),
                );
            }
        };
        Ok(Some(MerchantV3 {
            appid: appid.to_owned(),
            signer,
            apiv3_key,
            verifier,
        }))
    }
}

/// Reads a PEM file, bounded; the error names the setting and the path, never
/// the content.
pub(crate) fn read_pem(setting: &str, path: &Path) -> Result<String, String> {
    let too_big = std::fs::metadata(path)
        .map_err(|e| format!("{setting}: cannot read {}: {e}", path.display()))?
        .len()
        > MAX_PEM_FILE_BYTES;
    if too_big {
        return Err(format!(
            "{setting}: {} is over {MAX_PEM_FILE_BYTES} bytes; expected a PEM file",
            path.display()
        ));
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("{setting}: cannot read {}: {e}", path.display()))
}
