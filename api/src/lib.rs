//! paylog's application crate: everything between the outside world and the log.
//!
//! Map of the crate:
//! - [`engine`]: the command pipeline (load aggregates → decide in `paylog_core` →
//!   append with expected versions → bounded retry on conflict). Not HTTP-specific.
//! - [`wechat`]: the async WeChat Pay v2 / login client (reqwest).
//! - [`sim`]: a local WeChat simulator speaking the real v2 protocol over HTTP.
//! - [`http`]: the mini-program REST API and the WeChat notify endpoints (axum), and
//!   [`http::Application`], the whole server for `paylog serve` and the tests.
//! - [`payments`]: payment orchestration (prepay, notifies, refunds, cancel) and the
//!   reconciler for lost notifies and expired orders.
//! - [`config`]: typed settings with environment overrides; secrets wrapped.
//! - [`cli`]: the `paylog` subcommands.
//! - [`bench`]: `paylog bench`, the benchmarks against this machine's raw limits.
//! - [`error`]: [`Error`](error::Error), the crate's one error type.

pub mod bench;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod http;
pub mod payments;
pub mod sim;
pub mod wechat;
