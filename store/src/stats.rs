//! [`StoreStats`]: counters every backend keeps, for benchmarks and metrics.

/// Counters since the store was opened, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Batches written: RocksDB `WriteBatch`es (one WAL write, and one fsync under
    /// `Durability::Sync`, each), or atomic JetStream batches.
    pub batches: u64,
    /// Append requests committed (duplicates and conflicts not counted).
    pub requests: u64,
    /// Events committed.
    pub events: u64,
    /// Appends answered as duplicates of an already-committed command.
    pub duplicates: u64,
    /// Appends rejected with an expected-version conflict.
    pub conflicts: u64,
}

impl StoreStats {
    /// Mean number of committed requests per batch: the group-commit factor.
    pub fn mean_batch_requests(&self) -> f64 {
        if self.batches == 0 {
            return 0.0;
        }
        self.requests as f64 / self.batches as f64
    }
}
