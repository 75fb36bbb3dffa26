//! The state of an order, what the API shows and what audits verify.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::OrderLine;
use crate::error::DomainError;
use crate::ids::{OrderId, OutTradeNo, UserId};
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, PrepayId, RefundId, TransactionId};

/// Where an order is in its life; see the transition table in [`crate::order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    Placed,
    PaymentRequested,
    Paid,
    Refunding,
    PartiallyRefunded,
    Refunded,
    Cancelled,
    Closed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        Self::Placed,
        Self::PaymentRequested,
        Self::Paid,
        Self::Refunding,
        Self::PartiallyRefunded,
        Self::Refunded,
        Self::Cancelled,
        Self::Closed,
    ];

    /// Waiting for payment: may still be paid, cancelled or closed.
    pub fn is_awaiting_payment(self) -> bool {
        matches!(self, Self::Placed | Self::PaymentRequested)
    }

    /// A payment was confirmed (whatever has been refunded since).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Refunding | Self::PartiallyRefunded | Self::Refunded
        )
    }

    /// The status a paid order has for given refund amounts.
    pub fn after_refunds(paid: Fen, refunded: Fen, pending: Fen) -> Self {
        if !pending.is_zero() {
            Self::Refunding
        } else if refunded.is_zero() {
            Self::Paid
        } else if refunded >= paid {
            Self::Refunded
        } else {
            Self::PartiallyRefunded
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The prepay id the mini-program pays with, and until when WeChat honours it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepay {
    pub prepay_id: PrepayId,
    pub valid_until: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub transaction_id: TransactionId,
    pub amount: Fen,
    pub paid_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundStatus {
    Pending,
    Confirmed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub out_refund_no: OutRefundNo,
    pub amount: Fen,
    pub reason: String,
    pub status: RefundStatus,
    pub refund_id: Option<RefundId>,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// A payment WeChat reported that did not pay the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnomalyKind {
    /// The amount was not the order total (`PaymentAmountMismatch`).
    AmountMismatch,
    /// The order was already cancelled or closed (`LatePaymentReceived`).
    LatePayment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAnomaly {
    pub kind: AnomalyKind,
    pub transaction_id: TransactionId,
    pub amount: Fen,
    pub paid_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub out_trade_no: OutTradeNo,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total: Fen,
    pub expires_at: DateTime<Utc>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest prepay id, if payment was requested.
    pub prepay: Option<Prepay>,
    pub payment: Option<Payment>,
    /// Amount paid: `total` once paid, 0 before.
    pub paid: Fen,
    /// Sum of confirmed refunds.
    pub refunded: Fen,
    /// Sum of refunds requested and not yet confirmed or failed.
    pub pending_refunds: Fen,
    pub refunds: Vec<Refund>,
    pub anomalies: Vec<PaymentAnomaly>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl OrderState {
    /// Whether the closer may close this order now: unpaid and past `expires_at`.
    pub fn is_due_for_close(&self, now: DateTime<Utc>) -> bool {
        self.status.is_awaiting_payment() && now >= self.expires_at
    }

    /// What may still be refunded: paid − refunded − pending.
    pub fn refundable(&self) -> Fen {
        self.paid
            .saturating_sub(self.refunded)
            .saturating_sub(self.pending_refunds)
    }

    pub fn refund(&self, out_refund_no: &OutRefundNo) -> Option<&Refund> {
        self.refunds
            .iter()
            .find(|r| &r.out_refund_no == out_refund_no)
    }

    pub(crate) fn refund_mut(&mut self, out_refund_no: &OutRefundNo) -> Option<&mut Refund> {
        self.refunds
            .iter_mut()
            .find(|r| &r.out_refund_no == out_refund_no)
    }

    /// Whether WeChat's payment `transaction_id` was already recorded on this order,
    /// as the payment or as an anomaly.
    pub fn knows_transaction(&self, transaction_id: &TransactionId) -> bool {
        self.payment
            .as_ref()
            .is_some_and(|p| &p.transaction_id == transaction_id)
            || self
                .anomalies
                .iter()
                .any(|a| &a.transaction_id == transaction_id)
    }

    /// Every invariant this order breaks (empty when sound). Used by `audit verify`.
    pub fn invariant_violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        for line in &self.lines {
            if line.unit_price.checked_mul(line.quantity) != Some(line.line_total) {
                v.push(format!(
                    "line {}: {} × {} ≠ {}",
                    line.product_id, line.unit_price, line.quantity, line.line_total
                ));
            }
            if line.quantity == 0 {
                v.push(format!("line {}: quantity 0", line.product_id));
            }
        }
        if !(1..=super::MAX_LINES).contains(&self.lines.len()) {
            v.push(format!("{} lines", self.lines.len()));
        }
        if Fen::checked_sum(self.lines.iter().map(|l| l.line_total)) != Some(self.total) {
            v.push(format!("total {} ≠ sum of line totals", self.total));
        }
        if self.out_trade_no.order_id() != Some(self.order_id) {
            v.push(format!(
                "out_trade_no {} is not derived from the order id",
                self.out_trade_no
            ));
        }
        let paid_status = self.status.is_paid();
        if paid_status != self.payment.is_some() {
            v.push(format!(
                "status {} but payment recorded: {}",
                self.status,
                self.payment.is_some()
            ));
        }
        if paid_status && self.paid != self.total {
            v.push(format!("paid {} ≠ total {}", self.paid, self.total));
        }
        if let Some(p) = &self.payment
            && p.amount != self.paid
        {
            v.push(format!("payment amount {} ≠ paid {}", p.amount, self.paid));
        }
        let untouched = self.paid.is_zero() && self.refunds.is_empty();
        if !paid_status && !untouched {
            v.push(format!(
                "status {} with money paid or refunds recorded",
                self.status
            ));
        }
        let sum = |status| {
            Fen::checked_sum(
                self.refunds
                    .iter()
                    .filter(|r| r.status == status)
                    .map(|r| r.amount),
            )
        };
        if sum(RefundStatus::Confirmed) != Some(self.refunded) {
            v.push(format!(
                "refunded {} ≠ sum of confirmed refunds",
                self.refunded
            ));
        }
        if sum(RefundStatus::Pending) != Some(self.pending_refunds) {
            v.push(format!(
                "pending {} ≠ sum of pending refunds",
                self.pending_refunds
            ));
        }
        if self
            .refunded
            .checked_add(self.pending_refunds)
            .is_none_or(|r| r > self.paid)
        {
            v.push(format!(
                "refunded {} + pending {} exceeds paid {}",
                self.refunded, self.pending_refunds, self.paid
            ));
        }
        if paid_status
            && self.status
                != OrderStatus::after_refunds(self.paid, self.refunded, self.pending_refunds)
        {
            v.push(format!(
                "status {} does not match the refund amounts",
                self.status
            ));
        }
        if (self.status == OrderStatus::Cancelled) != self.cancelled_at.is_some()
            || (self.status == OrderStatus::Closed) != self.closed_at.is_some()
        {
            v.push(format!(
                "status {} disagrees with cancelled/closed timestamps",
                self.status
            ));
        }
        if self.expires_at <= self.placed_at {
            v.push("expires before it was placed".to_owned());
        }
        v
    }

    /// `Ok` when the order is sound, else every violation, joined.
    pub fn check_invariants(&self) -> Result<(), DomainError> {
        let violations = self.invariant_violations();
        if violations.is_empty() {
            return Ok(());
        }
        Err(DomainError::InvariantViolated(format!(
            "order {}: {}",
            self.order_id,
            violations.join("; ")
        )))
    }
}
