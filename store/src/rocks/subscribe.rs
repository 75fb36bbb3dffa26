//! `subscribe` on RocksDB: the shared follow loop ([`crate::follow`]) over pages read
//! from the log's column family.
//!
//! The head's `watch` channel is updated by the writer only after a durable batch. The
//! page source holds a `Weak` reference to the store so that a forgotten subscription
//! does not keep the RocksDB directory locked after the store is dropped.

use std::sync::{Arc, Weak};

use futures::stream::BoxStream;

use super::{Shared, read};
use crate::error::StoreError;
use crate::follow::{PageSource, follow};
use crate::types::RecordedEvent;

struct RocksPages {
    shared: Weak<Shared>,
    page: usize,
}

impl PageSource for RocksPages {
    type Head = u64;

    fn position(head: &u64) -> u64 {
        *head
    }

    async fn fetch(&mut self, head: u64, after: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let shared = self.shared.upgrade().ok_or(StoreError::Closed)?;
        let page = self.page;
        // Following the head, the events are usually still in the writer's memory:
        // no RocksDB read, no hop to the blocking pool.
        if let Some(events) = shared.recent.read(head, after, page) {
            return events;
        }
        // RocksDB reads block: off the runtime's threads.
        tokio::task::spawn_blocking(move || read::read_all(&shared.db, head, after, page))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

pub(super) fn subscribe(
    shared: &Arc<Shared>,
    after: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    let source = RocksPages {
        shared: Arc::downgrade(shared),
        page: shared.read_page.max(1),
    };
    follow(source, shared.head.clone(), after)
}
