//! `WxPayError`: everything that can go wrong while speaking WeChat Pay v2.

use super::codes::ErrCode;

/// One error type for the whole protocol layer. Messages are safe to log: they
/// never contain the API key, and a signature mismatch never reveals the sign
/// we expected (that would turn the verifier into a signing oracle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WxPayError {
    #[error("body is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("DOCTYPE or entity declarations are refused (XXE)")]
    DoctypeRefused,
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("expected root element <{expected}>, found <{found}>")]
    WrongRoot { expected: String, found: String },
    #[error("element <{0}> is nested deeper than one level")]
    TooDeep(String),
    #[error("field <{0}> appears twice")]
    DuplicateField(String),
    #[error("unknown entity reference &{0};")]
    UnknownEntity(String),
    #[error("the body carries no sign, so nothing in it can be trusted")]
    MissingSign,
    #[error("the sign does not match the body")]
    SignMismatch,
    #[error("unsupported sign_type {0:?}")]
    UnsupportedSignType(String),
    #[error("missing field {0}")]
    MissingField(&'static str),
    #[error("field {field} has an invalid value {value:?}")]
    InvalidField { field: &'static str, value: String },
    #[error("communication failure (return_code=FAIL): {0}")]
    ReturnFail(String),
    #[error("business failure {code}: {description}")]
    Business { code: ErrCode, description: String },
    #[error("notify is for appid/mch_id {appid}/{mch_id}, not this merchant")]
    WrongMerchant { appid: String, mch_id: String },
    #[error("req_info could not be decrypted: {0}")]
    Decrypt(&'static str),
}
