//! `audit verify`: the log's own integrity, in one pass over the whole log.
//!
//! Checked: positions gapless from 1; `recorded_at` never going backwards; stream
//! versions contiguous from 1; every event decoding (old schema versions upcast); every
//! event in a stream of its own aggregate and id; and the domain's invariants after
//! every event — an order placed once and before anything else, paid at most once and
//! by exactly its total, refunds never above the payment, stock arithmetic exact and
//! never negative, users and claims registered once.
//!
//! Memory: one small record per stream (its version and its aggregate state), never the
//! events themselves, which are read in batches.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use paylog_core::order::{Order, OrderEvent, OrderState};
use paylog_core::product::{MAX_ADJUSTMENT_REASON_CHARS, Product, ProductEvent, ProductState};
use paylog_core::streams::StreamRef;
use paylog_core::{Aggregate, DomainEvent};
use paylog_store::{EventStore, RecordedEvent};
use serde::Serialize;

use crate::decode::decode_batch;
use crate::error::Result;

const BATCH: usize = 4096;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    pub position: u64,
    pub stream_id: String,
    pub message: String,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "position {} ({}): {}",
            self.position, self.stream_id, self.message
        )
    }
}

/// What a verify run saw and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub last_position: u64,
    pub streams: u64,
    pub users: u64,
    pub products: u64,
    pub orders: u64,
    /// Events per type.
    pub event_types: BTreeMap<String, u64>,
    /// Events stored at an older schema version (read through an upcast).
    pub upcast: u64,
    /// Every breach found, up to the run's limit.
    pub breaches: Vec<Breach>,
    /// All breaches found, including those past the limit.
    pub breach_count: u64,
}

impl VerifyReport {
    /// No breach at all.
    pub fn is_sound(&self) -> bool {
        self.breach_count == 0
    }
}

#[derive(Default)]
enum Aggregated {
    #[default]
    Other,
    Order {
        state: Box<Option<OrderState>>,
        violations: Vec<String>,
    },
    Product(Option<ProductState>),
}

#[derive(Default)]
struct Track {
    version: u64,
    aggregate: Aggregated,
}

struct Verifier {
    report: VerifyReport,
    max_breaches: usize,
    streams: HashMap<String, Track>,
    last_recorded_at: Option<DateTime<Utc>>,
}

/// Reads the whole log and checks it. `progress(position, head)` is called per batch.
/// Keeps at most `max_breaches` breaches in the report (all are counted).
pub async fn verify_log(
    store: &dyn EventStore,
    max_breaches: usize,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<VerifyReport> {
    let mut verifier = Verifier {
        report: VerifyReport::default(),
        max_breaches,
        streams: HashMap::new(),
        last_recorded_at: None,
    };
    let mut after = 0;
    loop {
        let batch = store.read_all(after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        let decoded: Vec<_> = match decode_batch(&batch) {
            Ok(events) => events.into_iter().map(Ok).collect(),
            // Rare: decode one by one to report each failure at its position.
            Err(_) => batch.iter().map(crate::decode::decode_one).collect(),
        };
        for (recorded, event) in batch.iter().zip(decoded) {
            verifier.check(recorded, event.map_err(|e| e.to_string()));
        }
        progress(after, store.head().max(after));
    }
    verifier.report.streams = verifier.streams.len() as u64;
    Ok(verifier.report)
}

impl Verifier {
    fn breach(&mut self, recorded: &RecordedEvent, message: String) {
        self.report.breach_count += 1;
        if self.report.breaches.len() < self.max_breaches {
            self.report.breaches.push(Breach {
                position: recorded.position,
                stream_id: recorded.stream_id.clone(),
                message,
            });
        }
    }

    fn check(&mut self, recorded: &RecordedEvent, event: Result<DomainEvent, String>) {
        let report = &mut self.report;
        report.events += 1;
        *report
            .event_types
            .entry(recorded.event_type.clone())
            .or_default() += 1;
        let expected = report.last_position + 1;
        report.last_position = recorded.position;
        if recorded.position != expected {
            self.breach(recorded, format!("position gap: expected {expected}"));
        }
        if self
            .last_recorded_at
            .is_some_and(|t| recorded.recorded_at < t)
        {
            self.breach(recorded, "recorded_at goes backwards".to_owned());
        }
        self.last_recorded_at = Some(recorded.recorded_at);

        let mut track = self.streams.remove(&recorded.stream_id).unwrap_or_default();
        if recorded.stream_version != track.version + 1 {
            let message = format!(
                "stream version {} follows {}",
                recorded.stream_version, track.version
            );
            self.breach(recorded, message);
        }
        track.version = recorded.stream_version;
        match event {
            Ok(event) => {
                let upcast = paylog_core::codec::EVENT_TYPES
                    .iter()
                    .any(|(name, v)| *name == recorded.event_type && recorded.schema_version < *v);
                if upcast {
                    self.report.upcast += 1;
                }
                self.check_domain(recorded, event, &mut track);
            }
            Err(message) => self.breach(recorded, message),
        }
        self.streams.insert(recorded.stream_id.clone(), track);
    }

    fn check_domain(&mut self, recorded: &RecordedEvent, event: DomainEvent, track: &mut Track) {
        let Some(stream) = StreamRef::parse(&recorded.stream_id) else {
            return self.breach(recorded, "not a paylog stream name".to_owned());
        };
        match (stream, event) {
            (StreamRef::Order(id), DomainEvent::Order(e)) => {
                if crate::apply::orders::order_id(&e) != id {
                    return self.breach(recorded, "event of another order".to_owned());
                }
                self.check_order(recorded, &e, track);
            }
            (StreamRef::Product(id), DomainEvent::Product(e)) => {
                self.check_product(recorded, id, &e, track);
            }
            (StreamRef::User(id), DomainEvent::User(e)) => {
                let paylog_core::user::UserEvent::UserRegistered(r) = &e;
                if r.user_id != id {
                    self.breach(recorded, "event of another user".to_owned());
                }
                if track.version > 1 {
                    self.breach(recorded, "user registered twice".to_owned());
                } else {
                    self.report.users += 1;
                }
            }
            (StreamRef::Username(_) | StreamRef::OpenId(_), DomainEvent::Claim(_)) => {
                if track.version > 1 {
                    self.breach(recorded, "claimed twice".to_owned());
                }
            }
            (_, event) => {
                let message = format!("{} does not belong in this stream", event.event_type());
                self.breach(recorded, message);
            }
        }
    }

    fn check_order(&mut self, recorded: &RecordedEvent, event: &OrderEvent, track: &mut Track) {
        let (state, seen) = match std::mem::take(&mut track.aggregate) {
            Aggregated::Order { state, violations } => (*state, violations),
            _ => (None, Vec::new()),
        };
        match (&state, event) {
            (None, OrderEvent::OrderPlaced(_)) => self.report.orders += 1,
            (None, _) => self.breach(recorded, "event before OrderPlaced".to_owned()),
            (Some(_), OrderEvent::OrderPlaced(_)) => {
                self.breach(recorded, "order placed twice".to_owned());
            }
            (Some(order), OrderEvent::PaymentConfirmed(_)) if order.payment.is_some() => {
                self.breach(recorded, "order paid twice".to_owned());
            }
            _ => {}
        }
        let state = Order::evolve(state, event);
        let violations = state
            .as_ref()
            .map(OrderState::invariant_violations)
            .unwrap_or_default();
        // Report a violation when it appears, not again after every later event.
        for violation in violations.iter().filter(|v| !seen.contains(v)) {
            self.breach(recorded, violation.clone());
        }
        track.aggregate = Aggregated::Order {
            state: Box::new(state),
            violations,
        };
    }

    fn check_product(
        &mut self,
        recorded: &RecordedEvent,
        id: paylog_core::ProductId,
        event: &ProductEvent,
        track: &mut Track,
    ) {
        let state = match std::mem::take(&mut track.aggregate) {
            Aggregated::Product(state) => state,
            _ => None,
        };
        let stock = state.as_ref().map(|p| p.stock);
        let (event_id, expected, stock_after) = match event {
            ProductEvent::ProductCreated(e) => {
                if stock.is_some() {
                    self.breach(recorded, "product created twice".to_owned());
                } else {
                    self.report.products += 1;
                }
                (e.product_id, Some(e.stock), e.stock)
            }
            ProductEvent::StockAdjusted(e) => {
                // Core refuses any other reason; one in the log was not decided by it.
                let reason = e.reason.as_str();
                if reason.trim() != reason
                    || reason.is_empty()
                    || reason.chars().count() > MAX_ADJUSTMENT_REASON_CHARS
                {
                    self.breach(recorded, "stock adjusted without a valid reason".to_owned());
                }
                (
                    e.product_id,
                    stock.and_then(|s| s.checked_add_signed(e.delta)),
                    e.stock_after,
                )
            }
            ProductEvent::StockReserved(e) => (
                e.product_id,
                stock.and_then(|s| s.checked_sub(u64::from(e.quantity))),
                e.stock_after,
            ),
            ProductEvent::StockReleased(e) => (
                e.product_id,
                stock.and_then(|s| s.checked_add(u64::from(e.quantity))),
                e.stock_after,
            ),
        };
        if event_id != id {
            self.breach(recorded, "event of another product".to_owned());
        }
        match (stock, expected) {
            (None, _) if !matches!(event, ProductEvent::ProductCreated(_)) => {
                self.breach(
                    recorded,
                    "stock moved before the product was created".to_owned(),
                );
            }
            (Some(before), None) => self.breach(
                recorded,
                format!("stock {before} cannot take this move: it would go negative or overflow"),
            ),
            (_, Some(expected)) if expected != stock_after => self.breach(
                recorded,
                format!("stock_after {stock_after}, but the move gives {expected}"),
            ),
            _ => {}
        }
        track.aggregate = Aggregated::Product(Product::evolve(state, event));
    }
}
