//! `subscribe` on NATS: the shared follow loop ([`crate::follow`]) over pages read
//! from the JetStream stream.
//!
//! The tip's `watch` channel moves when this process commits or when the follower task
//! sees another process's commit. The page source holds a `Weak` reference to the
//! store so a forgotten subscription does not keep the connection alive.

use std::sync::{Arc, Weak};

use futures::stream::BoxStream;

use super::{Shared, Tip, read};
use crate::error::StoreError;
use crate::follow::{PageSource, follow};
use crate::types::RecordedEvent;

struct NatsPages {
    shared: Weak<Shared>,
    page: usize,
    /// The JetStream sequence to read next, once known (saves a search per page).
    next_seq: Option<u64>,
}

impl PageSource for NatsPages {
    type Head = Tip;

    fn position(tip: &Tip) -> u64 {
        tip.position
    }

    async fn fetch(&mut self, tip: Tip, after: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let shared = self.shared.upgrade().ok_or(StoreError::Closed)?;
        let (events, next_seq) =
            read::read_all(&shared, tip, after, self.page, self.next_seq).await?;
        self.next_seq = next_seq;
        Ok(events)
    }
}

pub(super) fn subscribe(
    shared: &Arc<Shared>,
    after: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    let source = NatsPages {
        shared: Arc::downgrade(shared),
        page: shared.read_page.max(1),
        next_seq: None,
    };
    follow(source, shared.tip.clone(), after)
}
