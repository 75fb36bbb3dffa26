//! `subscribe`: catch up from a position in bounded pages, then follow the head.
//!
//! The stream wakes on the head's `watch` channel, which the writer updates only after
//! a durable batch; there is no polling. It holds a `Weak` reference to the store so that
//! a forgotten subscription does not keep the RocksDB directory locked after the store
//! is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::{Shared, read};
use crate::error::StoreError;
use crate::types::RecordedEvent;

struct Subscription {
    shared: Weak<Shared>,
    head: watch::Receiver<u64>,
    /// The last position handed out.
    after: u64,
    /// At most one page of events; this is what bounds memory for a slow consumer.
    buffer: VecDeque<RecordedEvent>,
    page: usize,
    finished: bool,
}

pub(super) fn subscribe(
    shared: &Arc<Shared>,
    after: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    let state = Subscription {
        shared: Arc::downgrade(shared),
        head: shared.head.clone(),
        after,
        buffer: VecDeque::new(),
        page: shared.read_page.max(1),
        finished: false,
    };
    futures::stream::unfold(state, |mut sub| async move {
        let item = sub.next_item().await?;
        Some((item, sub))
    })
    .boxed()
}

impl Subscription {
    /// The next event, or an error after which the stream ends (`None`).
    async fn next_item(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                self.after = event.position;
                return Some(Ok(event));
            }
            // Mark the current head as seen *before* comparing, so an append landing
            // between the comparison and `changed()` still wakes us.
            let head = *self.head.borrow_and_update();
            if self.after < head {
                match self.fetch_page(head).await {
                    Ok(()) => continue,
                    Err(e) => return self.fail(e),
                }
            }
            if self.head.changed().await.is_err() {
                // The writer is gone: the store was closed or dropped.
                return self.fail(StoreError::Closed);
            }
        }
    }

    async fn fetch_page(&mut self, head: u64) -> Result<(), StoreError> {
        let shared = self.shared.upgrade().ok_or(StoreError::Closed)?;
        let (after, page) = (self.after, self.page);
        // Following the head, the events are usually still in the writer's memory:
        // no RocksDB read, no hop to the blocking pool.
        if let Some(events) = shared.recent.read(head, after, page) {
            self.buffer.extend(events?);
            return Ok(());
        }
        let events =
            tokio::task::spawn_blocking(move || read::read_all(&shared.db, head, after, page))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        if events.is_empty() {
            // Below the head there must be events: an empty page means a hole in the log.
            return Err(StoreError::Corrupt(format!(
                "no event after position {after} although the head is {head}"
            )));
        }
        self.buffer.extend(events);
        Ok(())
    }

    fn fail(&mut self, error: StoreError) -> Option<Result<RecordedEvent, StoreError>> {
        self.finished = true;
        Some(Err(error))
    }
}
