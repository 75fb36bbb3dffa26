//! [`EngineError`]: why a command did not commit.
//!
//! The application wraps it in its own error type; the variants say what kind of
//! failure it is (the caller's input, the log, a lost race), so a mapping to HTTP
//! statuses never has to guess.

use paylog_core::DomainError;
use paylog_core::codec::CodecError;
use paylog_store::StoreError;

use crate::StreamId;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
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
}
