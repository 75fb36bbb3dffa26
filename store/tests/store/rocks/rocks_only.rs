//! RocksDB-only behaviour: the directory lock.

use paylog_store::{RocksStore, StoreError};

#[test]
fn a_store_cannot_be_opened_twice_at_once() {
    let dir = tempfile::TempDir::new().expect("dir");
    let store = RocksStore::open(dir.path(), Default::default()).expect("open");
    assert!(matches!(
        RocksStore::open(dir.path(), Default::default()),
        Err(StoreError::Backend {
            backend: "rocksdb",
            ..
        })
    ));
    drop(store);
    // Dropping released the directory.
    RocksStore::open(dir.path(), Default::default()).expect("reopen after drop");
}
