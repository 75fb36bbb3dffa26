//! [`StoreOptions`] and [`Durability`], and the RocksDB tuning derived from them.

use rocksdb::{ColumnFamilyDescriptor, Options, WriteOptions};

use super::codec::{ALL_CFS, CF_COMMANDS, CF_HEADS};

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The batch's WAL record is fsynced before any caller in it is answered. Survives
    /// process crashes and power loss. The default; the only mode for real money.
    #[default]
    Sync,
    /// The WAL record is written to the OS (survives a crash of the process) but not
    /// fsynced: a power loss or kernel crash can lose acknowledged appends. For tests,
    /// demos and benchmarks that want to show the cost of the fsync.
    Buffered,
}

/// How to open a [`RocksStore`](super::RocksStore).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub durability: Durability,
    /// Most append requests in one group-commit batch.
    pub max_batch_requests: usize,
    /// The writer stops draining the queue once a batch holds this many events.
    pub max_batch_events: usize,
    /// Capacity of the writer's queue; callers wait (asynchronously) when it is full,
    /// which is the store's back-pressure.
    pub queue_capacity: usize,
    /// Page size of `subscribe`'s catch-up reads (events held in memory per subscriber).
    pub read_page: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Sync,
            max_batch_requests: 1024,
            max_batch_events: 16 * 1024,
            queue_capacity: 4096,
            read_page: 512,
        }
    }
}

impl StoreOptions {
    pub(super) fn write_options(&self) -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(self.durability == Durability::Sync);
        // Never `disable_wal`: without the WAL, Buffered would lose data on a process crash.
        options
    }
}

pub(super) fn db_options() -> Options {
    let mut options = Options::default();
    super::memory::shared().apply_to_db(&mut options);
    // These are also the `default` column family's options: it reads through the
    // shared cache like the others rather than a block cache of its own.
    options.set_block_based_table_factory(&super::memory::shared().table_options());
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_keep_log_file_num(10);
    options
}

/// One descriptor per column family. `heads` and `commands` are read by point lookup on
/// every append, and most `commands` lookups miss (a command is new): bloom filters make
/// a miss cost no disk read.
pub(super) fn column_families() -> Vec<ColumnFamilyDescriptor> {
    ALL_CFS
        .iter()
        .map(|name| {
            let mut options = Options::default();
            // Every column family reads through the process's one block cache.
            let mut table = super::memory::shared().table_options();
            if *name == CF_HEADS || *name == CF_COMMANDS {
                table.set_bloom_filter(10.0, false);
            }
            options.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(*name, options)
        })
        .collect()
}
