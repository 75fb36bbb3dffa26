//! The WeChat client against the simulator over real HTTP on 127.0.0.1.
//!
//! One test binary with a module per concern (login, pay calls, notifies).

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bill;
mod client_cert;
mod login;
mod notify;
mod pay;
mod redaction;
mod shipping;
mod sign_policy;
mod support;
mod v3;
