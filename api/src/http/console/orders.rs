//! The Orders page: every order, newest first, filtered by status, Asia/Shanghai day
//! range, user (username or id) and out_trade_no, a page at a time.

use axum::extract::{OriginalUri, State};
use axum::response::Response;
use chrono::NaiveDate;
use maud::html;
use paylog_core::order::OrderStatus;
use serde::Deserialize;

use super::i18n::{K, t};
use super::layout::{Flash, Nav, encode, yuan};
use super::session::Operator;
use super::{error_page, operator_page};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::services::ordering::operator::OrderFilter;

/// Orders per page.
const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct OrdersQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    out_trade_no: String,
    cursor: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// `status` as one of the order statuses by its name (`Paid`, `PartiallyRefunded`…).
pub fn parse_status(s: &str) -> Option<OrderStatus> {
    OrderStatus::ALL
        .into_iter()
        .find(|status| format!("{status:?}") == s)
}

fn parse_day(s: &str) -> Result<Option<NaiveDate>, ApiError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| ApiError::bad_request("invalid_date", "a date is YYYY-MM-DD"))
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    query: Result<axum::extract::Query<OrdersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let lang = op.lang;
    let filter = match (parse_day(&q.from), parse_day(&q.to)) {
        (Ok(from), Ok(to)) => OrderFilter {
            status: parse_status(&q.status),
            from,
            to,
            user: non_empty(&q.user),
            out_trade_no: non_empty(&q.out_trade_no),
        },
        (Err(e), _) | (_, Err(e)) => return error_page(&op, e),
    };
    let found = match state
        .ordering
        .find_orders(&filter, q.cursor.clone(), PAGE_SIZE)
    {
        Ok(found) => found,
        Err(e) => return error_page(&op, e.into()),
    };
    let flash = Flash {
        notice: q.notice.clone(),
        error: q.error.clone(),
    };
    let next = found.next_cursor.as_ref().map(|c| {
        format!(
            "/console/orders?status={}&from={}&to={}&user={}&out_trade_no={}&cursor={}",
            encode(&q.status),
            encode(&q.from),
            encode(&q.to),
            encode(&q.user),
            encode(&q.out_trade_no),
            encode(c)
        )
    });
    let rows: Vec<_> = found
        .items
        .iter()
        .map(|o| {
            let user = state
                .ordering
                .user(o.user_id)
                .ok()
                .flatten()
                .and_then(|u| u.username.map(|n| n.as_str().to_owned()))
                .unwrap_or_else(|| o.user_id.as_uuid().to_string());
            (o, user)
        })
        .collect();
    let body = html! {
        h1 { (t(lang, K::Orders)) }
        form.inline #filters method="get" action="/console/orders" {
            label { (t(lang, K::Status))
                select name="status" {
                    option value="" { (t(lang, K::Any)) }
                    @for s in OrderStatus::ALL {
                        @let name = format!("{s:?}");
                        option value=(name) selected[filter.status == Some(s)] { (name) }
                    }
                }
            }
            label { (t(lang, K::From)) input type="date" name="from" value=(q.from); }
            label { (t(lang, K::To)) input type="date" name="to" value=(q.to); }
            label { (t(lang, K::User)) input type="text" name="user" value=(q.user); }
            label { (t(lang, K::OutTradeNo)) input type="text" name="out_trade_no" value=(q.out_trade_no); }
            button type="submit" { (t(lang, K::Filter)) }
        }
        @if rows.is_empty() {
            p #no-orders { (t(lang, K::NoOrders)) }
        } @else {
            table #orders {
                tr {
                    th { (t(lang, K::OutTradeNo)) } th { (t(lang, K::User)) } th { (t(lang, K::Status)) }
                    th { (t(lang, K::Total)) } th { (t(lang, K::Paid)) } th { (t(lang, K::Refunded)) }
                    th { (t(lang, K::PlacedAt)) }
                }
                @for (o, user) in &rows {
                    tr {
                        td { a href={ "/console/orders/" (o.order_id.as_uuid()) } { (o.out_trade_no.as_str()) } }
                        td { (user) }
                        td { (format!("{:?}", o.status)) }
                        td.num { (yuan(o.total.get())) }
                        td.num { (yuan(o.paid.get())) }
                        td.num { (yuan(o.refunded.get())) }
                        td { (o.placed_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    }
                }
            }
        }
        @if let Some(next) = next {
            p { a #next href=(next) { (t(lang, K::Next)) } }
        }
    };
    operator_page(&op, &uri, t(lang, K::Orders), Nav::Orders, &flash, body)
}
