//! `WechatConfig`: who we are at WeChat, where WeChat is, and how patiently we call it.

use std::time::Duration;

use paylog_core::wxpay::{ApiKey, Merchant, SignType};
use secrecy::{ExposeSecret, SecretString};

/// Production WeChat Pay v2 base URL.
pub const DEFAULT_PAY_URL: &str = "https://api.mch.weixin.qq.com";

/// Whether `pay_url` is WeChat Pay itself (any `*.mch.weixin.qq.com` host: the
/// main endpoint and its backup domains), where refunds need the client certificate.
pub fn is_wechat_pay_endpoint(pay_url: &str) -> bool {
    reqwest::Url::parse(pay_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|host| host == "mch.weixin.qq.com" || host.ends_with(".mch.weixin.qq.com"))
}
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
    /// The merchant's API client certificate, presented on `secapi/pay/refund` only
    /// (see [`ClientIdentity`]). WeChat refuses refunds without it; the simulator
    /// does not ask for it.
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

/// The merchant's API client certificate, which WeChat requires on
/// `secapi/pay/refund` (and only there, among the calls this client makes).
///
/// WeChat hands it out as `apiclient_cert.pem` + `apiclient_key.pem` and as
/// `apiclient_cert.p12`, a PKCS#12 file whose password is the merchant id and whose
/// encryption is the legacy `pbeWithSHAAnd40BitRC2-CBC` (certificate) and 3DES (key)
/// that OpenSSL 3 reads only with `-legacy`: [`ClientIdentity::from_pkcs12`] reads it
/// as issued. Either way the identity is kept as one PEM (certificate chain + PKCS#8
/// key), the form reqwest's rustls backend takes.
#[derive(Clone)]
pub struct ClientIdentity {
    pem: SecretString,
}

/// The largest PKCS#12 file read (WeChat's `apiclient_cert.p12` is about 3 KiB).
pub const MAX_PKCS12_BYTES: usize = 64 * 1024;
/// The most MAC iterations a PKCS#12 file may ask for (WeChat's and OpenSSL's: 2048).
pub const MAX_PKCS12_ITERATIONS: u32 = 100_000;

/// Why a client certificate could not be loaded. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdentityError(String);

impl ClientIdentity {
    /// Wraps PEM text holding a certificate and its PKCS#8 or RSA private key.
    pub fn from_pem(pem: SecretString) -> Self {
        Self { pem }
    }

    /// The certificate (chain) PEM and the private key PEM, as two files hold them.
    /// Checks that the first holds a certificate and the second a private key.
    pub fn from_pem_pair(cert_pem: &str, key_pem: &SecretString) -> Result<Self, IdentityError> {
        if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(IdentityError(
                "the certificate file holds no PEM certificate".into(),
            ));
        }
        let key = key_pem.expose_secret();
        if !key.contains("PRIVATE KEY-----") {
            return Err(IdentityError(
                "the key file holds no PEM private key".into(),
            ));
        }
        let cert = cert_pem.trim_end();
        Self::from_pem(SecretString::from(format!("{cert}\n{key}"))).checked()
    }

    /// A PKCS#12 file (`apiclient_cert.p12`) opened with `password` (WeChat's is the
    /// merchant id). Reads the legacy encryption WeChat issues (RC2-40, 3DES) and
    /// checks the file's MAC, so a wrong password is told apart from a damaged file.
    pub fn from_pkcs12(der: &[u8], password: &SecretString) -> Result<Self, IdentityError> {
        use pem_rfc7468::LineEnding;
        if der.len() > MAX_PKCS12_BYTES {
            return Err(IdentityError(format!(
                "the PKCS#12 file is over {MAX_PKCS12_BYTES} bytes; WeChat's is a few KiB"
            )));
        }
        let pfx =
            p12::PFX::parse(der).map_err(|_| IdentityError("not a PKCS#12 (.p12) file".into()))?;
        let password = password.expose_secret();
        let unsupported = || {
            IdentityError(
                "the PKCS#12 file uses an encryption other than the legacy one WeChat issues \
                 (RC2-40/3DES with a SHA-1 MAC); use the file as downloaded, or the PEM pair"
                    .into(),
            )
        };
        // The reader computes SHA-1 MACs only (what WeChat issues), and its work grows
        // with the file's iteration count: both are checked before it runs.
        match &pfx.mac_data {
            None => return Err(IdentityError("the PKCS#12 file has no MAC".into())),
            Some(mac) if mac.mac.digest_algorithm != p12::AlgorithmIdentifier::Sha1 => {
                return Err(unsupported());
            }
            Some(mac) if mac.iterations > MAX_PKCS12_ITERATIONS => {
                return Err(IdentityError(format!(
                    "the PKCS#12 file asks for {} MAC iterations, over {MAX_PKCS12_ITERATIONS}",
                    mac.iterations
                )));
            }
            Some(_) => {}
        }
        if !pfx.verify_mac(password) {
            return Err(IdentityError(
                "the PKCS#12 password is wrong (WeChat's is the merchant id) or the file is damaged"
                    .into(),
            ));
        }
        let keys = pfx.key_bags(password).map_err(|_| unsupported())?;
        let certs = pfx.cert_x509_bags(password).map_err(|_| unsupported())?;
        let [key] = keys.as_slice() else {
            return Err(if keys.is_empty() {
                unsupported()
            } else {
                IdentityError("the PKCS#12 file holds more than one private key".into())
            });
        };
        if certs.is_empty() {
            return Err(IdentityError(
                "the PKCS#12 file holds no certificate".into(),
            ));
        }
        let mut pem = String::new();
        for cert in &certs {
            let block = pem_rfc7468::encode_string("CERTIFICATE", LineEnding::LF, cert)
                .map_err(|e| IdentityError(format!("encoding the certificate: {e}")))?;
            pem.push_str(&block);
        }
        let key = pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, key)
            .map_err(|_| IdentityError("encoding the private key failed".into()))?;
        pem.push_str(&key);
        Self::from_pem(SecretString::from(pem)).checked()
    }

    /// The identity if TLS can use it: the key parses and is the certificate's
    /// (rustls checks both when a client is built with it).
    fn checked(self) -> Result<Self, IdentityError> {
        let identity = self
            .to_reqwest()
            .map_err(|e| IdentityError(format!("unusable certificate or key: {e}")))?;
        reqwest::Client::builder()
            .identity(identity)
            .build()
            .map_err(|e| IdentityError(format!("unusable certificate or key: {e}")))?;
        Ok(self)
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
