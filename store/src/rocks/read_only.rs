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

use super::codec::{CF_META, LAYOUT_VERSION, META_LAYOUT_KEY};
use super::{Counters, RocksStore, Shared, options, read};
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
        let meta = read::cf(&db, CF_META)?;
        match db.get_cf(meta, META_LAYOUT_KEY)? {
            Some(version) if version == [LAYOUT_VERSION] => {}
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown store layout {other:?}, this build reads layout {LAYOUT_VERSION}"
                )));
            }
        }
        let tail = read::read_tail(&db)?;
        if let Some(tail) = &tail {
            read::check_tail(&db, tail)?;
        }
        let head = tail.map_or(0, |t| t.position);
        // The sender is dropped at once: the head of a read-only view never moves.
        let (_, head_rx) = watch::channel(head);
        let shared = Arc::new(Shared {
            db,
            head: head_rx,
            stats: Counters::default(),
            read_page: super::StoreOptions::default().read_page,
        });
        Ok(RocksStore {
            shared,
            tx: None,
            closed: AtomicBool::new(true),
            writer: Mutex::new(None),
        })
    }
}
