//! The parameters of `wx.requestPayment` on v3: `signType` `RSA` and `paySign`,
//! SHA256-with-RSA over `appId\ntimeStamp\nnonceStr\npackage\n` with the
//! merchant's private key.

use serde::{Deserialize, Serialize};

use super::WxPayV3Error;
use super::keys::{RsaSigningKey, RsaVerifyingKey};
use super::sign::check_nonce;

/// `signType` on v3.
pub const SIGN_TYPE_RSA: &str = "RSA";

/// What the mini-program passes to `wx.requestPayment`, under its camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiniProgramPayParams {
    pub app_id: String,
    /// Seconds since the epoch, as a string (WeChat insists).
    pub time_stamp: String,
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    pub sign_type: String,
    pub pay_sign: String,
}

impl MiniProgramPayParams {
    /// Builds and signs the parameters. The time and nonce come from the caller.
    pub fn new(
        appid: &str,
        prepay_id: &str,
        timestamp_secs: i64,
        nonce: &str,
        merchant_key: &RsaSigningKey,
    ) -> Result<Self, WxPayV3Error> {
        check_nonce(nonce)?;
        for (what, value) in [("appid", appid), ("prepay_id", prepay_id)] {
            if value.is_empty() || value.contains('\n') {
                return Err(WxPayV3Error::UnsignableValue {
                    what,
                    value: super::keys::truncate(value),
                });
            }
        }
        let mut params = Self {
            app_id: appid.to_owned(),
            time_stamp: timestamp_secs.to_string(),
            nonce_str: nonce.to_owned(),
            package: format!("prepay_id={prepay_id}"),
            sign_type: SIGN_TYPE_RSA.to_owned(),
            pay_sign: String::new(),
        };
        params.pay_sign = merchant_key.sign_base64(params.message().as_bytes())?;
        Ok(params)
    }

    /// The signed message: `appId\ntimeStamp\nnonceStr\npackage\n`.
    pub fn message(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n",
            self.app_id, self.time_stamp, self.nonce_str, self.package
        )
    }

    /// Checks `paySign` with the merchant's public key (WeChat's side, and tests).
    pub fn verify(&self, merchant_public_key: &RsaVerifyingKey) -> Result<(), WxPayV3Error> {
        if self.sign_type != SIGN_TYPE_RSA {
            return Err(WxPayV3Error::UnsupportedSignatureType(
                super::keys::truncate(&self.sign_type),
            ));
        }
        merchant_public_key.verify_base64(self.message().as_bytes(), &self.pay_sign, "merchant")
    }
}
