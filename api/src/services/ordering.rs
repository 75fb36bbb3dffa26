//! Ordering: a user's orders (place, list, show, cancel, pay) and admin refunds.
//!
//! Placing is idempotent with a client's `Idempotency-Key`: the order id and the
//! command id are derived from (user, key), so a retried request names the same order,
//! the log refuses to place it twice, and the retry gets the same order back.

use std::collections::BTreeMap;
use std::time::Duration;

use paylog_core::checkout::{CartItem, Checkout};
use paylog_core::order::{AttentionResolution, OrderState, OrderStatus};
use paylog_core::payment_refs::{OutRefundNo, TransactionId};
use paylog_core::{DomainError, Fen, OrderId, ProductId, UserId};
use paylog_engine::{CommandKey, CommandMeta, Engine};
use paylog_projections::{OrderSummary, OrderView, Page, PageOf, Views};
use uuid::Uuid;

use super::Settle;
use super::keyed_lock::KeyedLocks;
use super::payments::Payments;
use crate::error::Error;

pub mod operator;

/// Which number a refund gets.
#[derive(Debug, Clone)]
pub enum RefundNumber<'a> {
    /// The admin named it: a retry of a refund already recorded.
    Given(OutRefundNo),
    /// Derived from the request's `Idempotency-Key`.
    Key(&'a str),
    /// A new refund.
    Fresh,
}

/// How many unpaid orders (placed or awaiting payment) one user may hold at once by
/// default: each reserves stock for the whole payment timeout, so without a limit one
/// account could hoard any quantity for free.
pub const DEFAULT_MAX_OPEN_ORDERS_PER_USER: usize = 10;

/// Orders read per page while counting a user's open orders.
const OPEN_ORDERS_SCAN_PAGE: usize = 100;

/// A placed order, and whether this request placed it or repeated an earlier one.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: OrderState,
    /// True when the order already existed (an idempotent repeat): nothing was placed.
    pub repeated: bool,
}

/// The ordering service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ordering {
    engine: Engine,
    views: Views,
    payments: Payments,
    settle: Settle,
    /// How long a new order may wait for its payment.
    payment_timeout: chrono::Duration,
    /// Unpaid orders a user may hold at once; `0`: no limit (nothing is counted).
    max_open_orders_per_user: usize,
    /// Serialises one user's placements, so that each one's open-orders count sees
    /// the one before it (see [`Ordering::check_open_orders`]).
    placing: KeyedLocks<UserId>,
}

/// The requested quantity per product (duplicates merged, as the domain merges them).
fn wanted(items: &[CartItem]) -> BTreeMap<ProductId, u64> {
    let mut map = BTreeMap::new();
    for item in items {
        *map.entry(item.product_id).or_insert(0) += u64::from(item.quantity);
    }
    map
}

/// A repeat of an idempotent request: the same body gets the same order back.
fn replay(order: OrderState, user: UserId, items: &[CartItem]) -> Result<Placed, Error> {
    let placed: BTreeMap<ProductId, u64> = order
        .lines
        .iter()
        .map(|l| (l.product_id, u64::from(l.quantity)))
        .collect();
    if order.user_id != user || placed != wanted(items) {
        return Err(Error::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was already used for a different order".into(),
        });
    }
    Ok(Placed {
        order,
        repeated: true,
    })
}

impl Ordering {
    /// Fails if `payment_timeout` does not fit a calendar duration (it is a setting,
    /// checked at start-up rather than at the first order).
    pub fn new(
        engine: Engine,
        views: Views,
        payments: Payments,
        settle: Settle,
        payment_timeout: Duration,
        max_open_orders_per_user: usize,
    ) -> Result<Self, Error> {
        let payment_timeout = chrono::Duration::from_std(payment_timeout)
            .map_err(|_| Error::Startup("payment timeout out of range".into()))?;
        Ok(Self {
            engine,
            views,
            payments,
            settle,
            payment_timeout,
            max_open_orders_per_user,
            placing: KeyedLocks::default(),
        })
    }

    /// Refuses a new order when `user` already holds the maximum of unpaid orders.
    ///
    /// Counted on the views (newest first), which every placement settles before it
    /// answers; orders placed more than twice the payment timeout ago are not read
    /// (the reconciler closed them long since), which bounds the scan. The caller
    /// holds the user's `placing` lock from this check until its order is settled,
    /// so concurrent placements by one user each see the ones before them: the limit
    /// is exact within one process. (Several `paylog serve` processes sharing one
    /// replicated log each hold their own locks: together they may admit one extra
    /// order per process.)
    fn check_open_orders(
        &self,
        user: UserId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        let horizon = now - self.payment_timeout * 2;
        let mut page = Page::first(OPEN_ORDERS_SCAN_PAGE);
        let mut open = 0usize;
        loop {
            let batch = self.views.orders_of_user(user, &page)?;
            let mut past_horizon = false;
            for order in &batch.items {
                if order.placed_at < horizon {
                    past_horizon = true;
                    break;
                }
                if matches!(
                    order.status,
                    OrderStatus::Placed | OrderStatus::PaymentRequested
                ) {
                    open += 1;
                }
            }
            if open >= self.max_open_orders_per_user {
                return Err(Error::Conflict {
                    code: "too_many_open_orders",
                    message: format!(
                        "at most {} unpaid orders at once: pay or cancel one first",
                        self.max_open_orders_per_user
                    ),
                });
            }
            match batch.next_cursor {
                Some(cursor) if !past_horizon => {
                    page = Page {
                        cursor: Some(cursor),
                        limit: OPEN_ORDERS_SCAN_PAGE,
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Places an order for `user` and reserves its stock. With an idempotency key, a
    /// repeat of the same request (even racing the first) gets the same order.
    pub async fn place(
        &self,
        meta: CommandMeta,
        user: UserId,
        idempotency_key: Option<&str>,
        items: Vec<CartItem>,
    ) -> Result<Placed, Error> {
        // With a key, the order id and command id are derived from (user, key): a retry
        // names the same order, and the log refuses to place it twice.
        let (order_id, meta) = match idempotency_key {
            Some(key) => (
                OrderId::from_uuid(
                    CommandKey::OrderFor {
                        user,
                        idempotency_key: key,
                    }
                    .id(),
                ),
                meta.with_command_id(
                    CommandKey::PlaceOrder {
                        user,
                        idempotency_key: key,
                    }
                    .id(),
                ),
            ),
            None => (OrderId::from_uuid(Uuid::now_v7()), meta),
        };
        if idempotency_key.is_some()
            && let Some(existing) = self.engine.order(order_id).await?
        {
            return replay(existing, user, &items);
        }
        // Without a limit there is nothing to count, so nothing to serialise either:
        // the count is a scan of the user's recent orders in the views, which grows
        // with how many orders the user holds.
        let _placing = if self.max_open_orders_per_user == 0 {
            None
        } else {
            let guard = self.placing.lock(user).await;
            self.check_open_orders(user, meta.at)?;
            Some(guard)
        };
        let checkout = Checkout {
            order_id,
            user_id: user,
            items: items.clone(),
            expires_at: meta.at + self.payment_timeout,
            at: meta.at,
        };
        let (repeated, placed) = match self.engine.place_order_with_state(meta, checkout).await {
            Ok((committed, placed)) => {
                self.settle.settle(&committed).await;
                (committed.duplicate, placed)
            }
            Err(e) => match Error::from(e) {
                // Two identical requests raced; the other one placed it.
                Error::Domain(DomainError::AlreadyExists { .. }) if idempotency_key.is_some() => {
                    (true, None)
                }
                other => return Err(other),
            },
        };
        // A new order is answered from the events that placed it; only a repeat reads
        // the order (placed earlier, maybe by a racing request) from the log.
        let order = match placed {
            Some(order) => order,
            None => self
                .engine
                .order(order_id)
                .await?
                .ok_or(Error::Misuse("a placed order is missing"))?,
        };
        if repeated {
            replay(order, user, &items)
        } else {
            Ok(Placed {
                order,
                repeated: false,
            })
        }
    }

    /// An order of `user`, from the log; someone else's order is `None`, like a
    /// missing one.
    pub async fn own_order(
        &self,
        user: UserId,
        order_id: OrderId,
    ) -> Result<Option<OrderState>, Error> {
        Ok(self
            .engine
            .order(order_id)
            .await?
            .filter(|order| order.user_id == user))
    }

    /// The user's orders, newest first, from the views.
    pub fn list(&self, user: UserId, page: &Page) -> Result<PageOf<OrderSummary>, Error> {
        Ok(self.views.orders_of_user(user, page)?)
    }

    /// One of the user's orders in full, from the views; another user's is `None`.
    pub fn show(&self, user: UserId, order_id: OrderId) -> Result<Option<OrderView>, Error> {
        Ok(self
            .views
            .order(order_id)?
            .filter(|order| order.user_id == user))
    }

    /// Cancels an unpaid order of `user` (closing it at WeChat first) and releases
    /// its stock; the order afterwards, `None` if it is not the user's.
    pub async fn cancel(
        &self,
        meta: CommandMeta,
        user: UserId,
        order_id: OrderId,
    ) -> Result<Option<OrderState>, Error> {
        let Some(order) = self.own_order(user, order_id).await? else {
            return Ok(None);
        };
        let committed = self.payments.cancel(meta, &order).await?;
        self.settle.settle(&committed).await;
        self.own_order(user, order_id).await
    }

    /// The `wx.requestPayment` parameters for an unpaid order of `user`; `None` if it
    /// is not the user's.
    pub async fn pay(
        &self,
        meta: CommandMeta,
        user: UserId,
        order_id: OrderId,
        client_ip: &str,
    ) -> Result<Option<crate::services::payments::PaymentParams>, Error> {
        let Some(order) = self.own_order(user, order_id).await? else {
            return Ok(None);
        };
        let (params, committed) = self
            .payments
            .request_payment(meta, &order, client_ip)
            .await?;
        if let Some(committed) = committed {
            self.settle.settle(&committed).await;
        }
        Ok(Some(params))
    }

    /// An admin refunds `amount` of a paid order. The refund's number is the one the
    /// admin names (a retry of a refund whose outcome was unknown), else the one the
    /// idempotency key derives (a retried request names the same refund: WeChat
    /// refunds an `out_refund_no` once), else a fresh one. Returns the number once
    /// WeChat accepted the refund; the outcome arrives by notify or refundquery.
    pub async fn refund(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        amount: Fen,
        reason: String,
        number: RefundNumber<'_>,
    ) -> Result<OutRefundNo, Error> {
        let out_refund_no = match number {
            RefundNumber::Given(no) => no,
            RefundNumber::Key(key) => OutRefundNo::from_uuid(
                CommandKey::RefundNumberFor {
                    order: order_id,
                    idempotency_key: key,
                }
                .id(),
            ),
            RefundNumber::Fresh => OutRefundNo::from_uuid(Uuid::now_v7()),
        };
        let committed = self
            .payments
            .refund(meta, order_id, amount, reason, out_refund_no.clone())
            .await?;
        self.settle.settle(&committed).await;
        Ok(out_refund_no)
    }

    /// An admin refunds one anomalous payment of an order (its whole amount, to that
    /// transaction). Numbered like [`Ordering::refund`], the key scoped to the
    /// transaction.
    pub async fn refund_anomaly(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        transaction_id: TransactionId,
        reason: String,
        number: RefundNumber<'_>,
    ) -> Result<OutRefundNo, Error> {
        let out_refund_no = match number {
            RefundNumber::Given(no) => no,
            RefundNumber::Key(key) => OutRefundNo::from_uuid(
                CommandKey::AnomalyRefundNumberFor {
                    order: order_id,
                    transaction_id: &transaction_id,
                    idempotency_key: key,
                }
                .id(),
            ),
            RefundNumber::Fresh => OutRefundNo::from_uuid(Uuid::now_v7()),
        };
        let committed = self
            .payments
            .refund_anomaly(
                meta,
                order_id,
                transaction_id,
                reason,
                out_refund_no.clone(),
            )
            .await?;
        self.settle.settle(&committed).await;
        Ok(out_refund_no)
    }

    /// Orders holding anomalous payments (late, wrong amount, duplicate), refunded or
    /// not, from the `money_watch` view; a page of orders watched, filtered to those
    /// with anomalies.
    pub fn anomalies(&self, page: &Page) -> Result<PageOf<OrderView>, Error> {
        let mut watched = self.views.money_watch(page)?;
        watched.items.retain(|o| !o.anomalies.is_empty());
        Ok(watched)
    }

    /// An admin resolves a refund that needs attention (WeChat's `CHANGE`).
    pub async fn resolve_refund(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        out_refund_no: OutRefundNo,
        resolution: AttentionResolution,
        note: String,
    ) -> Result<OrderState, Error> {
        let committed = self
            .payments
            .resolve_refund_attention(meta, order_id, out_refund_no, resolution, note)
            .await?;
        self.settle.settle(&committed).await;
        self.engine
            .order(order_id)
            .await?
            .ok_or_else(|| DomainError::NotFound { aggregate: "order" }.into())
    }
}
