//! WeChat Pay API v3 protocol: RSA-signed JSON, WeChat's signatures checked by
//! serial, AES-GCM resources, `wx.requestPayment` on RSA (pure).
//!
//! Nothing here does I/O, reads a clock or draws randomness: timestamps, nonces
//! and "now" are parameters. The client, the simulator and the toolbox call in.
//!
//! Map of the module:
//! - [`keys`]: [`RsaSigningKey`] (merchant private key, PKCS#8 or PKCS#1 PEM, never
//!   in `Debug`), [`RsaVerifyingKey`], [`ApiV3Key`] (exactly 32 bytes, never in
//!   `Debug`), [`CertificateSerial`] (hex, compared case-insensitively),
//!   [`PublicKeyId`] (`PUB_KEY_ID_…`, compared exactly);
//! - [`sign`]: requests — [`MerchantSigner::sign_request`] over
//!   `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`, the [`Authorization`] header (built
//!   and parsed), [`MerchantSigner::sign_json`] (serialise once, sign, send those
//!   bytes), [`verify_request`] for the simulator;
//! - [`verify`]: responses and notifies — [`WechatpayHeaders`], the [`Verifier`]
//!   that picks the key by `Wechatpay-Serial` (public key, platform certificates,
//!   or both during a switch-over) and checks `TIMESTAMP\nNONCE\nBODY\n` over the
//!   bytes as received within [`MAX_CLOCK_SKEW_SECS`]; [`sign_response`] for the
//!   simulator;
//! - [`aead`]: [`EncryptedResource`] (`AEAD_AES_256_GCM`, decrypt and encrypt);
//! - [`notify`]: the envelope, [`decrypt_notify`] into typed `TRANSACTION.SUCCESS`
//!   and `REFUND.SUCCESS`/`ABNORMAL`/`CLOSED` payloads, [`seal_notify`];
//! - [`pay_params`]: [`MiniProgramPayParams`] (`signType=RSA`, `paySign`);
//! - [`certificates`]: `/v3/certificates` decrypted into [`PlatformCertificate`]s
//!   kept by serial with their validity ([`CertificateStore`]);
//! - [`api`]: typed bodies and paths of prepay, queries, close, refund, refund
//!   query and trade bill (SHA1 of the file).
//!
//! Decisions worth knowing:
//! - An unsigned or unverifiable answer is never trusted; only the bill file
//!   behind a `download_url` is unsigned, and its SHA1 is checked instead.
//! - Every error is one line that names the failing header, key or setting.

pub mod aead;
pub mod api;
pub mod certificates;
mod error;
pub mod keys;
pub mod notify;
pub mod pay_params;
pub mod sign;
pub mod verify;

pub use aead::EncryptedResource;
pub use certificates::{CertificateStore, CertificatesResponse, PlatformCertificate};
pub use error::WxPayV3Error;
pub use keys::{ApiV3Key, CertificateSerial, PublicKeyId, RsaSigningKey, RsaVerifyingKey};
pub use notify::{DecryptedNotify, NotifyEventType, NotifyPayload, decrypt_notify, seal_notify};
pub use pay_params::MiniProgramPayParams;
pub use sign::{Authorization, MerchantSigner, SignedJson, SignedRequest, verify_request};
pub use verify::{
    MAX_CLOCK_SKEW_SECS, VerifiedBy, Verifier, WechatPayPublicKey, WechatpayHeaders, sign_response,
};

/// The one signature scheme of API v3 (`Authorization` scheme and
/// `Wechatpay-Signature-Type`).
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";

/// Everything a v3 merchant is configured with, checked when built.
#[derive(Debug, Clone)]
pub struct MerchantV3 {
    pub appid: String,
    pub signer: MerchantSigner,
    pub apiv3_key: ApiV3Key,
    pub verifier: Verifier,
}

impl MerchantV3 {
    /// Refuses a payload addressed to another appid or merchant.
    pub fn check(&self, appid: &str, mchid: &str) -> Result<(), WxPayV3Error> {
        if appid == self.appid && mchid == self.signer.mchid() {
            Ok(())
        } else {
            Err(WxPayV3Error::InvalidIdentifier {
                what: "appid/mchid of the payload",
                value: keys::truncate(&format!("{appid}/{mchid}")),
                expected: "this merchant's appid and mchid",
            })
        }
    }
}

/// Standard base64 (with padding), the encoding of every v3 signature and
/// ciphertext.
mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub(crate) fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    pub(crate) fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(text)
    }
}
