//! `WechatError`: the one error type of the WeChat client.

use paylog_core::wxpay::bill::BillError;
use paylog_core::wxpay::{ErrCode, WxPayError};
use paylog_core::wxpay_v3::WxPayV3Error;

/// What a call to WeChat can end in, besides success.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// The client could not be built (bad client certificate, TLS setup).
    #[error("WeChat client setup failed: {0}")]
    Setup(String),
    /// No usable answer after all attempts (connect error, timeout, reset). Built by
    /// [`WechatError::transport`] only, which strips the URL: the jscode2session URL
    /// carries the app secret in its query, and reqwest puts the URL in both the
    /// `Display` and the `Debug` of its errors.
    #[error("could not reach WeChat: {0}")]
    Transport(#[source] reqwest::Error),
    /// WeChat answered with a non-2xx HTTP status.
    #[error("WeChat answered HTTP {0}")]
    Status(u16),
    /// The answer was refused or is a WeChat-level failure: bad or missing sign,
    /// malformed XML, `return_code=FAIL`, or `result_code=FAIL` with an `err_code`.
    #[error(transparent)]
    Protocol(#[from] WxPayError),
    /// A v3 answer or notify refused by the protocol layer (unsigned, a signature
    /// that does not verify, a stale timestamp, an unknown `Wechatpay-Serial`, a
    /// resource that does not decrypt), or a v3 request that could not be signed.
    #[error("WeChat Pay v3: {0}")]
    V3(#[from] WxPayV3Error),
    /// A login (`jscode2session`) failure reported by WeChat.
    #[error("WeChat login failed: errcode {errcode}: {errmsg}")]
    Login { errcode: i64, errmsg: String },
    /// A daily bill (`downloadbill`) that could not be read: too large, not a bill,
    /// refused by WeChat, or malformed (the error names the line).
    #[error("daily bill: {0}")]
    Bill(#[from] BillError),
    /// A mini-program server API (`/wxa/…`, `/cgi-bin/…`) answered a non-zero
    /// `errcode` (see `paylog_core::wxa` for the ones paylog acts on).
    #[error("WeChat refused the call: errcode {errcode}: {errmsg}")]
    Wxa { errcode: i64, errmsg: String },
    /// A JSON answer that does not have the documented shape.
    #[error("unexpected answer from WeChat: {0}")]
    BadAnswer(String),
}

impl WechatError {
    /// A transport error without its URL (see [`WechatError::Transport`]).
    pub fn transport(e: reqwest::Error) -> Self {
        Self::Transport(e.without_url())
    }

    /// The business `err_code`, when WeChat refused the operation itself.
    pub fn err_code(&self) -> Option<&ErrCode> {
        match self {
            Self::Protocol(WxPayError::Business { code, .. }) => Some(code),
            _ => None,
        }
    }

    /// Whether WeChat said our request's sign was wrong (wrong API key or sign type).
    /// Real WeChat reports it as an unsigned `return_code=FAIL` with `签名错误`.
    pub fn is_sign_error(&self) -> bool {
        match self {
            Self::Protocol(WxPayError::Business {
                code: ErrCode::SignError,
                ..
            }) => true,
            Self::Protocol(WxPayError::ReturnFail(msg)) => {
                msg.contains("签名错误") || msg.contains("SIGNERROR")
            }
            _ => false,
        }
    }
}
