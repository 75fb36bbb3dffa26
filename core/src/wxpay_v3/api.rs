//! Typed request and response bodies of the v3 calls paylog makes, and their
//! paths. Field names are exactly WeChat's (snake_case JSON); amounts are integer
//! fen ([`Fen`]); times are RFC 3339 with WeChat's `+08:00` offset.
//!
//! Unknown fields in responses are ignored (WeChat adds fields over time);
//! unknown enum values are refused, so a state paylog does not handle is an
//! error rather than a silent default.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::WxPayV3Error;
use super::keys::truncate;
use crate::money::Fen;

/// Longest id placed in a path (`out_trade_no` ≤ 32, `out_refund_no` ≤ 64).
pub const MAX_PATH_ID_CHARS: usize = 64;
/// Currency of every amount paylog sends.
pub const CURRENCY_CNY: &str = "CNY";

/// Paths (path + query, what the request signature covers).
pub mod paths {
    use super::{MAX_PATH_ID_CHARS, WxPayV3Error, truncate};

    pub const JSAPI_PREPAY: &str = "/v3/pay/transactions/jsapi";
    pub const REFUNDS: &str = "/v3/refund/domestic/refunds";
    pub const CERTIFICATES: &str = "/v3/certificates";

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={mchid}`.
    pub fn query_by_out_trade_no(out_trade_no: &str, mchid: &str) -> Result<String, WxPayV3Error> {
        Ok(format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            segment("out_trade_no", out_trade_no)?,
            segment("mchid", mchid)?
        ))
    }

    /// `GET /v3/pay/transactions/id/{transaction_id}?mchid={mchid}`.
    pub fn query_by_transaction_id(
        transaction_id: &str,
        mchid: &str,
    ) -> Result<String, WxPayV3Error> {
        Ok(format!(
            "/v3/pay/transactions/id/{}?mchid={}",
            segment("transaction_id", transaction_id)?,
            segment("mchid", mchid)?
        ))
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` (answers 204).
    pub fn close(out_trade_no: &str) -> Result<String, WxPayV3Error> {
        Ok(format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            segment("out_trade_no", out_trade_no)?
        ))
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
    pub fn refund_query(out_refund_no: &str) -> Result<String, WxPayV3Error> {
        Ok(format!(
            "/v3/refund/domestic/refunds/{}",
            segment("out_refund_no", out_refund_no)?
        ))
    }

    /// WeChat's ids use only `[0-9A-Za-z_-|*@]`; anything else would need
    /// percent-encoding, which would change what is signed, so it is refused.
    fn segment<'a>(what: &'static str, value: &'a str) -> Result<&'a str, WxPayV3Error> {
        let valid = !value.is_empty()
            && value.len() <= MAX_PATH_ID_CHARS
            && value.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*' | b'@')
            });
        if !valid {
            return Err(WxPayV3Error::InvalidIdentifier {
                what,
                value: truncate(value),
                expected: "1 to 64 of 0-9 A-Z a-z _ - | * @",
            });
        }
        Ok(value)
    }
}

// --- JSAPI prepay -----------------------------------------------------------------

/// `POST /v3/pay/transactions/jsapi` (小程序下单 uses the JSAPI call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiPrepayRequest {
    pub appid: String,
    pub mchid: String,
    pub description: String,
    pub out_trade_no: String,
    /// When the order can no longer be paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    pub notify_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_tag: Option<String>,
    pub amount: PrepayAmount,
    pub payer: Payer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayAmount {
    pub total: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub openid: String,
}

/// The answer to a prepay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayResponse {
    pub prepay_id: String,
}

// --- transactions (query answer and TRANSACTION.SUCCESS resource) -----------------

/// A transaction as the query calls answer it and as the decrypted resource of
/// a `TRANSACTION.SUCCESS` notify carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    /// Absent until the order is paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<TradeType>,
    pub trade_state: TradeState,
    pub trade_state_desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<TransactionAmount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotion_detail: Vec<PromotionDetail>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeType {
    Jsapi,
    Native,
    App,
    Micropay,
    Mweb,
    Facepay,
}

/// `trade_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    Success,
    Refund,
    Notpay,
    Closed,
    Revoked,
    Userpaying,
    Payerror,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// What the order asked for.
    pub total: Fen,
    /// What the user paid (total minus coupons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_currency: Option<String>,
}

/// A coupon or discount applied to a payment (`promotion_detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionDetail {
    pub coupon_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub amount: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechatpay_contribute: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_contribute: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_contribute: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// The body of `…/close`: only the merchant id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    pub mchid: String,
}

// --- refunds --------------------------------------------------------------------------

/// `POST /v3/refund/domestic/refunds`. Exactly one of `transaction_id` and
/// `out_trade_no` names the payment; [`RefundRequest::new`] guarantees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funds_account: Option<String>,
    pub amount: RefundRequestAmount,
}

/// Which payment a refund is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOf {
    TransactionId(String),
    OutTradeNo(String),
}

impl RefundRequest {
    pub fn new(
        of: RefundOf,
        out_refund_no: &str,
        refund: Fen,
        total: Fen,
        reason: Option<&str>,
        notify_url: Option<&str>,
    ) -> Self {
        let (transaction_id, out_trade_no) = match of {
            RefundOf::TransactionId(id) => (Some(id), None),
            RefundOf::OutTradeNo(no) => (None, Some(no)),
        };
        Self {
            transaction_id,
            out_trade_no,
            out_refund_no: out_refund_no.to_owned(),
            reason: reason.map(str::to_owned),
            notify_url: notify_url.map(str::to_owned),
            funds_account: None,
            amount: RefundRequestAmount {
                refund,
                total,
                currency: CURRENCY_CNY.to_owned(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequestAmount {
    pub refund: Fen,
    pub total: Fen,
    pub currency: String,
}

/// The answer to a refund and to a refund query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub channel: RefundChannel,
    pub user_received_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<DateTime<FixedOffset>>,
    pub create_time: DateTime<FixedOffset>,
    pub status: RefundStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funds_account: Option<String>,
    pub amount: RefundAmount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundChannel {
    Original,
    Balance,
    OtherBalance,
    OtherBankcard,
}

/// `status` of a refund, `refund_status` of a refund notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Success,
    Closed,
    Processing,
    Abnormal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    pub total: Fen,
    pub refund: Fen,
    pub payer_total: Fen,
    pub payer_refund: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_refund: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_total: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_refund: Option<Fen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

// --- errors -----------------------------------------------------------------------------

/// The body of a 4xx/5xx answer (`{"code":"PARAM_ERROR","message":"…"}`), and
/// the shape of the `{"code":"FAIL","message":…}` answer to a notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl ErrorBody {
    /// What the merchant answers a notify it could not accept (with a 4xx/5xx
    /// status; a 204 with no body means success).
    pub fn notify_fail(message: &str) -> Self {
        Self {
            code: "FAIL".to_owned(),
            message: message.to_owned(),
            detail: None,
        }
    }
}

// --- trade bill ---------------------------------------------------------------------------

/// `bill_type` of `/v3/bill/tradebill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillType {
    All,
    Success,
    Refund,
}

impl BillType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Success => "SUCCESS",
            Self::Refund => "REFUND",
        }
    }
}

/// The error `code` of `/v3/bill/tradebill` for a day without a bill (no payment and
/// no refund that day): v2's `No Bill Exist`.
pub const NO_STATEMENT_EXIST: &str = "NO_STATEMENT_EXIST";

/// `GET /v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=…[&tar_type=GZIP]`.
pub fn trade_bill_path(bill_date: NaiveDate, bill_type: BillType, gzip: bool) -> String {
    let tar = if gzip { "&tar_type=GZIP" } else { "" };
    format!(
        "/v3/bill/tradebill?bill_date={}&bill_type={}{tar}",
        bill_date.format("%Y-%m-%d"),
        bill_type.as_str()
    )
}

/// The answer to `/v3/bill/tradebill`: where to fetch the file and its SHA1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeBillResponse {
    pub hash_type: String,
    pub hash_value: String,
    pub download_url: String,
}

impl TradeBillResponse {
    /// The file behind `download_url` is not signed; its SHA1 is what proves it.
    /// Checks `file` (the bytes as downloaded, still gzipped if requested so).
    pub fn check_file(&self, file: &[u8]) -> Result<(), WxPayV3Error> {
        if !self.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(WxPayV3Error::UnsupportedHashType(truncate(&self.hash_type)));
        }
        let actual = hex::encode(Sha1::digest(file));
        if !actual.eq_ignore_ascii_case(&self.hash_value) {
            return Err(WxPayV3Error::BillHashMismatch {
                expected: truncate(&self.hash_value),
                actual,
            });
        }
        Ok(())
    }

    /// The path and query of `download_url`: the download request is signed
    /// like any other, over this.
    pub fn download_path_and_query(&self) -> Result<&str, WxPayV3Error> {
        let bad = || WxPayV3Error::BadDownloadUrl(truncate(&self.download_url));
        let rest = self.download_url.strip_prefix("https://").ok_or_else(bad)?;
        let slash = rest.find('/').ok_or_else(bad)?;
        let path = rest.get(slash..).ok_or_else(bad)?;
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad());
        }
        Ok(path)
    }
}
