//! [`open`] and [`open_read_only`]: one entry point for every backend, chosen by a
//! location string, so a composition root needs no backend-specific code.

use std::path::PathBuf;
use std::sync::Arc;

use crate::EventStore;
use crate::error::StoreError;
use crate::nats::{NatsOptions, NatsStore};
use crate::rocks::{RocksStore, StoreOptions};

/// Where a log lives.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A RocksDB directory on this machine.
    Rocks(PathBuf),
    /// A JetStream stream on a NATS cluster.
    Nats(NatsOptions),
}

impl StoreLocation {
    /// `nats://host:port[,host:port…]` is a NATS cluster; anything else a directory.
    pub fn parse(location: &str) -> Result<Self, StoreError> {
        if location.starts_with("nats://") {
            return NatsOptions::from_url(location).map(StoreLocation::Nats);
        }
        if location.is_empty() {
            return Err(StoreError::InvalidRequest("an empty store location".into()));
        }
        Ok(StoreLocation::Rocks(PathBuf::from(location)))
    }
}

/// Opens the log at `location` for reading and writing, with the backend's defaults.
pub async fn open(location: StoreLocation) -> Result<Arc<dyn EventStore>, StoreError> {
    match location {
        StoreLocation::Rocks(path) => {
            let store = tokio::task::spawn_blocking(move || {
                RocksStore::open(path, StoreOptions::default())
            })
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
            Ok(Arc::new(store))
        }
        StoreLocation::Nats(options) => Ok(Arc::new(NatsStore::open(options).await?)),
    }
}

/// Opens an existing log at `location` for reading only: a snapshot as of opening,
/// allowed beside a running writer.
pub async fn open_read_only(location: StoreLocation) -> Result<Arc<dyn EventStore>, StoreError> {
    match location {
        StoreLocation::Rocks(path) => {
            let store = tokio::task::spawn_blocking(move || RocksStore::open_read_only(path))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
            Ok(Arc::new(store))
        }
        StoreLocation::Nats(options) => Ok(Arc::new(NatsStore::open_read_only(options).await?)),
    }
}
