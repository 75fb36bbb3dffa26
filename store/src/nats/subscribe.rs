//! `subscribe`: catch up from a position in bounded pages, then follow the tip.
//!
//! The stream wakes on the tip's `watch` channel, which moves when this process commits
//! or when the follower task sees another process's commit; it holds a `Weak` reference
//! to the store so a forgotten subscription does not keep the connection alive.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::{Shared, Tip, read};
use crate::error::StoreError;
use crate::types::RecordedEvent;

struct Subscription {
    shared: Weak<Shared>,
    tip: watch::Receiver<Tip>,
    /// The last position handed out.
    after: u64,
    /// The JetStream sequence to read next, once known (saves a search per page).
    next_seq: Option<u64>,
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
        tip: shared.tip.clone(),
        after,
        next_seq: None,
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
    async fn next_item(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                self.after = event.position;
                return Some(Ok(event));
            }
            // Mark the tip as seen before comparing, so a commit landing between the
            // comparison and `changed()` still wakes us.
            let tip = *self.tip.borrow_and_update();
            if self.after < tip.position {
                match self.fetch_page(tip).await {
                    Ok(()) => continue,
                    Err(e) => return self.fail(e),
                }
            }
            if self.tip.changed().await.is_err() {
                // The writer and the follower are gone: the store was closed or dropped.
                return self.fail(StoreError::Closed);
            }
        }
    }

    async fn fetch_page(&mut self, tip: Tip) -> Result<(), StoreError> {
        let shared = self.shared.upgrade().ok_or(StoreError::Closed)?;
        let (events, next_seq) =
            read::read_all(&shared, tip, self.after, self.page, self.next_seq).await?;
        if events.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "no event after position {} although the tip is {}",
                self.after, tip.position
            )));
        }
        self.next_seq = next_seq;
        self.buffer.extend(events);
        Ok(())
    }

    fn fail(&mut self, error: StoreError) -> Option<Result<RecordedEvent, StoreError>> {
        self.finished = true;
        Some(Err(error))
    }
}
