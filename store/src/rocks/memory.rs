//! One memory budget for every RocksDB database of a process: the log's and the
//! views'. Without it each column family grows its own memtables (64 MiB each by
//! default) and each table factory its own block cache, so a server's RSS grows with
//! the number of column families and the size of the log rather than with a setting.
//!
//! The budget is one LRU block cache shared by every column family of every database
//! opened in the process, and one `WriteBufferManager` that charges all memtables to
//! that same cache: memtables and cached blocks together stay within the budget (RocksDB
//! flushes the largest memtable when memtables alone would pass half of it).
//!
//! It is configured once, before the first database is opened ([`configure`]), from
//! `paylog serve`'s `--memory-budget-mib`; anything that opens a database without
//! configuring it (a CLI command, a test) gets [`DEFAULT_BUDGET_BYTES`].

use std::sync::OnceLock;

use rocksdb::{BlockBasedOptions, Cache, Options, WriteBufferManager};

/// The default budget: block cache and memtables of every database, together.
pub const DEFAULT_BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// The smallest budget accepted: below it RocksDB flushes tiny memtables constantly.
pub const MIN_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// The process's RocksDB memory: a shared block cache and write buffer manager.
#[derive(Clone)]
pub struct Memory {
    cache: Cache,
    write_buffers: WriteBufferManager,
    budget_bytes: usize,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("budget_bytes", &self.budget_bytes)
            .finish_non_exhaustive()
    }
}

static MEMORY: OnceLock<Memory> = OnceLock::new();

impl Memory {
    fn new(budget_bytes: usize) -> Self {
        let budget_bytes = budget_bytes.max(MIN_BUDGET_BYTES);
        let cache = Cache::new_lru_cache(budget_bytes);
        // Memtables may take half of the budget; their memory is charged to the cache,
        // which evicts blocks to make room, so the two never add up to more than it.
        // No stall: a write waits for nothing but the flush RocksDB schedules itself.
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            budget_bytes / 2,
            false,
            cache.clone(),
        );
        Self {
            cache,
            write_buffers,
            budget_bytes,
        }
    }

    /// The budget in force.
    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    /// Applies the shared write buffer manager to a database's options.
    pub fn apply_to_db(&self, options: &mut Options) {
        options.set_write_buffer_manager(&self.write_buffers);
    }

    /// Block-based table options reading through the shared cache.
    pub fn table_options(&self) -> BlockBasedOptions {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        // Index and filter blocks live in the cache too, charged to the budget: held
        // by each open table file instead, they grow with the size of the log.
        // Level-0's stay pinned, since every read consults them.
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table
    }
}

/// Sets the process's budget; `false` if a database was already opened (or the budget
/// already set), in which case the budget in force stays.
pub fn configure(budget_bytes: usize) -> bool {
    MEMORY.set(Memory::new(budget_bytes)).is_ok()
}

/// The process's budget ([`DEFAULT_BUDGET_BYTES`] unless [`configure`]d first).
pub fn shared() -> &'static Memory {
    MEMORY.get_or_init(|| Memory::new(DEFAULT_BUDGET_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_below_the_minimum_is_raised_to_it() {
        assert_eq!(Memory::new(1).budget_bytes(), MIN_BUDGET_BYTES);
        assert_eq!(
            Memory::new(DEFAULT_BUDGET_BYTES).budget_bytes(),
            DEFAULT_BUDGET_BYTES
        );
    }
}
