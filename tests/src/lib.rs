//! paylog's end-to-end, property and fault tests: the real server, the simulator,
//! temp data dirs.
//!
//! - [`app`]: [`spawn_app`] starts the real server in-process on 127.0.0.1:0 with its
//!   own temp data dir and its own WeChat simulator; [`TestApp`] has one typed method
//!   per endpoint, plus the simulator's control API and reads of the event log, so
//!   tests check state through the log and not only through HTTP answers;
//! - [`cluster`]: a 3-node NATS JetStream cluster on free loopback ports (the store's
//!   contract-suite code, included), for [`app::spawn_app_on_nats`];
//! - [`browser`]: a headless chromium under chromedriver, driven through fantoccini;
//! - [`wx`]: hand-built WeChat notifies (signed, forged, encrypted);
//! - [`model`]: the reference model of the property tests;
//! - [`on_both_logs!`]: one scenario run as two tests, on RocksDB and on NATS.

// This library is test support, not production code: its helpers fail the test that
// calls them with a message (`expect`) instead of threading errors back, exactly as
// the tests themselves do (clippy.toml allows both in tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod browser;
/// The 3-node NATS test cluster, the same code the store's contract suite uses.
#[path = "../../store/tests/store/cluster.rs"]
pub mod cluster;
pub mod model;
pub mod wx;

pub use app::{
    ADMIN_TOKEN, Answer, ClientCert, NatsLog, PUSH_AES_KEY, PUSH_TOKEN, SETTLEMENT_CHECK_AFTER,
    TestApp, TestConfig, spawn_app, spawn_app_on, spawn_app_on_nats, spawn_app_with,
    test_client_cert_dir,
};

/// Runs the scenario `async fn $name(app: TestApp)` as two tests, `$name::on_rocksdb`
/// and `$name::on_nats` (a log replicated by a 3-node NATS cluster), so both backends
/// pass exactly the same assertions without each test restating the two wrappers.
#[macro_export]
macro_rules! on_both_logs {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_rocksdb() {
                super::$name($crate::spawn_app().await).await;
            }

            #[tokio::test]
            async fn on_nats() {
                super::$name($crate::spawn_app_on_nats().await).await;
            }
        }
    };
}
