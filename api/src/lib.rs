//! paylog's application crate: everything between the outside world and the log
//! that is not a crate of its own.
//!
//! Map of the crate (each layer imports only the ones below it):
//! - [`cli`]: the `paylog` subcommands (the binary's `main` hands over here);
//! - [`app`]: [`app::Application`], the composition root that builds everything;
//! - [`http`]: the mini-program REST API and the WeChat notify endpoints (axum):
//!   handlers that parse, call one service and map its answer;
//! - [`services`]: the application logic (accounts, catalog, ordering, payments and
//!   the reconciler, audits) over the engine, the views and WeChat;
//! - [`metrics`], [`config`], [`error`]: leaves every layer may use.
//!
//! Beside it, under `api/`: `paylog-engine` (the command pipeline), `paylog-wechat`
//! (the WeChat client), `paylog-sim` (the WeChat simulator), `paylog-bench`.

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod services;
