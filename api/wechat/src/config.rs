//! `WechatConfig`: who we are at WeChat, where WeChat is, and how patiently we call it.

use std::time::Duration;

use paylog_core::wxpay::{ApiKey, Merchant, SignType};
use secrecy::{ExposeSecret, SecretString};

/// Production WeChat Pay v2 base URL.
pub const DEFAULT_PAY_URL: &str = "https://api.mch.weixin.qq.com";
/// Production WeChat open-platform base URL (login).
pub const DEFAULT_API_URL: &str = "https://api.weixin.qq.com";

/// Everything the client needs. Secrets are wrapped so `Debug` never shows them.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// The mini-program's appid (also the pay appid).
    pub appid: String,
    pub mch_id: String,
    /// The merchant platform's API v2 key (32 characters).
    pub api_key: SecretString,
    /// The mini-program's AppSecret, for `jscode2session`.
    pub app_secret: SecretString,
    /// How we sign requests and how unsigned-typed responses/notifies are checked.
    pub sign_type: SignType,
    /// Whether a payment notify may be signed with either MD5 or HMAC-SHA256 (the
    /// migration between the two). When false, a notify naming another sign type
    /// than [`WechatConfig::sign_type`] is refused.
    pub accept_either_sign_type: bool,
    /// Base of the pay API, without a trailing slash (the simulator's URL in tests).
    pub pay_url: String,
    /// Base of the login API, without a trailing slash.
    pub api_url: String,
    /// Where WeChat delivers payment notifies.
    pub notify_url: String,
    /// Where WeChat delivers refund notifies; `None` leaves it to the merchant
    /// platform's setting (the simulator then sends none).
    pub refund_notify_url: Option<String>,
    /// The merchant's API client certificate for `secapi/pay/refund`: one PEM
    /// holding the certificate and its private key (see [`ClientIdentity`]).
    pub client_identity: Option<ClientIdentity>,
    /// Timeout of each HTTP attempt.
    pub timeout: Duration,
    /// Extra attempts after a transport error, for idempotent calls.
    pub max_retries: u32,
}

impl WechatConfig {
    /// A config with production URLs and default timeouts.
    pub fn new(
        appid: impl Into<String>,
        mch_id: impl Into<String>,
        api_key: SecretString,
        app_secret: SecretString,
        notify_url: impl Into<String>,
    ) -> Self {
        Self {
            appid: appid.into(),
            mch_id: mch_id.into(),
            api_key,
            app_secret,
            sign_type: SignType::Md5,
            accept_either_sign_type: false,
            pay_url: DEFAULT_PAY_URL.into(),
            api_url: DEFAULT_API_URL.into(),
            notify_url: notify_url.into(),
            refund_notify_url: None,
            client_identity: None,
            timeout: Duration::from_secs(10),
            max_retries: 2,
        }
    }

    /// Points both APIs at one base URL (the simulator serves both).
    pub fn with_base_url(mut self, url: &str) -> Self {
        let url = url.trim_end_matches('/');
        self.pay_url = url.into();
        self.api_url = url.into();
        self
    }

    /// The protocol-level merchant (appid, mch_id, key, sign type).
    pub fn merchant(&self) -> Merchant {
        Merchant {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            key: ApiKey::new(self.api_key.expose_secret()),
            sign_type: self.sign_type,
        }
    }
}

/// The merchant API certificate (`apiclient_cert.pem` + `apiclient_key.pem`),
/// concatenated into one PEM. WeChat hands out `apiclient_cert.p12` too; PKCS#12
/// would need OpenSSL (native-tls), so convert it once:
/// `openssl pkcs12 -in apiclient_cert.p12 -nodes -passin pass:$MCH_ID -out identity.pem`.
#[derive(Clone)]
pub struct ClientIdentity {
    pem: SecretString,
}

impl ClientIdentity {
    /// Wraps PEM text holding a certificate and its PKCS#8 or RSA private key.
    pub fn from_pem(pem: SecretString) -> Self {
        Self { pem }
    }

    pub(crate) fn to_reqwest(&self) -> reqwest::Result<reqwest::Identity> {
        reqwest::Identity::from_pem(self.pem.expose_secret().as_bytes())
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity([REDACTED])")
    }
}
