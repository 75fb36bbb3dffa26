//! The flood, against the real `paylog serve` binary with its shipped hash
//! pool: 500 concurrent password logins for users that do not exist, retried at once
//! whatever they are told, while one shopper places and pays orders.
//!
//! The per-address login limit is left off here (the flood comes from 127.0.0.1, and a
//! flood from many addresses gets past such a limit), so what must hold the server up
//! is the bounded hash pool alone. Bounded: a few seconds of flood, then SIGTERM.

use std::time::Duration;

use paylog_bench::flood::{self, Defence, FLOOD_CLIENTS, MAX_PEAK_RSS_BYTES};

/// Long enough for the hash pool's queue to fill many times over.
const FLOOD: Duration = Duration::from_secs(3);

#[test]
fn a_login_flood_leaves_the_shopper_served_and_memory_bounded() {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let outcome = flood::run_once(
        std::path::Path::new(env!("CARGO_BIN_EXE_paylog")),
        scratch.path(),
        Defence::HashPool,
        FLOOD_CLIENTS,
        FLOOD,
    )
    .expect("the flood ran");

    assert!(
        outcome.shopper_ok > 0 && outcome.shopper_failed == 0,
        "the shopper must keep being served: {outcome:?}"
    );
    assert_eq!(
        outcome.unexpected_flood_answers(),
        0,
        "the flood may only be refused (401, 429, 503): {:?}",
        outcome.flood_statuses
    );
    assert!(
        outcome.flood_statuses.get(&503).copied().unwrap_or(0) > 0,
        "500 logins at once must overflow the hash pool's queue: {:?}",
        outcome.flood_statuses
    );
    assert!(
        outcome.peak_rss_bytes < MAX_PEAK_RSS_BYTES,
        "peak RSS {} bytes",
        outcome.peak_rss_bytes
    );
    assert!(outcome.alive_after, "the server died under the flood");
    assert!(!outcome.panicked, "the server panicked under the flood");
}
