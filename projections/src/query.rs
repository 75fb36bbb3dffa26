//! The query API the HTTP layer calls: point lookups and cursor-paginated scans of the
//! active generation.
//!
//! Every method is a synchronous RocksDB read of a few keys (or one short scan, at most
//! [`Page::MAX_LIMIT`] items): cheap enough to call from an async handler directly.
//! Views are eventually consistent with the log; call [`Views::wait_for`] first with the
//! position a command appended to read its effects. Access control (is this the caller's
//! order?) is the caller's job: views answer for anyone.

use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::identity::{OpenId, Username};
use paylog_core::{OrderId, ProductId, UserId};
use rocksdb::{Direction, IteratorMode};
use serde::de::DeserializeOwned;

use crate::error::{ProjectionError, Result};
use crate::layout::{self, View};
use crate::model::{
    AwaitingPayment, DailySales, LedgerEntry, OrderSummary, OrderView, Page, PageOf, ProductView,
    UserView,
};
use crate::views::Views;

/// Longest date range [`Views::daily_sales`] answers, in days.
pub const MAX_SALES_DAYS: i64 = 366;

impl Views {
    /// A user by id.
    pub fn user(&self, user_id: UserId) -> Result<Option<UserView>> {
        self.get(View::Users, user_id.as_uuid().as_bytes())
    }

    /// The user who registered with this WeChat openid.
    pub fn user_by_openid(&self, openid: &OpenId) -> Result<Option<UserView>> {
        self.user_via(View::UsersByOpenId, openid.as_str().as_bytes())
    }

    /// The user who registered with this (normalised) username.
    pub fn user_by_username(&self, username: &Username) -> Result<Option<UserView>> {
        self.user_via(View::UsersByUsername, username.as_str().as_bytes())
    }

    /// An order's detail: lines, totals, status, payment, refunds, anomalies, times.
    pub fn order(&self, order_id: OrderId) -> Result<Option<OrderView>> {
        self.get(View::Orders, order_id.as_uuid().as_bytes())
    }

    /// A user's orders, newest first.
    pub fn orders_of_user(&self, user_id: UserId, page: &Page) -> Result<PageOf<OrderSummary>> {
        self.scan(View::OrdersByUser, user_id.as_uuid().as_bytes(), 24, page)
    }

    /// A product by id.
    pub fn product(&self, product_id: ProductId) -> Result<Option<ProductView>> {
        self.get(View::Products, product_id.as_uuid().as_bytes())
    }

    /// The catalog, in product id order (uuid v7 ids: oldest product first).
    pub fn products(&self, page: &Page) -> Result<PageOf<ProductView>> {
        self.scan(View::Products, &[], 16, page)
    }

    /// Every payment, refund and payment anomaly, in log order.
    pub fn ledger(&self, page: &Page) -> Result<PageOf<LedgerEntry>> {
        self.scan(View::Ledger, &[], 8, page)
    }

    /// Sales per Asia/Shanghai calendar day in `from..=to`; days without activity are
    /// left out. At most [`MAX_SALES_DAYS`] days.
    pub fn daily_sales(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DailySales>> {
        let days = (to - from).num_days();
        if !(0..MAX_SALES_DAYS).contains(&days) {
            return Err(ProjectionError::InvalidArgument(format!(
                "the range {from}..={to} must span 1 to {MAX_SALES_DAYS} days"
            )));
        }
        let generation = self.generation_id();
        let handle = self.cf(generation, View::DailySales)?;
        let start = layout::day_key(from);
        let end = layout::day_key(to);
        let mut sales = Vec::new();
        for item in self
            .db()
            .iterator_cf(&handle, IteratorMode::From(&start, Direction::Forward))
        {
            let (key, value) = item?;
            if key.as_ref() > end.as_slice() {
                break;
            }
            sales.push(layout::decode(&value, "daily_sales")?);
        }
        Ok(sales)
    }

    /// Orders that may still be paid (`Placed`/`PaymentRequested`), soonest expiry
    /// first; with `expiring_before`, only those whose `expires_at` is before it (the
    /// reconciler's scan for orders to query and close).
    pub fn awaiting_payment(
        &self,
        expiring_before: Option<DateTime<Utc>>,
        page: &Page,
    ) -> Result<PageOf<AwaitingPayment>> {
        let mut result: PageOf<AwaitingPayment> =
            self.scan(View::AwaitingPayment, &[], 24, page)?;
        if let Some(before) = expiring_before {
            let all = result.items.len();
            result.items.retain(|a| a.expires_at < before);
            // Items are sorted by expiry: once one is past the bound, so is the rest.
            if result.items.len() < all {
                result.next_cursor = None;
            }
        }
        Ok(result)
    }

    /// Orders whose money needs watching, by order id: every order with an anomalous
    /// payment (refunded or not) and every order with a refund pending or needing
    /// attention (the admin's anomaly list and the refund reconciler's work list).
    pub fn money_watch(&self, page: &Page) -> Result<PageOf<OrderView>> {
        self.scan(View::MoneyWatch, &[], 16, page)
    }

    /// Paid orders not shipped yet (nor fully refunded), oldest payment first: what
    /// the merchant still has to ship.
    pub fn to_ship(&self, page: &Page) -> Result<PageOf<OrderSummary>> {
        self.scan(View::ToShip, &[], 24, page)
    }

    /// Shipped orders whose current shipment WeChat does not have yet (pending, or
    /// refused), oldest first shipment first: the background uploader's work list.
    /// Orders whose receipt is confirmed or that were fully refunded leave it.
    pub fn to_upload(&self, page: &Page) -> Result<PageOf<OrderView>> {
        self.scan(View::ToUpload, &[], 24, page)
    }

    /// Shipments WeChat has whose money is not settled yet (not fully refunded),
    /// oldest first shipment first: the settlement checker's work list.
    pub fn to_settle(&self, page: &Page) -> Result<PageOf<OrderView>> {
        self.scan(View::ToSettle, &[], 24, page)
    }

    /// Every order, newest first (order ids are uuid v7: key order is placing order),
    /// `page.limit` at a time; the cursor is the hex id of the previous page's last
    /// order. The operators' console lists and filters orders from this.
    pub fn orders_newest_first(&self, page: &Page) -> Result<PageOf<OrderView>> {
        let limit = page.effective_limit();
        let after = match &page.cursor {
            Some(cursor) => Some(
                hex::decode(cursor)
                    .ok()
                    .filter(|s| s.len() == 16)
                    .ok_or_else(|| ProjectionError::InvalidCursor(cursor.clone()))?,
            ),
            None => None,
        };
        let handle = self.cf(self.generation_id(), View::Orders)?;
        let mode = match &after {
            Some(key) => IteratorMode::From(key, Direction::Reverse),
            None => IteratorMode::End,
        };
        let mut items = Vec::with_capacity(limit);
        let mut last_key = None;
        let mut more = false;
        for item in self.db().iterator_cf(&handle, mode) {
            let (key, value) = item?;
            if after.as_deref() == Some(key.as_ref()) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(layout::decode(&value, View::Orders.name())?);
            last_key = Some(key);
        }
        let next_cursor = match (more, last_key) {
            (true, Some(key)) => Some(hex::encode(&key)),
            _ => None,
        };
        Ok(PageOf { items, next_cursor })
    }

    fn get<T: DeserializeOwned>(&self, view: View, key: &[u8]) -> Result<Option<T>> {
        let handle = self.cf(self.generation_id(), view)?;
        match self.db().get_pinned_cf(&handle, key)? {
            Some(bytes) => Ok(Some(layout::decode(&bytes, view.name())?)),
            None => Ok(None),
        }
    }

    fn user_via(&self, index: View, key: &[u8]) -> Result<Option<UserView>> {
        match self.get::<UserId>(index, key)? {
            Some(user_id) => self.user(user_id),
            None => Ok(None),
        }
    }

    /// Keys under `prefix`, in key order, after the cursor (the hex of the previous
    /// page's last key without the prefix, which is `suffix_len` bytes long).
    fn scan<T: DeserializeOwned>(
        &self,
        view: View,
        prefix: &[u8],
        suffix_len: usize,
        page: &Page,
    ) -> Result<PageOf<T>> {
        let limit = page.effective_limit();
        let mut start = prefix.to_vec();
        let after = match &page.cursor {
            Some(cursor) => {
                let suffix = hex::decode(cursor)
                    .ok()
                    .filter(|s| s.len() == suffix_len)
                    .ok_or_else(|| ProjectionError::InvalidCursor(cursor.clone()))?;
                start.extend_from_slice(&suffix);
                Some(start.clone())
            }
            None => None,
        };
        let handle = self.cf(self.generation_id(), view)?;
        let iter = self
            .db()
            .iterator_cf(&handle, IteratorMode::From(&start, Direction::Forward));
        let mut items = Vec::with_capacity(limit);
        let mut last_key = None;
        let mut more = false;
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            if after.as_deref() == Some(key.as_ref()) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(layout::decode(&value, view.name())?);
            last_key = Some(key);
        }
        let next_cursor = match (more, last_key) {
            (true, Some(key)) => Some(hex::encode(&key[prefix.len()..])),
            _ => None,
        };
        Ok(PageOf { items, next_cursor })
    }
}
