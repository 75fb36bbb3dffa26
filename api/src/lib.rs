//! paylog's application crate: everything between the outside world and the log.
//!
//! Map of the crate:
//! - [`engine`]: the command pipeline (load aggregates → decide in `paylog_core` →
//!   append with expected versions → bounded retry on conflict). Not HTTP-specific.
//! - [`wechat`]: the async WeChat Pay v2 / login client (reqwest).
//! - [`sim`]: a local WeChat simulator speaking the real v2 protocol over HTTP.
//! - [`http`]: the mini-program REST API and the WeChat notify endpoints (axum).
//! - [`config`]: typed settings with environment overrides; secrets wrapped.
//! - [`cli`]: the `paylog` subcommands.
//! - [`error`]: [`Error`](error::Error), the crate's one error type.

pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod http;
pub mod sim;
pub mod wechat;
