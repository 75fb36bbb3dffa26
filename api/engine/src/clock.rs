//! [`Clock`]: where "now" comes from for everything that decides by time.
//!
//! Payments stamp their commands and the reconciler picks the orders whose notify is
//! late by the clock; both take a `Clock` so that tests move time forward instead of
//! sleeping past a timeout. Production uses [`SystemClock`].

use std::fmt;

use chrono::{DateTime, Utc};

/// A source of the current instant.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
