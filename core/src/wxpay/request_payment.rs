//! The parameters of `wx.requestPayment`, signed with `paySign`.

use serde::{Deserialize, Serialize};

use super::{ApiKey, Fields, SignType, sign};

/// What the mini-program passes to `wx.requestPayment`. `paySign` covers exactly
/// the five camelCase keys `appId`, `timeStamp`, `nonceStr`, `package`, `signType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestPayment {
    pub app_id: String,
    /// Seconds since the epoch, as a string (WeChat insists).
    pub time_stamp: String,
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    pub sign_type: String,
    pub pay_sign: String,
}

impl RequestPayment {
    /// Builds and signs the parameters. The time and nonce come from the caller,
    /// since this crate has neither a clock nor randomness.
    pub fn new(
        appid: &str,
        prepay_id: &str,
        timestamp_secs: i64,
        nonce: &str,
        sign_type: SignType,
        key: &ApiKey,
    ) -> Self {
        let mut p = Self {
            app_id: appid.to_owned(),
            time_stamp: timestamp_secs.to_string(),
            nonce_str: nonce.to_owned(),
            package: format!("prepay_id={prepay_id}"),
            sign_type: sign_type.as_str().to_owned(),
            pay_sign: String::new(),
        };
        p.pay_sign = sign(&p.signed_fields(), key, sign_type);
        p
    }

    /// The five fields `paySign` covers, under their camelCase names.
    pub fn signed_fields(&self) -> Fields {
        [
            ("appId", &self.app_id),
            ("timeStamp", &self.time_stamp),
            ("nonceStr", &self.nonce_str),
            ("package", &self.package),
            ("signType", &self.sign_type),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }
}
