//! Refund notifies: `req_info` is AES-256-ECB/PKCS#7, keyed with md5(API key).
//!
//! Refund notifies carry no `sign`; what authenticates them is that only a holder
//! of the API key can produce a `req_info` that decrypts, unpads and parses.

use aes::Aes256;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};

use super::codes::{Code, RefundStatus};
use super::fields::{fen, optional, optional_fen, owned, required};
use super::xml::{parse_flat, parse_xml, to_flat};
use super::{ApiKey, Fields, Merchant, WxPayError, time};

/// The AES key: the 32 ASCII bytes of the lower-case hex MD5 of the API key.
fn aes_key(key: &ApiKey) -> [u8; 32] {
    let hex = hex::encode(Md5::digest(key.expose().as_bytes()));
    let mut out = [0u8; 32];
    out.copy_from_slice(hex.as_bytes());
    out
}

/// Decrypts a base64 `req_info` into the fields of its `<root>` document.
pub fn decrypt_req_info(req_info: &str, key: &ApiKey) -> Result<Fields, WxPayError> {
    let data = STANDARD
        .decode(req_info.trim())
        .map_err(|_| WxPayError::Decrypt("not base64"))?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(WxPayError::Decrypt(
            "length is not a positive multiple of 16",
        ));
    }
    let plain = ecb::Decryptor::<Aes256>::new(&aes_key(key).into())
        .decrypt_padded_vec_mut::<Pkcs7>(&data)
        .map_err(|_| WxPayError::Decrypt("bad padding (wrong key?)"))?;
    let text = String::from_utf8(plain).map_err(|_| WxPayError::Decrypt("not UTF-8"))?;
    parse_flat(&text, "root")
}

/// Encrypts fields as a `<root>` document into a base64 `req_info` (for the simulator).
pub fn encrypt_req_info(fields: &Fields, key: &ApiKey) -> String {
    let doc = to_flat(fields, "root");
    let data = ecb::Encryptor::<Aes256>::new(&aes_key(key).into())
        .encrypt_padded_vec_mut::<Pkcs7>(doc.as_bytes());
    STANDARD.encode(data)
}

/// A decrypted, typed refund notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotify {
    pub appid: String,
    pub mch_id: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub refund_id: String,
    pub out_refund_no: String,
    pub total_fee: u64,
    pub refund_fee: u64,
    pub settlement_refund_fee: Option<u64>,
    pub refund_status: RefundStatus,
    /// Present when `refund_status` is SUCCESS.
    pub success_time: Option<DateTime<Utc>>,
    pub refund_recv_accout: Option<String>,
    pub refund_account: Option<String>,
    pub refund_request_source: Option<String>,
}

impl RefundNotify {
    /// Parses a refund notify body, checks it is for `merchant`, and decrypts `req_info`.
    pub fn parse(body: &str, merchant: &Merchant) -> Result<Self, WxPayError> {
        let outer = parse_xml(body)?;
        if Code::parse(required(&outer, "return_code")?) != Code::Success {
            return Err(WxPayError::ReturnFail(
                optional(&outer, "return_msg").unwrap_or_default(),
            ));
        }
        let appid = owned(&outer, "appid")?;
        let mch_id = owned(&outer, "mch_id")?;
        merchant.check(&appid, &mch_id)?;
        let inner = decrypt_req_info(required(&outer, "req_info")?, &merchant.key)?;
        Self::from_decrypted(appid, mch_id, &inner)
    }

    fn from_decrypted(appid: String, mch_id: String, f: &Fields) -> Result<Self, WxPayError> {
        Ok(Self {
            appid,
            mch_id,
            transaction_id: owned(f, "transaction_id")?,
            out_trade_no: owned(f, "out_trade_no")?,
            refund_id: owned(f, "refund_id")?,
            out_refund_no: owned(f, "out_refund_no")?,
            total_fee: fen(f, "total_fee")?,
            refund_fee: fen(f, "refund_fee")?,
            settlement_refund_fee: optional_fen(f, "settlement_refund_fee")?,
            refund_status: RefundStatus::parse(required(f, "refund_status")?),
            success_time: optional(f, "success_time")
                .map(|t| time::parse_spaced(&t, "success_time"))
                .transpose()?,
            refund_recv_accout: optional(f, "refund_recv_accout"),
            refund_account: optional(f, "refund_account"),
            refund_request_source: optional(f, "refund_request_source"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_then_decrypt_and_wrong_key() {
        let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d");
        let mut f = Fields::new();
        f.insert("refund_recv_accout".into(), "支付用户零钱".into());
        f.insert("refund_fee".into(), "100".into());
        let enc = encrypt_req_info(&f, &key);
        assert_eq!(decrypt_req_info(&enc, &key), Ok(f));
        assert!(decrypt_req_info(&enc, &ApiKey::new("other")).is_err());
        assert!(decrypt_req_info("%%%", &key).is_err());
        assert!(decrypt_req_info("", &key).is_err());
    }
}
