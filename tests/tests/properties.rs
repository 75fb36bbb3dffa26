//! Model-based property test: random shop histories against the real engine on a temp
//! RocksDB, checked after every step against a reference model and the log.
//!
//! The default number of cases fits CI; `PROPTEST_CASES=10000 cargo test -p
//! paylog-tests --test properties` runs a deep search. A failing case is shrunk to a
//! short story of `Step`s and saved in `tests/proptest-regressions/properties.txt`,
//! which is committed, so that it is replayed first on every later run.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_tests::model::step::{steps, steps_after_shipping};
use paylog_tests::model::{Step, World};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases per run unless `PROPTEST_CASES` says otherwise: a few minutes at most on 2 cores.
const DEFAULT_CASES: u32 = 32;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        // Every case opens RocksDB; a shrink is a full run, so keep shrinking bounded.
        max_shrink_iters: 2_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        )))),
        ..ProptestConfig::default()
    }
}

/// Runs a whole history in a fresh world; the first broken check fails the case.
fn run_history(history: &[Step]) -> Result<(), String> {
    let verbose = std::env::var_os("PAYLOG_MODEL_TALLY").is_some();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let mut world = World::open()?;
        for (i, step) in history.iter().enumerate() {
            world
                .run(step)
                .await
                .map_err(|e| format!("step {i} ({step:?}): {e}"))?;
            // Rebuilding the views every step would dominate the run time: every few
            // steps, and at the end, is enough to catch a projection that drifts.
            if i % 16 == 15 {
                world
                    .check_views()
                    .await
                    .map_err(|e| format!("after step {i}: {e}"))?;
            }
        }
        if verbose {
            eprintln!("{}", world.tally());
        }
        world.finish().await
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_engine_keeps_every_invariant(history in steps(1..=45)) {
        if let Err(failure) = run_history(&history) {
            prop_assert!(false, "{}", failure);
        }
    }

    /// After the sale: histories that start with a shipped order, so settlement
    /// pushes (genuine, announced, forged, repeated) meet one.
    #[test]
    fn after_shipping_the_engine_keeps_every_invariant(history in steps_after_shipping(1..=30)) {
        if let Err(failure) = run_history(&history) {
            prop_assert!(false, "{}", failure);
        }
    }
}
