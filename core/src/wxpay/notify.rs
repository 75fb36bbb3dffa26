//! Payment notifies: verified, then typed; and the XML reply WeChat expects.

use chrono::{DateTime, Utc};

use super::fields::{compact_time, fen, optional, optional_fen, owned};
use super::response::check_codes;
use super::xml::{parse_xml, to_xml};
use super::{Fields, Merchant, WxPayError};

/// A verified payment notify (支付结果通知) with `result_code=SUCCESS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayNotify {
    pub appid: String,
    pub mch_id: String,
    pub openid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total_fee: u64,
    pub cash_fee: Option<u64>,
    pub fee_type: Option<String>,
    pub bank_type: Option<String>,
    pub trade_type: Option<String>,
    pub attach: Option<String>,
    /// When the user paid, converted from Beijing time.
    pub time_end: DateTime<Utc>,
}

impl PayNotify {
    /// Parses and verifies a notify body. The sign is checked before any field is
    /// looked at, then the codes, then that it is addressed to this merchant.
    pub fn parse(body: &str, merchant: &Merchant) -> Result<Self, WxPayError> {
        let f = parse_xml(body)?;
        merchant.verify(&f)?;
        check_codes(&f)?;
        let n = Self::from_fields(&f)?;
        merchant.check(&n.appid, &n.mch_id)?;
        Ok(n)
    }

    /// Types already-verified fields.
    pub fn from_fields(f: &Fields) -> Result<Self, WxPayError> {
        Ok(Self {
            appid: owned(f, "appid")?,
            mch_id: owned(f, "mch_id")?,
            openid: owned(f, "openid")?,
            out_trade_no: owned(f, "out_trade_no")?,
            transaction_id: owned(f, "transaction_id")?,
            total_fee: fen(f, "total_fee")?,
            cash_fee: optional_fen(f, "cash_fee")?,
            fee_type: optional(f, "fee_type"),
            bank_type: optional(f, "bank_type"),
            trade_type: optional(f, "trade_type"),
            attach: optional(f, "attach"),
            time_end: compact_time(f, "time_end")?,
        })
    }
}

/// The reply to a notify. Anything but SUCCESS makes WeChat deliver it again.
pub fn notify_reply(success: bool, msg: &str) -> String {
    let mut f = Fields::new();
    f.insert(
        "return_code".into(),
        if success { "SUCCESS" } else { "FAIL" }.into(),
    );
    f.insert("return_msg".into(), msg.into());
    to_xml(&f)
}
