//! [`Error`]: the one error type of the application's services (what the engine, the
//! views and WeChat answered, and what the services themselves refuse).
//!
//! The HTTP layer turns it into a status and a JSON body (`http::error`); the
//! variants say what kind of failure it is, so that mapping never has to guess. The
//! engine's own [`EngineError`] converts variant for variant.

use paylog_core::DomainError;
use paylog_core::payment_refs::OutRefundNo;
use paylog_projections::ProjectionError;
use paylog_store::StoreError;

use paylog_core::codec::CodecError;
use paylog_engine::{EngineError, StreamId};
use paylog_wechat::WechatError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain refused the command (invalid input, wrong state, not enough stock…).
    #[error(transparent)]
    Domain(#[from] DomainError),

    /// The event log failed. Not the caller's fault.
    #[error("event store: {0}")]
    Store(#[from] StoreError),

    /// The command kept losing expected-version races; the caller may retry it.
    #[error("too much contention on {stream_id}: gave up after {attempts} attempts")]
    Contention { stream_id: StreamId, attempts: u32 },

    /// A programming error in how the engine was called (never caused by input).
    #[error("engine misuse: {0}")]
    Misuse(&'static str),

    /// A stored event could not be turned back into a domain event.
    #[error("corrupt event at position {position}: {reason}")]
    CorruptEvent { position: u64, reason: String },

    /// A decided event could not be encoded for the log (a bug, never the input).
    #[error("event codec: {0}")]
    Codec(#[from] CodecError),

    /// The views (read side) failed, or a query was malformed (e.g. a bad cursor).
    #[error("views: {0}")]
    Views(#[from] ProjectionError),

    /// A call to WeChat failed or was refused.
    #[error("WeChat: {0}")]
    Wechat(#[from] WechatError),

    /// A refund was recorded but WeChat's answer to it is unknown (a transport error,
    /// `SYSTEMERROR`…): it stays pending; a retry with this `out_refund_no` (or the
    /// reconciler's refundquery) settles it.
    #[error("refund {out_refund_no}: outcome unknown: {source}")]
    RefundOutcomeUnknown {
        out_refund_no: OutRefundNo,
        source: WechatError,
    },

    /// The application refused a request the domain alone cannot judge (e.g. paying
    /// without a WeChat account); `code` is stable, `message` is for people.
    #[error("{message}")]
    Refused { code: &'static str, message: String },

    /// The request conflicts with the state at WeChat or with an earlier request.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    /// The request is malformed in a way only the application can judge (e.g. a
    /// stock change over the limit); `code` is stable, `message` is for people.
    #[error("{message}")]
    BadInput { code: &'static str, message: String },

    /// The caller could not be authenticated (a refused login code, a wrong password);
    /// `message` is for people and says no more than that.
    #[error("{message}")]
    Unauthorized { message: &'static str },

    /// An internal operation failed (a background task, a hashing primitive).
    #[error("internal: {0}")]
    Internal(String),

    /// A bounded resource (the password hashing pool) is full: the caller may retry
    /// after `retry_after_secs`. Nothing was done.
    #[error("{what} is busy; retry in {retry_after_secs} s")]
    Busy {
        what: &'static str,
        retry_after_secs: u64,
    },

    /// Start-up failed: bad configuration, a port or directory that cannot be used.
    #[error("start-up: {0}")]
    Startup(String),
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Domain(e) => Self::Domain(e),
            EngineError::Store(e) => Self::Store(e),
            EngineError::Contention {
                stream_id,
                attempts,
            } => Self::Contention {
                stream_id,
                attempts,
            },
            EngineError::Misuse(what) => Self::Misuse(what),
            EngineError::CorruptEvent { position, reason } => {
                Self::CorruptEvent { position, reason }
            }
            EngineError::Codec(e) => Self::Codec(e),
        }
    }
}
