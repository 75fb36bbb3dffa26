//! The state of an order, what the API shows and what audits verify.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::OrderLine;
use crate::error::DomainError;
use crate::ids::{OrderId, OutTradeNo, UserId};
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, PayApi, PrepayId, RefundId, TransactionId};

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
    #[serde(with = "crate::compact_time")]
    pub valid_until: DateTime<Utc>,
    /// The API the prepay was opened on; the order stays on it.
    #[serde(default)]
    pub api: PayApi,
    #[serde(with = "crate::compact_time")]
    pub requested_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub transaction_id: TransactionId,
    pub amount: Fen,
    #[serde(with = "crate::compact_time")]
    pub paid_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub confirmed_at: DateTime<Utc>,
}

/// Where a refund is. `Pending` and `NeedsAttention` both hold their amount back from
/// what may still be refunded ([`RefundStatus::is_committed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundStatus {
    /// Submitted (or about to be); WeChat's outcome is not known yet. An unknown
    /// outcome (a transport error, `SYSTEMERROR`) keeps a refund here: it is settled
    /// by asking again with the same `out_refund_no` or by refundquery.
    Pending,
    /// WeChat says the money reached the shopper (or an operator says so).
    Confirmed,
    /// WeChat definitively refused *this* request: its amount is refundable again
    /// and its `out_refund_no` is never sent again.
    Failed,
    /// WeChat's `refund_status=CHANGE`: the money left the merchant but did not
    /// reach the shopper (a closed card, a frozen account). Stays visible until an
    /// operator resolves it (`ResolveRefundAttention`).
    NeedsAttention,
}

impl RefundStatus {
    /// Money promised to the shopper but not confirmed: held back from refundable.
    pub fn is_committed(self) -> bool {
        matches!(self, Self::Pending | Self::NeedsAttention)
    }
}

/// Which money a refund returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefundTarget {
    /// The order's payment (`RequestRefund`): counted in `refunded`/`pending_refunds`
    /// and in the order's status.
    Payment,
    /// An anomalous payment recorded on the order (`RefundAnomalousPayment`): its
    /// whole amount, at most once; the order's status does not change.
    Anomaly(TransactionId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub out_refund_no: OutRefundNo,
    pub target: RefundTarget,
    pub amount: Fen,
    pub reason: String,
    pub status: RefundStatus,
    pub refund_id: Option<RefundId>,
    #[serde(with = "crate::compact_time")]
    pub requested_at: DateTime<Utc>,
    #[serde(default, with = "crate::compact_time::option")]
    pub settled_at: Option<DateTime<Utc>>,
    /// WeChat reported success (or CHANGE) after the log had recorded this refund as
    /// Failed. The only way refunds committed on a transaction may exceed its amount
    /// for a while: see [`OrderState::invariant_violations`].
    pub revived_after_failure: bool,
}

/// Why an order was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// The payment window passed without payment (the only reason before `OrderClosed` v2).
    Expired,
    /// WeChat took a payment of the wrong amount: the order can never be paid (its
    /// `out_trade_no` is spent at WeChat), so it ends and its stock goes back; the
    /// money is returned with `RefundAnomalousPayment`.
    AmountMismatch,
}

/// A payment WeChat reported that did not pay the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnomalyKind {
    /// The amount was not the order total (`PaymentAmountMismatch`).
    AmountMismatch,
    /// The order was already cancelled or closed (`LatePaymentReceived`).
    LatePayment,
    /// The order was already paid by another transaction (`DuplicatePaymentReceived`).
    DuplicatePayment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAnomaly {
    pub kind: AnomalyKind,
    pub transaction_id: TransactionId,
    pub amount: Fen,
    #[serde(with = "crate::compact_time")]
    pub paid_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
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
    #[serde(with = "crate::compact_time")]
    pub expires_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub placed_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub updated_at: DateTime<Utc>,
    /// The latest prepay id, if payment was requested.
    pub prepay: Option<Prepay>,
    pub payment: Option<Payment>,
    /// Amount paid: `total` once paid, 0 before.
    pub paid: Fen,
    /// Sum of confirmed refunds of the payment (refunds of anomalies are not counted).
    pub refunded: Fen,
    /// Sum of the payment's refunds that are pending or need attention.
    pub pending_refunds: Fen,
    pub refunds: Vec<Refund>,
    pub anomalies: Vec<PaymentAnomaly>,
    #[serde(default, with = "crate::compact_time::option")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::compact_time::option")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Set exactly when the status is `Closed`.
    pub close_reason: Option<CloseReason>,
    /// The shipment, its upload to WeChat, receipt and settlement (paid orders only).
    pub shipping: Option<super::shipping::Shipping>,
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

    pub fn anomaly(&self, transaction_id: &TransactionId) -> Option<&PaymentAnomaly> {
        self.anomalies
            .iter()
            .find(|a| &a.transaction_id == transaction_id)
    }

    /// The refund of an anomalous payment that is not Failed (at most one exists).
    pub fn live_anomaly_refund(&self, transaction_id: &TransactionId) -> Option<&Refund> {
        self.refunds.iter().find(|r| {
            r.status != RefundStatus::Failed
                && matches!(&r.target, RefundTarget::Anomaly(t) if t == transaction_id)
        })
    }

    /// Refunds waiting for an operator (WeChat's CHANGE).
    pub fn refunds_needing_attention(&self) -> impl Iterator<Item = &Refund> {
        self.refunds
            .iter()
            .filter(|r| r.status == RefundStatus::NeedsAttention)
    }

    /// Every transaction WeChat reported for this order — the payment and each
    /// anomaly — with its amount: what refunds are bounded by, per transaction.
    pub fn receipts(&self) -> Vec<(RefundTarget, &TransactionId, Fen)> {
        let payment = self
            .payment
            .iter()
            .map(|p| (RefundTarget::Payment, &p.transaction_id, p.amount));
        let anomalies = self.anomalies.iter().map(|a| {
            (
                RefundTarget::Anomaly(a.transaction_id.clone()),
                &a.transaction_id,
                a.amount,
            )
        });
        payment.chain(anomalies).collect()
    }

    /// Sum of the refunds of `target` whose status satisfies `which`; `None` on overflow.
    pub fn refunds_of(
        &self,
        target: &RefundTarget,
        which: fn(RefundStatus) -> bool,
    ) -> Option<Fen> {
        Fen::checked_sum(
            self.refunds
                .iter()
                .filter(|r| &r.target == target && which(r.status))
                .map(|r| r.amount),
        )
    }

    /// The money the shop holds for this order: confirmed payment + anomalous
    /// receipts − confirmed refunds (of either). Refunds pending or needing
    /// attention are still counted as held: the money is not confirmed to have
    /// reached the shopper. `None` if that would be negative or overflow — an
    /// invariant violation, never a state `decide` produces.
    pub fn money_held(&self) -> Option<Fen> {
        let received = Fen::checked_sum(
            self.payment
                .iter()
                .map(|p| p.amount)
                .chain(self.anomalies.iter().map(|a| a.amount)),
        )?;
        let refunded = Fen::checked_sum(
            self.refunds
                .iter()
                .filter(|r| r.status == RefundStatus::Confirmed)
                .map(|r| r.amount),
        )?;
        received.checked_sub(refunded)
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
        let payment_refunds = self
            .refunds
            .iter()
            .any(|r| r.target == RefundTarget::Payment);
        if !paid_status && (!self.paid.is_zero() || payment_refunds) {
            v.push(format!(
                "status {} with money paid or refunds of a payment recorded",
                self.status
            ));
        }
        let confirmed = |s: RefundStatus| s == RefundStatus::Confirmed;
        if self.refunds_of(&RefundTarget::Payment, confirmed) != Some(self.refunded) {
            v.push(format!(
                "refunded {} ≠ sum of confirmed refunds",
                self.refunded
            ));
        }
        if self.refunds_of(&RefundTarget::Payment, RefundStatus::is_committed)
            != Some(self.pending_refunds)
        {
            v.push(format!(
                "pending {} ≠ sum of pending refunds",
                self.pending_refunds
            ));
        }
        v.extend(self.refund_bound_violations());
        for refund in &self.refunds {
            if let RefundTarget::Anomaly(t) = &refund.target
                && self.anomaly(t).is_none()
            {
                v.push(format!(
                    "refund {} of unknown anomalous transaction {t}",
                    refund.out_refund_no
                ));
            }
        }
        if self.money_held().is_none() {
            v.push("confirmed refunds exceed the money received".to_owned());
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
            || (self.status == OrderStatus::Closed) != self.close_reason.is_some()
        {
            v.push(format!(
                "status {} disagrees with cancelled/closed timestamps",
                self.status
            ));
        }
        if self.expires_at <= self.placed_at {
            v.push("expires before it was placed".to_owned());
        }
        v.extend(super::shipping::violations(self));
        v
    }

    /// The money invariant, per transaction (the payment and each anomaly):
    ///
    /// - confirmed refunds ≤ the transaction's amount, always (WeChat never refunds
    ///   more than a transaction's amount);
    /// - confirmed + committed (pending or needing attention) refunds ≤ the amount,
    ///   unless a refund of that transaction was revived after being recorded as
    ///   Failed: the log then records money that did leave, and the refunds
    ///   requested meanwhile against that amount are ones WeChat will refuse.
    pub fn refund_bound_violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.refunded > self.paid {
            v.push(format!(
                "refunded {} exceeds paid {}",
                self.refunded, self.paid
            ));
        }
        for (target, transaction_id, amount) in self.receipts() {
            let confirmed = self.refunds_of(&target, |s| s == RefundStatus::Confirmed);
            let committed = self.refunds_of(&target, RefundStatus::is_committed);
            let revived = self
                .refunds
                .iter()
                .any(|r| r.target == target && r.revived_after_failure);
            match (confirmed, committed) {
                (Some(c), Some(p)) => {
                    if c > amount {
                        v.push(format!(
                            "transaction {transaction_id}: confirmed refunds {c} exceed {amount}"
                        ));
                    }
                    if !revived && c.checked_add(p).is_none_or(|sum| sum > amount) {
                        v.push(format!(
                            "transaction {transaction_id}: refunds {c} + pending {p} exceed {amount}"
                        ));
                    }
                }
                _ => v.push(format!("transaction {transaction_id}: refunds overflow")),
            }
        }
        let orphans = self
            .refunds
            .iter()
            .any(|r| r.target == RefundTarget::Payment && self.payment.is_none());
        if orphans {
            v.push("refunds of a payment that was never confirmed".to_owned());
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
