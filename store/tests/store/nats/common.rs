//! The contract suite's view of the NATS backend: a fresh JetStream stream on a 3-node
//! loopback cluster (shared by the tests running at the same time).

use std::sync::Arc;

use paylog_store::{NatsOptions, NatsStore, StoreError};

use crate::cluster::{self, Cluster};
pub use crate::requests::*;

/// What the tests tune; the NATS store has no durability knob (every ack is a quorum's).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub read_page: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            read_page: NatsOptions::new(Vec::new()).read_page,
        }
    }
}

/// Where a store lives: a stream of its own on the shared cluster.
pub struct Dir {
    cluster: Arc<Cluster>,
    stream: String,
    prefix: String,
}

pub async fn new_dir() -> Dir {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Dir {
        cluster: cluster::shared().await,
        stream: format!("T{id}"),
        prefix: format!("t{id}"),
    }
}

pub fn options(dir: &Dir, tuning: &StoreOptions) -> NatsOptions {
    NatsOptions {
        stream: dir.stream.clone(),
        subject_prefix: dir.prefix.clone(),
        read_page: tuning.read_page,
        ..NatsOptions::new(dir.cluster.urls.clone())
    }
}

pub async fn temp_store() -> (Dir, NatsStore) {
    let dir = new_dir().await;
    let store = open(&dir).await;
    (dir, store)
}

pub async fn open(dir: &Dir) -> NatsStore {
    open_with(dir, StoreOptions::default()).await
}

pub async fn open_with(dir: &Dir, tuning: StoreOptions) -> NatsStore {
    NatsStore::open(options(dir, &tuning))
        .await
        .expect("open store")
}

pub async fn open_read_only(dir: &Dir) -> Result<NatsStore, StoreError> {
    NatsStore::open_read_only(options(dir, &StoreOptions::default())).await
}

/// A read-only open of a stream that does not exist.
pub async fn missing_read_only() -> Result<NatsStore, StoreError> {
    open_read_only(&new_dir().await).await
}

pub fn buffered() -> StoreOptions {
    StoreOptions::default()
}
