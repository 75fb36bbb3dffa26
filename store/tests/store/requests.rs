//! Helpers shared by the integration tests: opening a store, building requests.

use paylog_store::{
    AppendRequest, Durability, ExpectedVersion, NewEvent, RocksStore, StoreOptions, StreamAppend,
};
use tempfile::TempDir;
use uuid::Uuid;

/// A store in a fresh temp dir; keep the `TempDir` alive as long as the store.
pub fn temp_store() -> (TempDir, RocksStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = open(&dir);
    (dir, store)
}

pub fn open(dir: &TempDir) -> RocksStore {
    open_with(dir, StoreOptions::default())
}

pub fn open_with(dir: &TempDir, options: StoreOptions) -> RocksStore {
    RocksStore::open(dir.path(), options).expect("open store")
}

pub fn buffered() -> StoreOptions {
    StoreOptions {
        durability: Durability::Buffered,
        ..StoreOptions::default()
    }
}

pub fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        schema_version: 1,
        payload: payload.to_vec(),
    }
}

pub fn stream(id: &str, expected: ExpectedVersion, n: usize) -> StreamAppend {
    StreamAppend {
        stream_id: id.into(),
        expected,
        events: (0..n)
            .map(|i| event("Happened", format!("{id}#{i}").as_bytes()))
            .collect(),
    }
}

pub fn request(streams: Vec<StreamAppend>) -> AppendRequest {
    AppendRequest {
        command_id: Uuid::new_v4(),
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        streams,
    }
}

/// A one-stream request with `n` events.
pub fn single(id: &str, expected: ExpectedVersion, n: usize) -> AppendRequest {
    request(vec![stream(id, expected, n)])
}
