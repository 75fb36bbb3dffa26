//! Integration tests of the RocksDB event store, each against a real store in a temp dir.
//!
//! One test binary with a module per concern, so RocksDB is linked once.

// Test helpers may panic on a broken fixture: a failed set-up is a failed test
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod append;
mod common;
mod idempotency;
mod read;
mod reopen;
mod subscribe;
