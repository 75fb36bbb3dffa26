//! An order's history: every event of its stream with its envelope and the state after
//! it, and the state as of an instant.
//!
//! "As of" uses `recorded_at`, the instant the log committed the event: the store keeps
//! it non-decreasing along the log, so the state as of T is the fold of a prefix of the
//! stream, and it answers "what did paylog know at T" (the question an auditor asks).

use chrono::{DateTime, Utc};
use paylog_core::order::{Order, OrderEvent, OrderState};
use paylog_core::{Aggregate, DomainEvent, OrderId};
use paylog_store::EventStore;
use serde::Serialize;
use uuid::Uuid;

use crate::decode::decode_one;
use crate::error::{ProjectionError, Result};

/// Events read per call while loading a stream.
const PAGE: usize = 1000;

/// One event of an order's stream and the order's state right after it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub position: u64,
    pub stream_version: u64,
    pub recorded_at: DateTime<Utc>,
    pub event_type: String,
    /// The schema version as stored (the event below is upcast to the current shape).
    pub schema_version: u16,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub event: DomainEvent,
    /// `None` while the stream holds no `OrderPlaced` (only in a broken log).
    pub state: Option<OrderState>,
}

/// The whole history of one order (no entries: the order does not exist).
#[derive(Debug, Clone, Serialize)]
pub struct OrderHistory {
    pub order_id: OrderId,
    pub entries: Vec<HistoryEntry>,
}

impl OrderHistory {
    /// The state after the last event recorded at or before `at` (`None`: not placed yet).
    pub fn state_as_of(&self, at: DateTime<Utc>) -> Option<&OrderState> {
        self.entries
            .iter()
            .take_while(|e| e.recorded_at <= at)
            .last()
            .and_then(|e| e.state.as_ref())
    }

    /// The state after every event.
    pub fn current(&self) -> Option<&OrderState> {
        self.entries.last().and_then(|e| e.state.as_ref())
    }
}

/// Loads an order's stream and folds it, keeping the state after each event.
pub async fn order_history(store: &dyn EventStore, order_id: OrderId) -> Result<OrderHistory> {
    let stream = paylog_core::streams::order_stream(order_id);
    let mut entries = Vec::new();
    let mut state: Option<OrderState> = None;
    let mut from = 1;
    loop {
        let page = store.read_stream(&stream, from, PAGE).await?;
        let Some(last) = page.last() else { break };
        from = last.stream_version + 1;
        let full = page.len() == PAGE;
        for recorded in page {
            let event = decode_one(&recorded)?;
            let order_event = OrderEvent::try_from(event.clone()).map_err(|e| {
                ProjectionError::Corrupt(format!("position {} in {stream}: {e}", recorded.position))
            })?;
            state = Order::evolve(state, &order_event);
            entries.push(HistoryEntry {
                position: recorded.position,
                stream_version: recorded.stream_version,
                recorded_at: recorded.recorded_at,
                event_type: recorded.event_type,
                schema_version: recorded.schema_version,
                command_id: recorded.command_id,
                correlation_id: recorded.correlation_id,
                causation_id: recorded.causation_id,
                event,
                state: state.clone(),
            });
        }
        if !full {
            break;
        }
    }
    Ok(OrderHistory { order_id, entries })
}

/// The order as paylog knew it at `at` (`None`: not placed by then, or never).
pub async fn order_as_of(
    store: &dyn EventStore,
    order_id: OrderId,
    at: DateTime<Utc>,
) -> Result<Option<OrderState>> {
    Ok(order_history(store, order_id)
        .await?
        .state_as_of(at)
        .cloned())
}
