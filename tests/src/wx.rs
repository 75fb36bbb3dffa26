//! Hand-built WeChat notifies (signed, forged, encrypted) for the notify tests.

use paylog_core::wxpay::{ApiKey, Fields, SignType, encrypt_req_info, sign_fields, to_xml};

/// The fields of a payment notify as WeChat sends it (before signing).
#[derive(Debug, Clone)]
pub struct PayNotifyDraft {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total_fee: u64,
}

impl PayNotifyDraft {
    fn fields(&self) -> Fields {
        [
            ("return_code", "SUCCESS".to_owned()),
            ("result_code", "SUCCESS".to_owned()),
            ("appid", self.appid.clone()),
            ("mch_id", self.mch_id.clone()),
            ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".to_owned()),
            ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned()),
            ("trade_type", "JSAPI".to_owned()),
            ("bank_type", "CMC".to_owned()),
            ("total_fee", self.total_fee.to_string()),
            ("cash_fee", self.total_fee.to_string()),
            ("fee_type", "CNY".to_owned()),
            ("transaction_id", self.transaction_id.clone()),
            ("out_trade_no", self.out_trade_no.clone()),
            ("time_end", "20260101120000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The notify XML signed (MD5) with `key`.
    pub fn signed(&self, key: &str) -> String {
        let mut f = self.fields();
        sign_fields(&mut f, &ApiKey::new(key), SignType::Md5).expect("signs");
        to_xml(&f)
    }
}

/// A refund notify whose `req_info` is encrypted with `key`.
pub fn refund_notify_xml(appid: &str, mch_id: &str, key: &str, inner: &[(&str, String)]) -> String {
    let inner: Fields = inner
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let outer: Fields = [
        ("return_code", "SUCCESS".to_owned()),
        ("appid", appid.to_owned()),
        ("mch_id", mch_id.to_owned()),
        ("nonce_str", "TeqClE3i0mvn3DrK".to_owned()),
        ("req_info", encrypt_req_info(&inner, &ApiKey::new(key))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    to_xml(&outer)
}
