//! Integration tests of the RocksDB event store, each against a real store in a temp dir.
//!
//! One test binary with a module per concern, so RocksDB is linked once.

mod append;
mod common;
mod idempotency;
mod read;
mod reopen;
mod subscribe;
