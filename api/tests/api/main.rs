//! The application crate's integration tests: the `paylog` binary's commands, and the
//! router's HTTP shapes driven without a socket.
//!
//! One test binary with a module per concern, so RocksDB is linked once.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_smoke;
mod cli_events;
/// The 3-node NATS test cluster of the store's contract suite, included, not copied.
#[path = "../../../store/tests/store/cluster.rs"]
// `shared()` serves the store's suite; this binary starts its own clusters.
#[allow(dead_code)]
mod cluster;
mod crash_server;
mod edge;
mod http_shapes;
mod login_flood;
mod migrate;
mod nats_fault;
mod reconcile_cli;
mod startup;
mod support;
mod wechat_cli;
mod wechat_v3_cli;
