//! Audits for admins and operators: an order's history, the raw log page by page,
//! daily sales, and how far the views are behind the log.
//!
//! The history comes from the same library calls as `paylog audit order`
//! ([`paylog_projections::audit`]) and the log page from the same store reads as
//! `paylog events`, so the CLI and the API never disagree about what the log says.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::OrderId;
use paylog_core::order::OrderState;
use paylog_projections::audit::{HistoryEntry, order_history};
use paylog_projections::{DailySales, Views};
use paylog_store::{EventStore, RecordedEvent};

use crate::error::Error;

/// A page of the log and the head when it was read.
#[derive(Debug)]
pub struct LogPage {
    /// The head read *before* the page: the page may run past it, never stop short.
    pub head: u64,
    pub events: Vec<RecordedEvent>,
}

/// An order's history, whole or as paylog knew it at an instant.
#[derive(Debug)]
pub struct History {
    /// Every event (up to the instant), each with the state after it.
    pub entries: Vec<HistoryEntry>,
    /// The order's state now (or at the instant; `None` if it did not exist yet).
    pub state: Option<OrderState>,
}

/// The audit service; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn EventStore>,
    views: Views,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("head", &self.store.head())
            .finish_non_exhaustive()
    }
}

impl Audit {
    pub fn new(store: Arc<dyn EventStore>, views: Views) -> Self {
        Self { store, views }
    }

    /// Every event of an order with the state after each, all of them or those
    /// recorded up to `as_of`; `None` for an unknown order.
    pub async fn order_history(
        &self,
        order_id: OrderId,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<History>, Error> {
        let mut history = order_history(&*self.store, order_id).await?;
        if history.entries.is_empty() {
            return Ok(None);
        }
        let state = match as_of {
            Some(at) => {
                let then = history.state_as_of(at).cloned();
                // Keep exactly the prefix `state_as_of` folded.
                let known = history
                    .entries
                    .iter()
                    .take_while(|e| e.recorded_at <= at)
                    .count();
                history.entries.truncate(known);
                then
            }
            None => history.current().cloned(),
        };
        Ok(Some(History {
            entries: history.entries,
            state,
        }))
    }

    /// Up to `limit` events after position `after`.
    pub async fn log_page(&self, after: u64, limit: usize) -> Result<LogPage, Error> {
        let head = self.store.head();
        let events = self.store.read_all(after, limit).await?;
        Ok(LogPage { head, events })
    }

    /// Up to `limit` events of one stream from `from_version` on (the console's log
    /// by stream).
    pub async fn stream_page(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        Ok(self
            .store
            .read_stream(stream_id, from_version, limit)
            .await?)
    }

    /// Sales per Asia/Shanghai day from `from` to `to` inclusive (quiet days left out).
    pub fn daily_sales(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DailySales>, Error> {
        if from > to {
            return Err(Error::BadInput {
                code: "invalid_range",
                message: format!("from ({from}) is after to ({to})"),
            });
        }
        // The views refuse ranges that are too long (400 invalid_argument).
        Ok(self.views.daily_sales(from, to)?)
    }

    /// The log's head and the views' position: the views lag by the difference.
    pub fn positions(&self) -> (u64, u64) {
        (self.store.head(), self.views.position())
    }
}
