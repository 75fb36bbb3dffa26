//! The event store's contract suite, run against every backend: RocksDB in a temp dir and
//! NATS JetStream on a 3-node loopback cluster the tests start themselves.
//!
//! One test binary (RocksDB is linked once). The same test files are compiled once per
//! backend, each time beside that backend's `common` module (opening a store, a fresh
//! location), so both backends pass exactly the same assertions.

// Test helpers may panic on a broken fixture: a failed set-up is a failed test
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Loading each test file once per backend is the point (see above), not a mistake.
#![allow(clippy::duplicate_mod)]

mod cluster;
mod requests;

mod rocks {
    mod common;

    #[path = "../append.rs"]
    mod append;
    #[path = "../idempotency.rs"]
    mod idempotency;
    #[path = "../read.rs"]
    mod read;
    #[path = "../reopen.rs"]
    mod reopen;
    mod rocks_only;
    #[path = "../subscribe.rs"]
    mod subscribe;
}

mod nats {
    mod common;

    #[path = "../append.rs"]
    mod append;
    #[path = "../idempotency.rs"]
    mod idempotency;
    #[path = "../read.rs"]
    mod read;
    #[path = "../reopen.rs"]
    mod reopen;
    // The NATS store has fewer tuning knobs: `StoreOptions { read_page, ..buffered() }`
    // names every field there.
    #[allow(clippy::needless_update)]
    #[path = "../subscribe.rs"]
    mod subscribe;

    mod faults;
}
