//! The operators' reads of every order (the console's Orders and Today pages) and
//! the operator's cancel: no user scoping, unlike the shopper's calls in the parent.

use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::identity::Username;
use paylog_core::order::{OrderState, OrderStatus};
use paylog_core::{OrderId, OutTradeNo, UserId};
use paylog_engine::CommandMeta;
use paylog_projections::{AwaitingPayment, OrderView, Page, UserView};
use uuid::Uuid;

use super::Ordering;
use crate::error::Error;

/// Orders read from the views per filtered page at most: a filter that matches
/// little stops there and offers the next cursor instead of scanning the whole shop.
pub const MAX_SCANNED_PER_PAGE: usize = 2000;

/// What an operator filters the order list by (every field optional).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    /// Placed on or after this Asia/Shanghai day.
    pub from: Option<NaiveDate>,
    /// Placed on or before this Asia/Shanghai day.
    pub to: Option<NaiveDate>,
    /// A username or a user id.
    pub user: Option<String>,
    pub out_trade_no: Option<String>,
}

/// A page of the filtered list; `next_cursor` continues the scan where it stopped.
#[derive(Debug, Clone)]
pub struct OrdersFound {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
    /// Orders read to fill this page.
    pub scanned: usize,
}

fn shanghai_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

impl Ordering {
    /// Every order matching `filter`, newest first, up to `limit`, reading at most
    /// [`MAX_SCANNED_PER_PAGE`] orders.
    pub fn find_orders(
        &self,
        filter: &OrderFilter,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<OrdersFound, Error> {
        let limit = limit.clamp(1, Page::MAX_LIMIT);
        if let Some(no) = filter.out_trade_no.as_deref() {
            // An out_trade_no paylog issued names its order: one lookup.
            let order = OutTradeNo::parse(no)
                .ok()
                .and_then(|n| n.order_id())
                .map(|id| self.views.order(id))
                .transpose()?
                .flatten();
            let items = order
                .into_iter()
                .filter(|o| matches(filter, None, o))
                .collect::<Vec<_>>();
            let user = self.filter_user(filter)?;
            let items = items
                .into_iter()
                .filter(|o| user.is_none_or(|u| u == Some(o.user_id)))
                .collect();
            return Ok(OrdersFound {
                items,
                next_cursor: None,
                scanned: 1,
            });
        }
        let user = self.filter_user(filter)?;
        if user == Some(None) {
            // A user who does not exist has no orders.
            return Ok(OrdersFound {
                items: Vec::new(),
                next_cursor: None,
                scanned: 0,
            });
        }
        let mut items = Vec::new();
        let mut scanned = 0;
        let mut page = Page {
            cursor,
            limit: Page::MAX_LIMIT,
        };
        loop {
            let batch = self.views.orders_newest_first(&page)?;
            let in_batch = batch.items.len();
            let mut last = None;
            let mut stopped_early = false;
            for (i, order) in batch.items.into_iter().enumerate() {
                scanned += 1;
                last = Some(order.order_id.as_uuid().simple().to_string());
                if matches(filter, user.flatten(), &order) {
                    items.push(order);
                }
                if items.len() == limit || scanned >= MAX_SCANNED_PER_PAGE {
                    stopped_early = i + 1 < in_batch;
                    break;
                }
            }
            let rest = stopped_early || batch.next_cursor.is_some();
            if !rest || last.is_none() {
                return Ok(OrdersFound {
                    items,
                    next_cursor: None,
                    scanned,
                });
            }
            if items.len() == limit || scanned >= MAX_SCANNED_PER_PAGE {
                return Ok(OrdersFound {
                    items,
                    next_cursor: last,
                    scanned,
                });
            }
            page.cursor = last;
        }
    }

    /// `Some(Some(id))`: the filter names this user; `Some(None)`: it names nobody
    /// known; `None`: no user filter.
    fn filter_user(&self, filter: &OrderFilter) -> Result<Option<Option<UserId>>, Error> {
        let Some(given) = filter
            .user
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        if let Ok(id) = Uuid::parse_str(given) {
            return Ok(Some(
                self.views.user(UserId::from_uuid(id))?.map(|u| u.user_id),
            ));
        }
        let Ok(username) = Username::parse(given) else {
            return Ok(Some(None));
        };
        Ok(Some(
            self.views.user_by_username(&username)?.map(|u| u.user_id),
        ))
    }

    /// Any order, by id (the operator sees every order).
    pub fn any_order(&self, order_id: OrderId) -> Result<Option<OrderView>, Error> {
        Ok(self.views.order(order_id)?)
    }

    /// A user, for showing who placed an order.
    pub fn user(&self, user_id: UserId) -> Result<Option<UserView>, Error> {
        Ok(self.views.user(user_id)?)
    }

    /// Orders waiting for WeChat's payment notify (payment requested, not paid), soonest
    /// expiry first; at most one page.
    pub fn awaiting_notify(&self) -> Result<Vec<AwaitingPayment>, Error> {
        let page = self
            .views
            .awaiting_payment(None, &Page::first(Page::MAX_LIMIT))?;
        Ok(page
            .items
            .into_iter()
            .filter(|a| a.status == OrderStatus::PaymentRequested)
            .collect())
    }

    /// The operator cancels an unpaid order: the same command as the shopper's
    /// cancel, issued for the order's owner; an order already cancelled is returned
    /// as it is (a repeated submit). `None`: no such order.
    pub async fn cancel_as_operator(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
    ) -> Result<Option<OrderState>, Error> {
        let Some(order) = self.views.order(order_id)? else {
            return Ok(None);
        };
        if order.status == OrderStatus::Cancelled {
            // A second submit of the cancel form: the order is as the first left it.
            return Ok(Some(order));
        }
        self.cancel(meta, order.user_id, order_id).await
    }
}

fn matches(filter: &OrderFilter, user: Option<UserId>, order: &OrderView) -> bool {
    let day = shanghai_day(order.placed_at);
    filter.status.is_none_or(|s| s == order.status)
        && filter.from.is_none_or(|f| day >= f)
        && filter.to.is_none_or(|t| day <= t)
        && user.is_none_or(|u| u == order.user_id)
}
