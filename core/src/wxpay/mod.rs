//! WeChat Pay v2 protocol: signing, XML, requestPayment parameters, refund notify
//! decryption, and the daily bill ([`bill`]: parse, render, reconcile) — all pure.
//!
//! Nothing here does I/O; the async client and the simulator (paylog-api) call in.
//! Decisions worth knowing:
//! - A body without `sign` is never trusted, whatever its `return_code` says.
//! - A body's own `sign_type` is part of the signed set and picks the algorithm;
//!   without one the merchant's configured [`SignType`] applies.
//! - XML parsing refuses DOCTYPE/entities (XXE), nesting, a wrong root, duplicate
//!   fields and bodies over [`MAX_BODY_BYTES`], always with a [`WxPayError`].
//! - Amounts are integer fen (`u64`); times are UTC, converted from Asia/Shanghai.

pub mod bill;
mod codes;
mod error;
pub mod fields;
mod notify;
mod refund;
mod request_payment;
mod response;
mod sign;
pub mod time;
mod xml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use codes::{Code, ErrCode, RefundStatus, TradeState};
pub use error::WxPayError;
pub use notify::{PayNotify, notify_reply};
pub use refund::{RefundNotify, decrypt_req_info, encrypt_req_info};
pub use request_payment::RequestPayment;
pub use response::{
    OrderQueryResponse, RefundItem, RefundQueryResponse, RefundResponse, UnifiedOrderResponse,
    check_codes, verify_response,
};
pub use sign::{
    ApiKey, SignType, effective_sign_type, sign, sign_fields, string_to_sign,
    string_to_sign_masked, verify,
};
pub use xml::{MAX_BODY_BYTES, parse_flat, parse_xml, to_flat, to_xml};

/// A body's fields, sorted by key in byte order (the order signing uses).
pub type Fields = BTreeMap<String, String>;

/// The merchant identity and key that every body is signed and checked with.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub appid: String,
    pub mch_id: String,
    pub key: ApiKey,
    pub sign_type: SignType,
}

impl Merchant {
    /// Verifies `fields`' sign with this merchant's key and default sign type.
    pub fn verify(&self, fields: &Fields) -> Result<(), WxPayError> {
        verify(fields, &self.key, self.sign_type)
    }

    /// Adds `appid`, `mch_id`, `nonce_str` and `sign` to request fields and
    /// returns the XML body.
    pub fn signed_request(&self, mut fields: Fields, nonce: &str) -> Result<String, WxPayError> {
        fields.insert("appid".into(), self.appid.clone());
        fields.insert("mch_id".into(), self.mch_id.clone());
        fields.insert("nonce_str".into(), nonce.to_owned());
        if self.sign_type != SignType::Md5 {
            // MD5 is the default; any other type must be named in the request.
            fields.insert("sign_type".into(), self.sign_type.as_str().into());
        }
        sign_fields(&mut fields, &self.key, self.sign_type)?;
        Ok(to_xml(&fields))
    }

    /// Refuses a body addressed to another appid or merchant.
    pub fn check(&self, appid: &str, mch_id: &str) -> Result<(), WxPayError> {
        if appid == self.appid && mch_id == self.mch_id {
            Ok(())
        } else {
            Err(WxPayError::WrongMerchant {
                appid: appid.into(),
                mch_id: mch_id.into(),
            })
        }
    }
}
