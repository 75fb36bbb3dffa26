//! The payment and refund notifies as WeChat builds them: one builder for the
//! simulator's deliveries, the benchmark and the tests, so that what paylog is tested
//! against is what the simulator sends.

use paylog_core::wxpay::{
    ApiKey, Fields, SignType, WxPayError, encrypt_req_info, sign_fields, to_xml,
};

/// The fields of a `SUCCESS` payment notify, before signing.
#[derive(Debug, Clone)]
pub struct PayNotice {
    pub appid: String,
    pub mch_id: String,
    pub nonce_str: String,
    pub openid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    /// What WeChat says was paid, in fen (`total_fee` and `cash_fee`).
    pub total_fee: u64,
    /// `yyyyMMddHHmmss`, Asia/Shanghai.
    pub time_end: String,
    /// Echoed from unifiedorder.
    pub attach: String,
}

impl PayNotice {
    /// The notify's fields, unsigned; empty ones are left out, as WeChat does.
    pub fn fields(&self) -> Fields {
        [
            ("return_code", "SUCCESS".to_owned()),
            ("result_code", "SUCCESS".to_owned()),
            ("appid", self.appid.clone()),
            ("mch_id", self.mch_id.clone()),
            ("nonce_str", self.nonce_str.clone()),
            ("openid", self.openid.clone()),
            ("is_subscribe", "N".to_owned()),
            ("trade_type", "JSAPI".to_owned()),
            ("bank_type", "OTHERS".to_owned()),
            ("total_fee", self.total_fee.to_string()),
            ("cash_fee", self.total_fee.to_string()),
            ("fee_type", "CNY".to_owned()),
            ("transaction_id", self.transaction_id.clone()),
            ("out_trade_no", self.out_trade_no.clone()),
            ("time_end", self.time_end.clone()),
            ("attach", self.attach.clone()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The notify XML signed with `key` by `sign_type`.
    pub fn signed(&self, key: &ApiKey, sign_type: SignType) -> Result<String, WxPayError> {
        let mut fields = self.fields();
        sign_fields(&mut fields, key, sign_type)?;
        Ok(to_xml(&fields))
    }
}

/// A refund notify: unsigned outer fields and `inner` encrypted with `key` as
/// `req_info` (AES-256-ECB, key = MD5 of the API key).
pub fn refund_notify_xml(
    appid: &str,
    mch_id: &str,
    nonce_str: &str,
    inner: &Fields,
    key: &ApiKey,
) -> String {
    let outer: Fields = [
        ("return_code", "SUCCESS".to_owned()),
        ("appid", appid.to_owned()),
        ("mch_id", mch_id.to_owned()),
        ("nonce_str", nonce_str.to_owned()),
        ("req_info", encrypt_req_info(inner, key)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    to_xml(&outer)
}
