//! The async WeChat Pay v2 and login client, and the v3 client ([`v3`]).
//!
//! Every pay response is parsed by the strict parser of `paylog_core::wxpay` and
//! its sign verified before any field is used; a FAIL without a sign is reported
//! as a communication error and nothing in it is trusted.
//!
//! Retries: each attempt has a timeout; transport errors (connect, timeout, reset)
//! are retried a bounded number of times with back-off, resending the *same*
//! signed body. That is safe for every pay call: queries and close are
//! idempotent, a refund is keyed by `out_refund_no`, and WeChat answers a repeated
//! `unifiedorder` with identical parameters for the same `out_trade_no` with the
//! same `prepay_id` (the simulator does too). Login is never retried: a `js_code`
//! is single-use, so a retry after a lost answer would only earn `40163`.
//! WeChat-level failures (`SYSTEMERROR` …) are returned, not retried, so the
//! caller decides.

mod bill;
mod config;
mod error;
mod login;
mod pay;
mod shipping;
mod token;
pub mod v3;

use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_core::wxpay::{
    Fields, Merchant, PayNotify, RequestPayment, SignType, WxPayError, parse_xml, verify_response,
};
use rand::Rng;
use rand::distr::Alphanumeric;

pub use bill::{BillCompression, MAX_BILL_DOWNLOAD_BYTES};
pub use config::{
    ClientIdentity, DEFAULT_API_URL, DEFAULT_PAY_URL, IdentityError, WechatConfig,
    is_wechat_pay_endpoint,
};
pub use error::WechatError;
pub use login::WxSession;
pub use pay::{RefundRequest, UnifiedOrderRequest};
pub use token::{MAX_TOKEN_LIFETIME, TOKEN_REFRESH_MARGIN};
pub use v3::{WechatV3Client, WechatV3Config};

/// A cloneable handle to WeChat (cheap: the HTTP client is reference-counted).
#[derive(Debug, Clone)]
pub struct WechatClient {
    config: WechatConfig,
    merchant: Merchant,
    http: reqwest::Client,
    /// The mini-program's access token, shared by every clone.
    tokens: std::sync::Arc<token::TokenCache>,
    /// The same client presenting the merchant's certificate, for the calls that
    /// need it (`secapi/…`); `None` without a certificate (the simulator).
    cert_http: Option<reqwest::Client>,
}

/// Which HTTP client a call goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// Plain HTTPS: every call but the `secapi/` ones.
    Plain,
    /// With the merchant's client certificate when one is configured.
    ClientCert,
}

/// A fresh 32-character alphanumeric nonce.
pub fn nonce() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

impl WechatClient {
    pub fn new(config: WechatConfig) -> Result<Self, WechatError> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(config.timeout)
        };
        let http = builder()
            .build()
            .map_err(|e| WechatError::Setup(e.to_string()))?;
        // Built now, so a certificate that does not load (or whose key is not the
        // certificate's) stops start-up instead of the first refund.
        let cert_http = match &config.client_identity {
            Some(identity) => {
                let id = identity
                    .to_reqwest()
                    .map_err(|e| WechatError::Setup(format!("client certificate: {e}")))?;
                Some(
                    builder()
                        .identity(id)
                        .build()
                        .map_err(|e| WechatError::Setup(format!("client certificate: {e}")))?,
                )
            }
            None => None,
        };
        let merchant = config.merchant();
        Ok(Self {
            config,
            merchant,
            http,
            cert_http,
            tokens: std::sync::Arc::default(),
        })
    }

    pub fn config(&self) -> &WechatConfig {
        &self.config
    }

    /// The merchant identity used to verify notifies (`PayNotify::parse(body, client.merchant())`).
    pub fn merchant(&self) -> &Merchant {
        &self.merchant
    }

    /// Parses and verifies a payment notify under the configured sign-type policy
    /// (`PAYLOG_WECHAT_SIGN_TYPE`): a notify naming another sign type than the
    /// configured one is refused even when its sign is right, unless the policy is
    /// `either` (migration), which then also tries the other algorithm on a notify
    /// that names none.
    pub fn parse_pay_notify(&self, body: &str) -> Result<PayNotify, WxPayError> {
        let fields = parse_xml(body)?;
        let named = fields
            .get("sign_type")
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<SignType>())
            .transpose()?;
        let configured = self.merchant.sign_type;
        if !self.config.accept_either_sign_type {
            if let Some(named) = named
                && named != configured
            {
                return Err(WxPayError::UnsupportedSignType(format!(
                    "{named} (the configured policy accepts only {configured})"
                )));
            }
            return PayNotify::parse(body, &self.merchant);
        }
        match PayNotify::parse(body, &self.merchant) {
            Err(WxPayError::SignMismatch) if named.is_none() => {
                let mut other = self.merchant.clone();
                other.sign_type = match configured {
                    SignType::Md5 => SignType::HmacSha256,
                    SignType::HmacSha256 => SignType::Md5,
                };
                PayNotify::parse(body, &other)
            }
            answer => answer,
        }
    }

    /// The signed `wx.requestPayment` parameters for a prepay id, at `now`.
    pub fn request_payment(&self, prepay_id: &str, now: DateTime<Utc>) -> RequestPayment {
        let m = &self.merchant;
        RequestPayment::new(
            &m.appid,
            prepay_id,
            now.timestamp(),
            &nonce(),
            m.sign_type,
            &m.key,
        )
    }

    /// Signs `fields`, POSTs them to `path` of the pay API with bounded retries on
    /// transport errors, and returns the verified response fields.
    async fn call(&self, path: &str, fields: Fields, tls: Tls) -> Result<Fields, WechatError> {
        let body = self.merchant.signed_request(fields, &nonce())?;
        let url = format!("{}{path}", self.config.pay_url);
        let http = match (tls, &self.cert_http) {
            (Tls::ClientCert, Some(cert_http)) => cert_http,
            _ => &self.http,
        };
        let text = self.post_with_retries(http, &url, body).await?;
        Ok(verify_response(&text, &self.merchant)?)
    }

    async fn post_with_retries(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: String,
    ) -> Result<String, WechatError> {
        let mut attempt = 0u32;
        loop {
            match Self::post_once(http, url, body.clone()).await {
                Err(WechatError::Transport(e)) if attempt < self.config.max_retries => {
                    tracing::warn!(url, attempt, error = %e, "WeChat call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn post_once(
        http: &reqwest::Client,
        url: &str,
        body: String,
    ) -> Result<String, WechatError> {
        answer_text(
            http.post(url)
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .body(body),
        )
        .await
    }
}

/// Sends `req` and reads the answer's body as text, the one way every text-answering
/// WeChat call does it: a failure to connect, send or read is
/// [`WechatError::Transport`] (what callers that may retry retry), a non-2xx status
/// [`WechatError::Status`].
pub(crate) async fn answer_text(req: reqwest::RequestBuilder) -> Result<String, WechatError> {
    let resp = req.send().await.map_err(WechatError::transport)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(WechatError::Status(status.as_u16()));
    }
    resp.text().await.map_err(WechatError::transport)
}
