//! [`Model`]: the shop as plain maps and integers, written from the rules in the
//! brief rather than from the engine's code, predicting every command's outcome.
//!
//! The model only says *whether* a command is accepted and *how many* events it
//! appends (not which error a refusal carries): the error kinds are core's business
//! and already tested there; what matters here is that money and stock move exactly
//! when they should.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use paylog_core::identity::Username;
use paylog_core::order::{AttentionResolution, OrderCommand, OrderStatus, Shipment};
use paylog_core::payment_refs::{OutRefundNo, TransactionId};
use paylog_core::product::MAX_ADJUSTMENT_REASON_CHARS;
use paylog_core::user::Credentials;
use paylog_core::{OrderId, ProductId, UserId};

use super::command::Command;

/// What the model says a command must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Refused: nothing appended, nothing changed.
    Refused,
    /// Accepted, appending exactly this many events (0 for an idempotent repeat).
    Accepted(usize),
}

#[derive(Debug, Clone)]
pub struct ProductModel {
    pub price: u64,
    pub initial: u64,
    pub adjusted: i128,
    pub reserved: u128,
    pub released: u128,
    /// The reasons of accepted adjustments, trimmed, in the order accepted.
    pub reasons: Vec<String>,
}

impl ProductModel {
    /// initial + adjustments − reserved + released (may be negative only if the model is wrong).
    pub fn stock(&self) -> i128 {
        i128::from(self.initial) + self.adjusted - self.reserved as i128 + self.released as i128
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Placed,
    PaymentRequested,
    Paid,
    Cancelled,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    Pending,
    Confirmed,
    Failed,
    /// WeChat's `CHANGE`: held back like Pending until an operator resolves it.
    NeedsAttention,
}

#[derive(Debug, Clone)]
pub struct RefundModel {
    pub out_refund_no: OutRefundNo,
    pub amount: u64,
    pub state: RefundState,
    /// `None`: the order's payment; `Some`: that anomalous transaction.
    pub target: Option<TransactionId>,
}

#[derive(Debug, Clone)]
pub struct OrderModel {
    pub lines: Vec<(ProductId, u32)>,
    pub total: u64,
    pub expires_at: DateTime<Utc>,
    pub life: Life,
    pub payment: Option<(TransactionId, u64)>,
    /// Transactions recorded without paying the order (wrong amount, too late, a
    /// second payment), with their amounts.
    pub anomalies: Vec<(TransactionId, u64)>,
    pub refunds: Vec<RefundModel>,
    pub shipping: Option<ShippingModel>,
}

/// A shipment as WeChat's rules see it: a revision, whether WeChat accepted it, the
/// one change WeChat allows after accepting, receipt and settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingModel {
    pub shipment: Shipment,
    pub revision: u32,
    pub uploaded: bool,
    pub failures: u32,
    pub reuploads: u32,
    pub received: bool,
    pub settled: bool,
}

impl OrderModel {
    pub fn paid(&self) -> u64 {
        self.payment.as_ref().map_or(0, |(_, amount)| *amount)
    }

    /// Refunds of the payment in one of `states`.
    fn sum(&self, states: &[RefundState]) -> u64 {
        self.refunds
            .iter()
            .filter(|r| r.target.is_none() && states.contains(&r.state))
            .map(|r| r.amount)
            .sum()
    }

    pub fn refunded(&self) -> u64 {
        self.sum(&[RefundState::Confirmed])
    }

    /// Pending or needing attention: held back from what may be refunded.
    pub fn pending(&self) -> u64 {
        self.sum(&[RefundState::Pending, RefundState::NeedsAttention])
    }

    /// What the shop holds of this order's money: every transaction WeChat reported
    /// (the payment and each anomaly) less every confirmed refund, of any target.
    pub fn money_held(&self) -> u64 {
        let received = self.paid() + self.anomalies.iter().map(|(_, a)| a).sum::<u64>();
        let confirmed: u64 = self
            .refunds
            .iter()
            .filter(|r| r.state == RefundState::Confirmed)
            .map(|r| r.amount)
            .sum();
        received - confirmed
    }

    fn anomaly(&self, txn: &TransactionId) -> Option<u64> {
        self.anomalies
            .iter()
            .find(|(t, _)| t == txn)
            .map(|(_, a)| *a)
    }

    /// What refunds of `target` are bounded by.
    fn received(&self, target: Option<&TransactionId>) -> u64 {
        match target {
            None => self.paid(),
            Some(t) => self.anomaly(t).unwrap_or(0),
        }
    }

    fn confirmed_of(&self, target: Option<&TransactionId>) -> u64 {
        self.refunds
            .iter()
            .filter(|r| r.target.as_ref() == target && r.state == RefundState::Confirmed)
            .map(|r| r.amount)
            .sum()
    }

    /// Saturates: a refund WeChat confirmed after it was recorded Failed may leave
    /// refunded + pending above paid for a while (core's stated exception).
    pub fn refundable(&self) -> u64 {
        self.paid()
            .saturating_sub(self.refunded())
            .saturating_sub(self.pending())
    }

    pub fn refund(&self, no: &OutRefundNo) -> Option<&RefundModel> {
        self.refunds.iter().find(|r| &r.out_refund_no == no)
    }

    /// The status the engine must show.
    pub fn status(&self) -> OrderStatus {
        match self.life {
            Life::Placed => OrderStatus::Placed,
            Life::PaymentRequested => OrderStatus::PaymentRequested,
            Life::Cancelled => OrderStatus::Cancelled,
            Life::Closed => OrderStatus::Closed,
            Life::Paid if self.pending() > 0 => OrderStatus::Refunding,
            Life::Paid if self.refunded() == 0 => OrderStatus::Paid,
            Life::Paid if self.refunded() == self.paid() => OrderStatus::Refunded,
            Life::Paid => OrderStatus::PartiallyRefunded,
        }
    }

    fn awaiting_payment(&self) -> bool {
        matches!(self.life, Life::Placed | Life::PaymentRequested)
    }
}

/// The whole shop.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub users: BTreeSet<UserId>,
    pub usernames: BTreeSet<Username>,
    pub products: BTreeMap<ProductId, ProductModel>,
    pub orders: BTreeMap<OrderId, OrderModel>,
}

impl Model {
    /// Predicts `command` and, if it is accepted, applies it.
    pub fn apply(&mut self, command: &Command) -> Expect {
        match command {
            Command::Register(c) => {
                let Credentials::Password { username, .. } = &c.credentials else {
                    return Expect::Refused;
                };
                if self.users.contains(&c.user_id) || self.usernames.contains(username) {
                    return Expect::Refused;
                }
                self.users.insert(c.user_id);
                self.usernames.insert(username.clone());
                Expect::Accepted(2)
            }
            Command::CreateProduct(c) => {
                if c.price.is_zero() || self.products.contains_key(&c.product_id) {
                    return Expect::Refused;
                }
                self.products.insert(
                    c.product_id,
                    ProductModel {
                        price: c.price.get(),
                        initial: c.stock,
                        adjusted: 0,
                        reserved: 0,
                        released: 0,
                        reasons: Vec::new(),
                    },
                );
                Expect::Accepted(1)
            }
            Command::AdjustStock {
                product_id,
                delta,
                reason,
                ..
            } => {
                let Some(p) = self.products.get_mut(product_id) else {
                    return Expect::Refused;
                };
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > MAX_ADJUSTMENT_REASON_CHARS {
                    return Expect::Refused;
                }
                if *delta == 0 || p.stock() + i128::from(*delta) < 0 {
                    return Expect::Refused;
                }
                p.adjusted += i128::from(*delta);
                p.reasons.push(reason.to_owned());
                Expect::Accepted(1)
            }
            Command::PlaceOrder(c) => self.place(c),
            Command::Cancel {
                order_id,
                closed_at_wechat,
                at,
            } => {
                // A prepay id means the order may be open at WeChat: cancelling it
                // without closing it there first is refused.
                let open_at_wechat = self
                    .orders
                    .get(order_id)
                    .is_some_and(|o| o.life == Life::PaymentRequested);
                if open_at_wechat && !closed_at_wechat {
                    return Expect::Refused;
                }
                self.release(*order_id, *at, Life::Cancelled)
            }
            Command::Close { order_id, at } => self.release(*order_id, *at, Life::Closed),
            Command::OnOrder { order_id, command } => self.on_order(*order_id, command),
            Command::Notify(n) => match &n.genuine {
                // A notify that does not verify must change nothing.
                None => Expect::Refused,
                Some(g) => self.confirm_payment(g.order_id, &g.transaction_id, g.amount),
            },
            Command::Push(p) => match &p.genuine {
                // A push that does not verify or open must change nothing.
                None => Expect::Refused,
                Some((order_id, txn, settles)) => self.settlement_push(*order_id, txn, *settles),
            },
        }
    }

    /// A genuine settlement push: only about an order this transaction paid; an
    /// announcement records nothing; a settlement confirms receipt and settles
    /// (each once), and needs a shipment.
    fn settlement_push(&mut self, order_id: OrderId, txn: &TransactionId, settles: bool) -> Expect {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return Expect::Refused;
        };
        if order.payment.as_ref().is_none_or(|(t, _)| t != txn) {
            return Expect::Refused;
        }
        if !settles {
            return Expect::Accepted(0);
        }
        let fully_refunded = order.status() == OrderStatus::Refunded;
        let Some(s) = &mut order.shipping else {
            return Expect::Refused;
        };
        // A fully refunded payment settles nothing: only the receipt is recorded.
        let settles = !fully_refunded;
        let appended = usize::from(!s.received) + usize::from(settles && !s.settled);
        s.received = true;
        s.settled |= settles;
        Expect::Accepted(appended)
    }

    fn place(&mut self, c: &paylog_core::checkout::Checkout) -> Expect {
        if self.orders.contains_key(&c.order_id) || c.items.is_empty() {
            return Expect::Refused;
        }
        // The cart's lines for the same product are merged into one line.
        let mut merged: Vec<(ProductId, u32)> = Vec::new();
        for item in &c.items {
            if item.quantity == 0 {
                return Expect::Refused;
            }
            match merged.iter_mut().find(|(p, _)| *p == item.product_id) {
                Some((_, q)) => *q += item.quantity,
                None => merged.push((item.product_id, item.quantity)),
            }
        }
        let mut total = 0u64;
        for (product_id, quantity) in &merged {
            let Some(p) = self.products.get(product_id) else {
                return Expect::Refused;
            };
            if p.stock() < i128::from(*quantity) {
                return Expect::Refused;
            }
            total += p.price * u64::from(*quantity);
        }
        for (product_id, quantity) in &merged {
            if let Some(p) = self.products.get_mut(product_id) {
                p.reserved += u128::from(*quantity);
            }
        }
        let appended = 1 + merged.len();
        self.orders.insert(
            c.order_id,
            OrderModel {
                lines: merged,
                total,
                expires_at: c.expires_at,
                life: Life::Placed,
                payment: None,
                anomalies: Vec::new(),
                refunds: Vec::new(),
                shipping: None,
            },
        );
        Expect::Accepted(appended)
    }

    /// Cancel or close: an unpaid order ends and every line's stock comes back.
    fn release(&mut self, order_id: OrderId, at: DateTime<Utc>, end: Life) -> Expect {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return Expect::Refused;
        };
        // An unpaid order with an anomaly took a wrong-amount payment (late ones need
        // a cancelled or closed order): it may close at once.
        let early_close_allowed = !order.anomalies.is_empty();
        if !order.awaiting_payment()
            || (end == Life::Closed && at < order.expires_at && !early_close_allowed)
        {
            return Expect::Refused;
        }
        order.life = end;
        for (product_id, quantity) in &order.lines {
            if let Some(p) = self.products.get_mut(product_id) {
                p.released += u128::from(*quantity);
            }
        }
        Expect::Accepted(1 + order.lines.len())
    }

    fn confirm_payment(&mut self, order_id: OrderId, txn: &TransactionId, amount: u64) -> Expect {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return Expect::Refused;
        };
        // WeChat delivers at least once: a transaction already recorded is a repeat.
        let known =
            order.payment.as_ref().is_some_and(|(t, _)| t == txn) || order.anomaly(txn).is_some();
        if known {
            return Expect::Accepted(0);
        }
        // Another transaction for a paid order (WeChat took the money twice), a payment
        // for a cancelled/closed order, or a wrong amount: money was taken but does not
        // pay the order: recorded, not counted.
        if order.payment.is_some() {
            order.anomalies.push((txn.clone(), amount));
            return Expect::Accepted(1);
        }
        if matches!(order.life, Life::Cancelled | Life::Closed) || amount != order.total {
            // Money was taken but does not pay the order: recorded, not counted.
            order.anomalies.push((txn.clone(), amount));
            return Expect::Accepted(1);
        }
        order.payment = Some((txn.clone(), amount));
        order.life = Life::Paid;
        Expect::Accepted(1)
    }

    fn on_order(&mut self, order_id: OrderId, command: &OrderCommand) -> Expect {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return Expect::Refused;
        };
        match command {
            OrderCommand::RequestPayment {
                valid_until, at, ..
            } => {
                if !order.awaiting_payment() || *at >= order.expires_at || valid_until <= at {
                    return Expect::Refused;
                }
                order.life = Life::PaymentRequested;
                Expect::Accepted(1)
            }
            OrderCommand::ConfirmPayment {
                transaction_id,
                amount,
                ..
            } => self.confirm_payment(order_id, &transaction_id.clone(), amount.get()),
            OrderCommand::RequestRefund {
                out_refund_no,
                amount,
                ..
            } => {
                if order.life != Life::Paid {
                    return Expect::Refused;
                }
                if let Some(existing) = order.refund(out_refund_no) {
                    // A number WeChat refused is never sent again.
                    return if existing.state != RefundState::Failed
                        && existing.target.is_none()
                        && existing.amount == amount.get()
                    {
                        Expect::Accepted(0)
                    } else {
                        Expect::Refused
                    };
                }
                if amount.is_zero() || amount.get() > order.refundable() {
                    return Expect::Refused;
                }
                order.refunds.push(RefundModel {
                    out_refund_no: out_refund_no.clone(),
                    amount: amount.get(),
                    state: RefundState::Pending,
                    target: None,
                });
                Expect::Accepted(1)
            }
            OrderCommand::ConfirmRefund {
                out_refund_no,
                amount,
                ..
            } => settle(
                order,
                out_refund_no,
                Some(amount.get()),
                RefundState::Confirmed,
            ),
            OrderCommand::FailRefund { out_refund_no, .. } => {
                settle(order, out_refund_no, None, RefundState::Failed)
            }
            OrderCommand::MarkRefundNeedsAttention { out_refund_no, .. } => {
                settle(order, out_refund_no, None, RefundState::NeedsAttention)
            }
            OrderCommand::ResolveRefundAttention {
                out_refund_no,
                resolution,
                ..
            } => resolve(order, out_refund_no, *resolution),
            OrderCommand::RefundAnomalousPayment {
                transaction_id,
                out_refund_no,
                ..
            } => {
                let Some(amount) = order.anomaly(transaction_id) else {
                    return Expect::Refused;
                };
                let target = Some(transaction_id.clone());
                if let Some(existing) = order.refund(out_refund_no) {
                    return if existing.state != RefundState::Failed
                        && existing.target == target
                        && existing.amount == amount
                    {
                        Expect::Accepted(0)
                    } else {
                        Expect::Refused
                    };
                }
                // At most one live refund per anomaly; after a Failed one, another.
                let live = order
                    .refunds
                    .iter()
                    .any(|r| r.target == target && r.state != RefundState::Failed);
                if live {
                    return Expect::Refused;
                }
                order.refunds.push(RefundModel {
                    out_refund_no: out_refund_no.clone(),
                    amount,
                    state: RefundState::Pending,
                    target,
                });
                Expect::Accepted(1)
            }
            OrderCommand::ShipOrder { shipment, .. } => ship(order, shipment),
            OrderCommand::RecordShippingUpload { revision, .. } => {
                upload_outcome(order, *revision, true)
            }
            OrderCommand::FailShippingUpload { revision, .. } => {
                upload_outcome(order, *revision, false)
            }
            OrderCommand::ConfirmReceipt { .. } => match &mut order.shipping {
                None => Expect::Refused,
                Some(s) if s.received => Expect::Accepted(0),
                Some(s) => {
                    s.received = true;
                    Expect::Accepted(1)
                }
            },
            OrderCommand::SettleOrder { .. } => {
                let fully_refunded = order.status() == OrderStatus::Refunded;
                match &mut order.shipping {
                    None => Expect::Refused,
                    Some(s) if s.settled => Expect::Accepted(0),
                    // A fully refunded payment settles nothing (WeChat: 已退款).
                    Some(_) if fully_refunded => Expect::Refused,
                    Some(s) if !s.received => Expect::Refused,
                    Some(s) => {
                        s.settled = true;
                        Expect::Accepted(1)
                    }
                }
            }
            OrderCommand::PlaceOrder(_)
            | OrderCommand::CancelOrder { .. }
            | OrderCommand::CloseOrder { .. } => Expect::Refused,
        }
    }
}

/// A paid order not fully refunded ships; the same shipment again is a repeat; after
/// receipt nothing changes; WeChat allows one change of a shipment it accepted.
fn ship(order: &mut OrderModel, shipment: &Shipment) -> Expect {
    if order.life != Life::Paid || order.status() == OrderStatus::Refunded {
        return Expect::Refused;
    }
    let Some(s) = &mut order.shipping else {
        order.shipping = Some(ShippingModel {
            shipment: shipment.clone(),
            revision: 1,
            uploaded: false,
            failures: 0,
            reuploads: 0,
            received: false,
            settled: false,
        });
        return Expect::Accepted(1);
    };
    if &s.shipment == shipment {
        return Expect::Accepted(0);
    }
    if s.received {
        return Expect::Refused;
    }
    if s.uploaded {
        if s.reuploads >= 1 {
            return Expect::Refused;
        }
        s.reuploads += 1;
    }
    s.shipment = shipment.clone();
    s.revision += 1;
    s.uploaded = false;
    s.failures = 0;
    Expect::Accepted(1)
}

/// WeChat's answer to the upload of `revision`: only the current revision, until
/// accepted, changes anything; a revision never recorded is refused.
fn upload_outcome(order: &mut OrderModel, revision: u32, accepted: bool) -> Expect {
    let Some(s) = &mut order.shipping else {
        return Expect::Refused;
    };
    if revision == 0 || revision > s.revision {
        return Expect::Refused;
    }
    if revision < s.revision || s.uploaded {
        return Expect::Accepted(0);
    }
    if accepted {
        s.uploaded = true;
    } else {
        s.failures += 1;
    }
    Expect::Accepted(1)
}

/// WeChat's answer to a refund (of the payment or of an anomaly): confirmed (for
/// exactly the requested amount), failed, or needing attention (`CHANGE`).
fn settle(
    order: &mut OrderModel,
    no: &OutRefundNo,
    amount: Option<u64>,
    to: RefundState,
) -> Expect {
    let Some(refund) = order.refunds.iter().find(|r| &r.out_refund_no == no) else {
        return Expect::Refused;
    };
    if refund.state == to {
        return Expect::Accepted(0);
    }
    if amount.is_some_and(|a| a != refund.amount) {
        return Expect::Refused;
    }
    let (from, refund_amount, target) = (refund.state, refund.amount, refund.target.clone());
    match (from, to) {
        (RefundState::Pending | RefundState::NeedsAttention, RefundState::Failed) => {}
        // A CHANGE, even for a refund recorded as Failed (the money left after all).
        (RefundState::Pending | RefundState::Failed, RefundState::NeedsAttention) => {}
        // A confirmation, even one WeChat sends for a refund recorded as Failed (it
        // refunded after all), is recorded unless it would refund more than received.
        (_, RefundState::Confirmed) if from != RefundState::Confirmed => {
            if order.confirmed_of(target.as_ref()) + refund_amount > order.received(target.as_ref())
            {
                return Expect::Refused;
            }
        }
        _ => return Expect::Refused,
    }
    if let Some(refund) = order.refunds.iter_mut().find(|r| &r.out_refund_no == no) {
        refund.state = to;
    }
    Expect::Accepted(1)
}

/// An operator resolves a refund needing attention: confirmed by other means (bounded
/// like a confirmation), or retried (Pending again).
fn resolve(order: &mut OrderModel, no: &OutRefundNo, resolution: AttentionResolution) -> Expect {
    let Some(refund) = order.refunds.iter().find(|r| &r.out_refund_no == no) else {
        return Expect::Refused;
    };
    if refund.state != RefundState::NeedsAttention {
        return Expect::Refused;
    }
    let to = match resolution {
        AttentionResolution::RefundedOtherwise => {
            let target = refund.target.clone();
            if order.confirmed_of(target.as_ref()) + refund.amount > order.received(target.as_ref())
            {
                return Expect::Refused;
            }
            RefundState::Confirmed
        }
        AttentionResolution::Retried => RefundState::Pending,
    };
    if let Some(refund) = order.refunds.iter_mut().find(|r| &r.out_refund_no == no) {
        refund.state = to;
    }
    Expect::Accepted(1)
}
