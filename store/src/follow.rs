//! The one catch-up-then-follow loop behind both backends' `subscribe`.
//!
//! A subscription hands out events in bounded pages until it reaches the head, then
//! waits on the backend's `watch` channel for the head to move; there is no polling.
//! Only how a page is read differs between RocksDB and NATS ([`PageSource`]), so the
//! loop, its wake-up ordering and its end-of-stream rules live here once.

use std::collections::VecDeque;
use std::future::Future;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::types::RecordedEvent;

/// How a backend reads one page of the log for a subscription.
pub(crate) trait PageSource: Send + 'static {
    /// What the backend's `watch` channel carries: a position, or more.
    type Head: Copy + Send + Sync + 'static;

    /// The log position `head` stands for.
    fn position(head: &Self::Head) -> u64;

    /// At most one page of the events after `after`, none above `head`. The source
    /// holds a weak reference to its store and answers [`StoreError::Closed`] once
    /// the store is gone, so a forgotten subscription keeps nothing open.
    fn fetch(
        &mut self,
        head: Self::Head,
        after: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;
}

struct Follow<S: PageSource> {
    source: S,
    head: watch::Receiver<S::Head>,
    /// The last position handed out.
    after: u64,
    /// At most one page of events; this is what bounds memory for a slow consumer.
    buffer: VecDeque<RecordedEvent>,
    finished: bool,
}

/// The events after `after`, then every event appended later, until the store closes
/// or a read fails (the error is the stream's last item).
pub(crate) fn follow<S: PageSource>(
    source: S,
    head: watch::Receiver<S::Head>,
    after: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    let state = Follow {
        source,
        head,
        after,
        buffer: VecDeque::new(),
        finished: false,
    };
    futures::stream::unfold(state, |mut sub| async move {
        let item = sub.next_item().await?;
        Some((item, sub))
    })
    .boxed()
}

impl<S: PageSource> Follow<S> {
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
            if self.after < S::position(&head) {
                match self.fetch_page(head).await {
                    Ok(()) => continue,
                    Err(e) => return self.fail(e),
                }
            }
            if self.head.changed().await.is_err() {
                // Every sender is gone: the store was closed or dropped.
                return self.fail(StoreError::Closed);
            }
        }
    }

    async fn fetch_page(&mut self, head: S::Head) -> Result<(), StoreError> {
        let events = self.source.fetch(head, self.after).await?;
        if events.is_empty() {
            // Below the head there must be events: an empty page means a hole in the log.
            return Err(StoreError::Corrupt(format!(
                "no event after position {} although the head is {}",
                self.after,
                S::position(&head)
            )));
        }
        debug_assert!(events.iter().all(|e| e.position > self.after));
        self.buffer.extend(events);
        Ok(())
    }

    fn fail(&mut self, error: StoreError) -> Option<Result<RecordedEvent, StoreError>> {
        self.finished = true;
        Some(Err(error))
    }
}
