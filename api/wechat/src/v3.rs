//! The async WeChat Pay API v3 client: RSA-signed JSON requests, every answer
//! verified on the exact bytes received before anything in it is read.
//!
//! The protocol (signing, verification, AES-GCM, typed bodies) is the pure
//! `paylog_core::wxpay_v3`; this module only adds HTTP, the clock, nonces and
//! retries, under the same rules as the v2 client:
//! - each attempt has a timeout; transport errors are retried a bounded number
//!   of times by resending the *same signed request* (WeChat accepts a signature
//!   within five minutes, prepay is idempotent per `out_trade_no` with identical
//!   parameters, a refund per `out_refund_no`, queries and close are idempotent);
//! - a 2xx answer (an empty 204 included) that is unsigned or does not verify is
//!   a [`WechatError::V3`] and nothing in it is trusted;
//! - a 4xx/5xx answer that verifies becomes the same
//!   `WxPayError::Business { code, .. }` the v2 client returns, with WeChat's v3
//!   codes mapped onto [`ErrCode`], so the services decide on one vocabulary; an
//!   unverifiable one is only its HTTP status;
//! - in public-key mode every request carries `Wechatpay-Serial: <public key id>`,
//!   which tells WeChat to sign its answer with that key.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_core::wxpay::bill::{BillDay, BillError, parse_bill};
use paylog_core::wxpay::{ErrCode, WxPayError};
use paylog_core::wxpay_v3::api::{
    BillType, CloseRequest, ErrorBody, JsapiPrepayRequest, NO_STATEMENT_EXIST, PrepayResponse,
    Refund, RefundRequest, TradeBillResponse, Transaction, paths, trade_bill_path,
};
use paylog_core::wxpay_v3::verify::HEADER_SERIAL;
use paylog_core::wxpay_v3::{
    CertificateStore, CertificatesResponse, DecryptedNotify, MerchantV3, MiniProgramPayParams,
    Verifier, WechatpayHeaders, WxPayV3Error, decrypt_notify,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DEFAULT_PAY_URL, WechatError, nonce};

/// Largest answer body read from WeChat (v3 answers are a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Largest bill file downloaded (a day of a busy shop is a few MiB).
pub const MAX_BILL_BYTES: usize = 64 * 1024 * 1024;
/// `User-Agent` sent with every call (WeChat asks for one).
const USER_AGENT: &str = concat!("paylog/", env!("CARGO_PKG_VERSION"));

/// "Now", injected so tests can move time (timestamps of requests, the 300 s
/// window of answers and notifies, certificate validity).
pub type NowFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything the v3 client needs. The merchant private key and the APIv3 key
/// live inside [`MerchantV3`], whose `Debug` redacts them.
#[derive(Debug, Clone)]
pub struct WechatV3Config {
    /// appid, signer (mchid, serial, private key), APIv3 key and the keys
    /// WeChat's signatures are verified with.
    pub merchant: MerchantV3,
    /// Base of the pay API, without a trailing slash (the simulator's URL in tests).
    pub pay_url: String,
    /// Where WeChat delivers payment notifies (`…/v1/wechat/pay/notify/v3`).
    pub notify_url: String,
    /// Where WeChat delivers refund notifies; `None` leaves it to the merchant
    /// platform's setting.
    pub refund_notify_url: Option<String>,
    /// Timeout of each HTTP attempt.
    pub timeout: Duration,
    /// Extra attempts after a transport error.
    pub max_retries: u32,
}

impl WechatV3Config {
    /// Production URL and the v2 client's default timeouts.
    pub fn new(merchant: MerchantV3, notify_url: impl Into<String>) -> Self {
        Self {
            merchant,
            pay_url: DEFAULT_PAY_URL.into(),
            notify_url: notify_url.into(),
            refund_notify_url: None,
            timeout: Duration::from_secs(10),
            max_retries: 2,
        }
    }

    pub fn with_base_url(mut self, url: &str) -> Self {
        self.pay_url = url.trim_end_matches('/').into();
        self
    }
}

/// A cloneable handle to WeChat Pay v3.
#[derive(Clone)]
pub struct WechatV3Client {
    config: Arc<WechatV3Config>,
    http: reqwest::Client,
    now: NowFn,
    /// Platform certificates downloaded from `/v3/certificates`, beside the
    /// configured public key and certificates (shared by every clone).
    downloaded: Arc<RwLock<CertificateStore>>,
}

impl fmt::Debug for WechatV3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatV3Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A verified answer: its status and body bytes exactly as received.
struct Verified {
    status: u16,
    body: Vec<u8>,
}

impl WechatV3Client {
    /// A client on the system clock.
    pub fn new(config: WechatV3Config) -> Result<Self, WechatError> {
        Self::with_clock(config, Arc::new(Utc::now))
    }

    /// A client whose "now" is `now` (the service's clock).
    pub fn with_clock(config: WechatV3Config, now: NowFn) -> Result<Self, WechatError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| WechatError::Setup(e.to_string()))?;
        Ok(Self {
            config: Arc::new(config),
            http,
            now,
            downloaded: Arc::new(RwLock::new(CertificateStore::default())),
        })
    }

    pub fn config(&self) -> &WechatV3Config {
        &self.config
    }

    pub fn merchant(&self) -> &MerchantV3 {
        &self.config.merchant
    }

    fn mchid(&self) -> &str {
        self.config.merchant.signer.mchid()
    }

    /// `POST /v3/pay/transactions/jsapi`; `req.appid`, `mchid` and `notify_url`
    /// are filled from the configuration.
    pub async fn jsapi_prepay(
        &self,
        mut req: JsapiPrepayRequest,
    ) -> Result<PrepayResponse, WechatError> {
        req.appid = self.config.merchant.appid.clone();
        req.mchid = self.mchid().to_owned();
        req.notify_url = self.config.notify_url.clone();
        let answer = self
            .call(Method::POST, paths::JSAPI_PREPAY, Some(&req))
            .await?;
        json(&answer, "prepay answer")
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}`.
    pub async fn query_by_out_trade_no(
        &self,
        out_trade_no: &str,
    ) -> Result<Transaction, WechatError> {
        let path = paths::query_by_out_trade_no(out_trade_no, self.mchid())?;
        let answer = self.call::<()>(Method::GET, &path, None).await?;
        let tx: Transaction = json(&answer, "transaction query answer")?;
        self.check_transaction(&tx)?;
        Ok(tx)
    }

    /// `GET /v3/pay/transactions/id/{transaction_id}`.
    pub async fn query_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Transaction, WechatError> {
        let path = paths::query_by_transaction_id(transaction_id, self.mchid())?;
        let answer = self.call::<()>(Method::GET, &path, None).await?;
        let tx: Transaction = json(&answer, "transaction query answer")?;
        self.check_transaction(&tx)?;
        Ok(tx)
    }

    /// `POST …/out-trade-no/{out_trade_no}/close`: WeChat answers 204, signed too.
    pub async fn close(&self, out_trade_no: &str) -> Result<(), WechatError> {
        let path = paths::close(out_trade_no)?;
        let body = CloseRequest {
            mchid: self.mchid().to_owned(),
        };
        let answer = self.call(Method::POST, &path, Some(&body)).await?;
        if answer.status != 204 && answer.status != 200 {
            return Err(WechatError::BadAnswer(format!(
                "close answered HTTP {} instead of 204",
                answer.status
            )));
        }
        Ok(())
    }

    /// `POST /v3/refund/domestic/refunds`; `notify_url` is filled from the
    /// configuration when the request has none.
    pub async fn refund(&self, mut req: RefundRequest) -> Result<Refund, WechatError> {
        if req.notify_url.is_none() {
            req.notify_url = self.config.refund_notify_url.clone();
        }
        let answer = self.call(Method::POST, paths::REFUNDS, Some(&req)).await?;
        json(&answer, "refund answer")
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
    pub async fn refund_query(&self, out_refund_no: &str) -> Result<Refund, WechatError> {
        let path = paths::refund_query(out_refund_no)?;
        let answer = self.call::<()>(Method::GET, &path, None).await?;
        json(&answer, "refund query answer")
    }

    /// `GET /v3/bill/tradebill`, then the file behind its `download_url`: that
    /// download is signed like any request but its answer is not, so the file
    /// is accepted only if its SHA1 is the `hash_value` of the (verified) bill
    /// answer. The URL must be on the pay API's own origin. Returns the file as
    /// downloaded.
    pub async fn trade_bill(
        &self,
        bill_date: chrono::NaiveDate,
        bill_type: BillType,
    ) -> Result<Vec<u8>, WechatError> {
        let path = trade_bill_path(bill_date, bill_type, false);
        let answer = self.call::<()>(Method::GET, &path, None).await?;
        let bill: TradeBillResponse = json(&answer, "trade bill answer")?;
        let download = bill
            .download_url
            .strip_prefix(self.config.pay_url.as_str())
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| {
                WechatError::BadAnswer("download_url is not on the pay API's origin".into())
            })?
            .to_owned();
        let signed = self.config.merchant.signer.sign_request(
            "GET",
            &download,
            (self.now)().timestamp(),
            &nonce(),
            "",
        )?;
        let url = format!("{}{download}", self.config.pay_url);
        let authorization = signed.authorization.to_string();
        let mut attempt = 0u32;
        let (status, _, file) = loop {
            match self
                .send_once(&Method::GET, &url, &authorization, "", MAX_BILL_BYTES)
                .await
            {
                Err(WechatError::Transport(e)) if attempt < self.config.max_retries => {
                    tracing::warn!(attempt, error = %e, "bill download failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        if status != 200 {
            return Err(WechatError::Status(status));
        }
        bill.check_file(&file)?;
        Ok(file)
    }

    /// The day's `ALL` trade bill read as a bill: the file has the same CSV format
    /// as v2's `downloadbill` (core's `wxpay::bill` reads both), and a day WeChat
    /// has no bill for (`NO_STATEMENT_EXIST`) is [`BillDay::NoBill`], as v2's
    /// `No Bill Exist` is. A malformed file is [`WechatError::Bill`], naming its line.
    pub async fn daily_bill(&self, day: chrono::NaiveDate) -> Result<BillDay, WechatError> {
        let file = match self.trade_bill(day, BillType::All).await {
            Ok(file) => file,
            Err(e) if e.err_code() == Some(&ErrCode::Other(NO_STATEMENT_EXIST.to_owned())) => {
                return Ok(BillDay::NoBill);
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8(file)
            .map_err(|_| BillError::NotABill("the trade bill file is not UTF-8".to_owned()))?;
        Ok(BillDay::Bill(parse_bill(&text)?))
    }

    /// The signed `wx.requestPayment` parameters (`signType=RSA`) for a prepay id.
    pub fn pay_params(&self, prepay_id: &str) -> Result<MiniProgramPayParams, WechatError> {
        let m = &self.config.merchant;
        Ok(MiniProgramPayParams::new(
            &m.appid,
            prepay_id,
            (self.now)().timestamp(),
            &nonce(),
            m.signer.key(),
        )?)
    }

    /// Verifies a notify on its raw body (headers looked up through `get`),
    /// then decrypts it and checks that it is addressed to this merchant.
    pub fn verify_notify<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> Result<DecryptedNotify, WxPayV3Error> {
        let m = &self.config.merchant;
        let headers = WechatpayHeaders::from_lookup(get)?;
        self.verifier().verify(&headers, body, (self.now)())?;
        let notify = decrypt_notify(body, &m.apiv3_key)?;
        match &notify.payload {
            paylog_core::wxpay_v3::NotifyPayload::Transaction(tx) => {
                m.check(&tx.appid, &tx.mchid)?;
            }
            paylog_core::wxpay_v3::NotifyPayload::Refund(r) => {
                if r.mchid != m.signer.mchid() {
                    m.check(&m.appid, &r.mchid)?;
                }
            }
        }
        Ok(notify)
    }

    /// The configured keys plus the downloaded platform certificates: during a
    /// switch-over WeChat signs with either, and `Wechatpay-Serial` says which.
    fn verifier(&self) -> Verifier {
        let mut verifier = self.config.merchant.verifier.clone();
        let downloaded = self.downloaded.read().unwrap_or_else(|p| p.into_inner());
        for cert in downloaded.iter() {
            // Bounded: the downloaded store holds at most as many as one store may.
            if verifier.certificates_mut().insert(cert.clone()).is_err() {
                break;
            }
        }
        verifier
    }

    /// The downloaded platform certificates (a copy).
    pub fn downloaded_certificates(&self) -> CertificateStore {
        self.downloaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether `/v3/certificates` should be called again: no downloaded
    /// certificate stays valid until `now + margin` ("now" is the injected clock).
    pub fn certificates_due(&self, margin: chrono::Duration) -> bool {
        self.downloaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .needs_refresh((self.now)(), margin)
    }

    /// `GET /v3/certificates`: decrypts each certificate with the APIv3 key (only
    /// WeChat holds it besides the merchant, and AES-GCM authenticates), then
    /// verifies the answer's signature with the keys known plus those just
    /// decrypted (WeChat signs it with one of them), and only then keeps them by
    /// serial, dropping the expired ones. Returns how many are kept.
    pub async fn refresh_certificates(&self) -> Result<usize, WechatError> {
        let m = &self.config.merchant;
        let now = (self.now)();
        let signed =
            m.signer
                .sign_request("GET", paths::CERTIFICATES, now.timestamp(), &nonce(), "")?;
        let url = format!("{}{}", self.config.pay_url, paths::CERTIFICATES);
        let authorization = signed.authorization.to_string();
        let (status, headers, bytes) = self
            .send_once(&Method::GET, &url, &authorization, "", MAX_RESPONSE_BYTES)
            .await?;
        if status != 200 {
            return Err(WechatError::Status(status));
        }
        let answer: CertificatesResponse = serde_json::from_slice(&bytes)
            .map_err(|e| WechatError::BadAnswer(format!("/v3/certificates: {e}")))?;
        let fresh = answer.decrypt(&m.apiv3_key)?;
        let mut verifier = self.verifier();
        for cert in &fresh {
            verifier.certificates_mut().insert(cert.clone())?;
        }
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        verifier.verify(&WechatpayHeaders::from_lookup(lookup)?, &bytes, now)?;
        let mut store = self.downloaded.write().unwrap_or_else(|p| p.into_inner());
        for cert in fresh {
            store.insert(cert)?;
        }
        store.remove_expired(now);
        Ok(store.len())
    }

    fn check_transaction(&self, tx: &Transaction) -> Result<(), WechatError> {
        Ok(self.config.merchant.check(&tx.appid, &tx.mchid)?)
    }

    /// Serialises and signs once, sends with bounded retries on transport
    /// errors, verifies the answer on its bytes, and turns a verified error
    /// answer into `WxPayError::Business`.
    async fn call<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&T>,
    ) -> Result<Verified, WechatError> {
        let m = &self.config.merchant;
        let now = (self.now)().timestamp();
        let (body, signed) = match body {
            Some(b) => {
                let s = m
                    .signer
                    .sign_json(method.as_str(), path, now, &nonce(), b)?;
                (s.body, s.signed)
            }
            None => {
                let s = m
                    .signer
                    .sign_request(method.as_str(), path, now, &nonce(), "")?;
                (String::new(), s)
            }
        };
        let authorization = signed.authorization.to_string();
        let url = format!("{}{path}", self.config.pay_url);
        let mut attempt = 0u32;
        let (status, headers, bytes) = loop {
            match self
                .send_once(&method, &url, &authorization, &body, MAX_RESPONSE_BYTES)
                .await
            {
                Err(WechatError::Transport(e)) if attempt < self.config.max_retries => {
                    tracing::warn!(path, attempt, error = %e, "WeChat v3 call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(answer) => break answer,
            }
        };
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verifier = self.verifier();
        let verified = WechatpayHeaders::from_lookup(lookup)
            .and_then(|h| verifier.verify(&h, &bytes, (self.now)()));
        if (200..300).contains(&status) {
            verified?;
            return Ok(Verified {
                status,
                body: bytes,
            });
        }
        if let Err(e) = verified {
            tracing::warn!(path, status, error = %e, "WeChat v3 error answer not verifiable");
            return Err(WechatError::Status(status));
        }
        let err: ErrorBody = serde_json::from_slice(&bytes)
            .map_err(|e| WechatError::BadAnswer(format!("error answer (HTTP {status}): {e}")))?;
        Err(WechatError::Protocol(WxPayError::Business {
            code: map_code(&err.code, path),
            description: format!("HTTP {status} {}: {}", err.code, err.message),
        }))
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        authorization: &str,
        body: &str,
        max_bytes: usize,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), WechatError> {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, USER_AGENT);
        if let Some(id) = self.config.merchant.verifier.request_serial_header() {
            req = req.header(HEADER_SERIAL, id);
        }
        if *method != Method::GET {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        let mut resp = req.send().await.map_err(WechatError::transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(WechatError::transport)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(WechatError::BadAnswer(format!(
                    "answer over {max_bytes} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, headers, bytes))
    }
}

fn json<T: DeserializeOwned>(answer: &Verified, what: &str) -> Result<T, WechatError> {
    serde_json::from_slice(&answer.body).map_err(|e| WechatError::BadAnswer(format!("{what}: {e}")))
}

/// WeChat's v3 error codes onto the v2 vocabulary the services decide on.
/// `RESOURCE_NOT_EXISTS`/`ORDER_NOT_EXIST` name a refund on the refund paths.
pub fn map_code(code: &str, path: &str) -> ErrCode {
    let refund_path = path.starts_with(paths::REFUNDS);
    match code {
        "ORDERPAID" | "ORDER_PAID" => ErrCode::OrderPaid,
        "ORDER_CLOSED" | "ORDERCLOSED" => ErrCode::OrderClosed,
        "ORDER_NOT_EXIST" | "ORDERNOTEXIST" | "RESOURCE_NOT_EXISTS" if refund_path => {
            ErrCode::RefundNotExist
        }
        "ORDER_NOT_EXIST" | "ORDERNOTEXIST" | "RESOURCE_NOT_EXISTS" => ErrCode::OrderNotExist,
        "OUT_TRADE_NO_USED" => ErrCode::OutTradeNoUsed,
        "NOT_ENOUGH" | "NOTENOUGH" => ErrCode::NotEnough,
        "SIGN_ERROR" => ErrCode::SignError,
        "PARAM_ERROR" | "INVALID_REQUEST" => ErrCode::ParamError,
        "SYSTEM_ERROR" | "BANK_ERROR" => ErrCode::SystemError,
        "NO_AUTH" => ErrCode::NoAuth,
        "APPID_MCHID_NOT_MATCH" => ErrCode::AppidMchidNotMatch,
        "MCH_NOT_EXISTS" => ErrCode::MchidNotExist,
        "FREQUENCY_LIMITED" => ErrCode::FrequencyLimited,
        "USERPAYING" => ErrCode::UserPaying,
        other => ErrCode::Other(other.to_owned()),
    }
}
