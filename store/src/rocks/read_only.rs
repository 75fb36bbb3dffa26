//! Read-only opens: audits, exports and `paylog events` beside a running server.
//!
//! RocksDB lets any number of read-only instances open a directory that a writer holds
//! locked; they replay the WAL into their own memtable, so they see every event that
//! was durable at the moment of opening, and nothing after it. A read-only store has
//! no writer: `append` answers `Closed`, the head never moves, and a subscription
//! ends with `Closed` once it has caught up.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rocksdb::DB;
use tokio::sync::watch;

use super::{Counters, RocksStore, Shared, has_layout_marker, options, recover_tail};
use crate::error::StoreError;

impl RocksStore {
    /// Opens an existing store for reading only, even while another process writes it.
    /// Fails if there is no store at `path`. Blocking.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = DB::open_cf_descriptors_read_only(
            &options::db_options(),
            path.as_ref(),
            options::column_families(),
            false,
        )?;
        if !has_layout_marker(&db)? {
            return Err(StoreError::Corrupt("no store layout marker".into()));
        }
        let tail = recover_tail(&db)?;
        let head = tail.map_or(0, |t| t.position);
        // The sender is dropped at once: the head of a read-only view never moves.
        let (_, head_rx) = watch::channel(head);
        let shared = Arc::new(Shared {
            db,
            head: head_rx,
            stats: Counters::default(),
            read_page: super::StoreOptions::default().read_page,
            recent: super::tail::Recent::default(),
        });
        Ok(RocksStore {
            shared,
            tx: None,
            closed: AtomicBool::new(true),
            writer: Mutex::new(None),
        })
    }
}
