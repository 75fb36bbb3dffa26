//! [`Error`]: the one error type of the api crate (engine, WeChat calls, HTTP).
//!
//! The HTTP layer turns it into a status and a JSON body (`http::error`); the
//! variants say what kind of failure it is, so that mapping never has to guess.

use paylog_core::DomainError;
use paylog_store::StoreError;

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
    Contention { stream_id: String, attempts: u32 },

    /// A programming error in how the engine was called (never caused by input).
    #[error("engine misuse: {0}")]
    Misuse(&'static str),

    /// A stored event could not be turned back into a domain event.
    #[error("corrupt event at position {position}: {reason}")]
    CorruptEvent { position: u64, reason: String },
}
