//! [`LogAudit`]: reads the log incrementally after every step and checks what only the
//! log can show, independently of the engine's folds and of the model.
//!
//! - positions are gapless from 1; every stream's versions are contiguous from 1;
//! - a command id's events are one contiguous run, appended once (a re-sent command
//!   that appended again would show up as a second run);
//! - every event decodes; stock replayed from the product events never goes negative
//!   and always equals the `stock_after` the event carries; every adjustment has a
//!   trimmed, non-empty reason within the limit;
//! - per order: how many `PaymentConfirmed` events there are and for how much, and the
//!   sum of the payment's confirmed refunds (refunds of anomalous payments apart).

use std::collections::{BTreeMap, HashMap, HashSet};

use paylog_core::codec;
use paylog_core::event::DomainEvent;
use paylog_core::order::{AttentionResolution, OrderEvent};
use paylog_core::payment_refs::OutRefundNo;
use paylog_core::product::{MAX_ADJUSTMENT_REASON_CHARS, ProductEvent};
use paylog_core::{Fen, OrderId, ProductId};
use paylog_store::EventStore;
use uuid::Uuid;

/// What the log says about one order's money.
#[derive(Debug, Clone, Default)]
pub struct OrderMoney {
    /// Amount of every `PaymentConfirmed`, in log order.
    pub confirmed_payments: Vec<u64>,
    /// Sum of the confirmed refunds of the payment (`RefundConfirmed`, after a
    /// failure too, and `RefundAttentionResolved` as refunded otherwise).
    pub refunded: u64,
    /// Refund numbers of anomalous payments: their confirmations are not the payment's.
    pub anomaly_refunds: HashSet<OutRefundNo>,
}

/// Incremental checker of the log; keep one per store and call [`LogAudit::catch_up`].
#[derive(Debug, Default)]
pub struct LogAudit {
    position: u64,
    versions: HashMap<String, u64>,
    current_command: Option<Uuid>,
    finished_commands: HashSet<Uuid>,
    /// Stock replayed from product events.
    pub stock: BTreeMap<ProductId, i128>,
    /// The reasons of every `StockAdjusted`, per product, in log order.
    pub reasons: BTreeMap<ProductId, Vec<String>>,
    pub orders: BTreeMap<OrderId, OrderMoney>,
}

impl LogAudit {
    /// The last position checked.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads and checks every event after the last one checked.
    pub async fn catch_up(&mut self, store: &dyn EventStore) -> Result<(), String> {
        loop {
            let batch = store
                .read_all(self.position, 512)
                .await
                .map_err(|e| format!("read_all: {e}"))?;
            if batch.is_empty() {
                return Ok(());
            }
            for event in batch {
                if event.position != self.position + 1 {
                    return Err(format!(
                        "position gap: {} follows {}",
                        event.position, self.position
                    ));
                }
                self.position = event.position;
                let version = self.versions.entry(event.stream_id.clone()).or_default();
                if event.stream_version != *version + 1 {
                    return Err(format!(
                        "stream {} jumps from version {} to {} at position {}",
                        event.stream_id, version, event.stream_version, event.position
                    ));
                }
                *version = event.stream_version;
                self.command_run(event.command_id, event.position)?;
                let decoded =
                    codec::decode(&event.event_type, event.schema_version, &event.payload)
                        .map_err(|e| format!("position {}: undecodable: {e}", event.position))?;
                self.fold(&decoded, event.position)?;
            }
        }
    }

    fn command_run(&mut self, command_id: Uuid, position: u64) -> Result<(), String> {
        if self.current_command == Some(command_id) {
            return Ok(());
        }
        if self.finished_commands.contains(&command_id) {
            return Err(format!(
                "command {command_id} appended a second time, at position {position}"
            ));
        }
        if let Some(previous) = self.current_command.replace(command_id) {
            self.finished_commands.insert(previous);
        }
        Ok(())
    }

    fn fold(&mut self, event: &DomainEvent, position: u64) -> Result<(), String> {
        match event {
            DomainEvent::Product(e) => {
                let (product_id, stock, carried) = match e {
                    ProductEvent::ProductCreated(e) => {
                        let stock = i128::from(e.stock);
                        (e.product_id, stock, e.stock)
                    }
                    ProductEvent::StockAdjusted(e) => {
                        let reason = e.reason.as_str();
                        if reason.is_empty()
                            || reason.trim() != reason
                            || reason.chars().count() > MAX_ADJUSTMENT_REASON_CHARS
                        {
                            return Err(format!(
                                "position {position}: stock adjusted for reason {reason:?}"
                            ));
                        }
                        self.reasons
                            .entry(e.product_id)
                            .or_default()
                            .push(e.reason.clone());
                        (
                            e.product_id,
                            self.stock_of(e.product_id) + i128::from(e.delta),
                            e.stock_after,
                        )
                    }
                    ProductEvent::StockReserved(e) => (
                        e.product_id,
                        self.stock_of(e.product_id) - i128::from(e.quantity),
                        e.stock_after,
                    ),
                    ProductEvent::StockReleased(e) => (
                        e.product_id,
                        self.stock_of(e.product_id) + i128::from(e.quantity),
                        e.stock_after,
                    ),
                };
                if stock < 0 {
                    return Err(format!(
                        "position {position}: stock of {product_id} went to {stock}"
                    ));
                }
                if stock != i128::from(carried) {
                    return Err(format!(
                        "position {position}: replayed stock {stock} ≠ carried stock_after {carried}"
                    ));
                }
                self.stock.insert(product_id, stock);
            }
            DomainEvent::Order(OrderEvent::PaymentConfirmed(e)) => {
                self.orders
                    .entry(e.order_id)
                    .or_default()
                    .confirmed_payments
                    .push(e.amount.get());
            }
            DomainEvent::Order(OrderEvent::AnomalousPaymentRefundRequested(e)) => {
                self.orders
                    .entry(e.order_id)
                    .or_default()
                    .anomaly_refunds
                    .insert(e.out_refund_no.clone());
            }
            DomainEvent::Order(OrderEvent::RefundConfirmed(e)) => {
                self.refund_confirmed(
                    e.order_id,
                    &e.out_refund_no,
                    e.amount,
                    e.refunded_after,
                    position,
                )?;
            }
            // WeChat refunded a refund recorded as Failed: money left all the same.
            DomainEvent::Order(OrderEvent::RefundConfirmedAfterFailure(e)) => {
                self.refund_confirmed(
                    e.order_id,
                    &e.out_refund_no,
                    e.amount,
                    e.refunded_after,
                    position,
                )?;
            }
            DomainEvent::Order(OrderEvent::RefundAttentionResolved(e)) => {
                let amount = match e.resolution {
                    AttentionResolution::RefundedOtherwise => e.amount,
                    AttentionResolution::Retried => Fen::ZERO,
                };
                self.refund_confirmed(
                    e.order_id,
                    &e.out_refund_no,
                    amount,
                    e.refunded_after,
                    position,
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    fn refund_confirmed(
        &mut self,
        order_id: OrderId,
        out_refund_no: &OutRefundNo,
        amount: Fen,
        refunded_after: Fen,
        position: u64,
    ) -> Result<(), String> {
        let money = self.orders.entry(order_id).or_default();
        if !money.anomaly_refunds.contains(out_refund_no) {
            money.refunded += amount.get();
        }
        if money.refunded != refunded_after.get() {
            return Err(format!(
                "position {position}: refunds sum to {} but the event says {refunded_after}",
                money.refunded
            ));
        }
        Ok(())
    }

    fn stock_of(&self, product_id: ProductId) -> i128 {
        self.stock.get(&product_id).copied().unwrap_or(0)
    }
}
