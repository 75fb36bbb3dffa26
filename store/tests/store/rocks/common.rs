//! The contract suite's view of the RocksDB backend: a store in a fresh temp dir.

use paylog_store::{Durability, RocksStore, StoreError};
use tempfile::TempDir;

pub use crate::requests::*;
pub use paylog_store::StoreOptions;

/// Where a store lives; keep it alive as long as the store.
pub type Dir = TempDir;

pub async fn new_dir() -> Dir {
    TempDir::new().expect("temp dir")
}

/// A store in a fresh temp dir; keep the `TempDir` alive as long as the store.
pub async fn temp_store() -> (Dir, RocksStore) {
    let dir = new_dir().await;
    let store = open(&dir).await;
    (dir, store)
}

pub async fn open(dir: &Dir) -> RocksStore {
    open_with(dir, StoreOptions::default()).await
}

pub async fn open_with(dir: &Dir, options: StoreOptions) -> RocksStore {
    RocksStore::open(dir.path(), options).expect("open store")
}

pub async fn open_read_only(dir: &Dir) -> Result<RocksStore, StoreError> {
    RocksStore::open_read_only(dir.path())
}

/// A read-only open of a directory that holds no store.
pub async fn missing_read_only() -> Result<RocksStore, StoreError> {
    let empty = new_dir().await;
    RocksStore::open_read_only(empty.path().join("nothing"))
}

pub fn buffered() -> StoreOptions {
    StoreOptions {
        durability: Durability::Buffered,
        ..StoreOptions::default()
    }
}
