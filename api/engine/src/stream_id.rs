//! [`StreamId`]: the id of a stream in the log, as the engine passes it around.
//!
//! Core names streams (`paylog_core::streams::order_stream`, …) and the store keeps
//! them as opaque strings; between the two, the engine carries them as this type so
//! that a stream id is never confused with any other string (a command name, a
//! reason, a WeChat reference).

use std::fmt;

/// A stream id (`order-<uuid>`, `product-<uuid>`, `username-<name>`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId(String);

impl StreamId {
    /// The id as the store spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for StreamId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for StreamId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for StreamId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}
