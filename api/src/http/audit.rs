//! Admin audit endpoints: replay for auditors over HTTP (issue 6).
//! - `GET /v1/admin/orders/{id}/history[?as_of=]`: an order's whole history and the
//!   state after each event, or as paylog knew it at an instant;
//! - `GET /v1/admin/events?after=&limit=`: a page of the raw log;
//! - `GET /v1/admin/reports/daily?from=&to=`: sales per Asia/Shanghai day.
//!
//! The history comes from the same library calls as `paylog audit order`
//! ([`paylog_projections::audit`]) and is serialised the same way, and the log page uses
//! the same envelope rendering as `paylog events`, so the CLI and the API never
//! disagree about what the log says.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::OrderId;
use paylog_core::order::OrderState;
use paylog_projections::audit::{ExportedEvent, HistoryEntry, Secrets};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiPath, ApiQuery};
use super::state::AppState;
use crate::error::Error;

/// The page size of `/v1/admin/events` when the caller names none.
const DEFAULT_EVENTS_LIMIT: usize = 100;
/// The largest page of `/v1/admin/events`; larger requests are clamped to it.
const MAX_EVENTS_LIMIT: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// An RFC 3339 instant (percent-encode a `+` offset): answer as paylog knew the
    /// order then.
    pub as_of: Option<String>,
}

/// An order's history. `entries` and `state` are serialised exactly as
/// `paylog audit order --json` prints the history and `--as-of … --json` the state.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderAudit {
    pub order_id: Uuid,
    /// Present when the request named `as_of`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
    /// Every event of the order's stream, oldest first (with `as_of`: those recorded
    /// at or before it), with its envelope, its decoded payload (`event`) and the
    /// order's state right after it.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<HistoryEntry>,
    /// The order's state now, or with `as_of` then (`null`: not placed yet).
    #[schema(value_type = Option<Object>)]
    pub state: Option<OrderState>,
}

/// The order's history and its state after each event (or as of an instant).
#[utoipa::path(get, path = "/v1/admin/orders/{id}/history", tag = "admin",
    params(("id" = Uuid, Path, description = "order id"), HistoryQuery),
    security(("admin" = [])),
    responses((status = 200, body = OrderAudit), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn order_history_of(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<OrderAudit>, ApiError> {
    // Validate everything before touching the log.
    let as_of = query.as_of.as_deref().map(parse_instant).transpose()?;
    let history = state
        .audit
        .order_history(OrderId::from_uuid(id), as_of)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    Ok(Json(OrderAudit {
        order_id: id,
        as_of,
        entries: history.entries,
        state: history.state,
    }))
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_as_of",
                "as_of must be an RFC 3339 instant, e.g. 2026-01-01T12:00:00Z \
                 (percent-encode a '+' offset as %2B)",
            )
        })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Events with a position greater than this (default 0: from the start).
    #[serde(default)]
    pub after: u64,
    /// Page size, clamped to 1..=1000 (default 100).
    pub limit: Option<usize>,
    /// `true` shows password hashes as stored; by default they are redacted.
    #[serde(default)]
    pub include_password_hashes: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    /// Envelopes in log order, as `paylog events` prints them (payload inline as JSON).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<ExportedEvent>,
    /// Pass as `after` for the next page (the last position here, or `after` itself
    /// when the page is empty).
    pub next_after: u64,
    /// The log's last durable position when the page was read.
    pub head: u64,
}

/// A page of the event log, oldest first.
#[utoipa::path(get, path = "/v1/admin/events", tag = "admin", params(EventsQuery),
    security(("admin" = [])),
    responses((status = 200, body = EventsPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let limit = query
        .limit
        .unwrap_or(DEFAULT_EVENTS_LIMIT)
        .clamp(1, MAX_EVENTS_LIMIT);
    let secrets = if query.include_password_hashes {
        Secrets::Included
    } else {
        Secrets::Redacted
    };
    let page = state.audit.log_page(query.after, limit).await?;
    let head = page.head;
    let next_after = page.events.last().map_or(query.after, |e| e.position);
    let events = page
        .events
        .iter()
        .map(|e| ExportedEvent::from_recorded_with(e, secrets))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::from)?;
    Ok(Json(EventsPage {
        events,
        next_after,
        head: head.max(next_after),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DailyQuery {
    /// First day (Asia/Shanghai), `YYYY-MM-DD`.
    #[param(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last day, inclusive; at most 366 days after `from`.
    #[param(value_type = String, format = Date)]
    pub to: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailySalesRow {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Orders placed that day.
    pub orders_placed: u64,
    /// Orders paid that day (by WeChat's `time_end`).
    pub orders_paid: u64,
    pub paid_fen: u64,
    /// Refunds confirmed that day.
    pub refunded_fen: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// Days with activity, in order; quiet days are left out.
    pub days: Vec<DailySalesRow>,
    /// The sums over `days`.
    pub totals: DailyTotals,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DailyTotals {
    pub orders_placed: u64,
    pub orders_paid: u64,
    pub paid_fen: u64,
    pub refunded_fen: u64,
}

/// Sales per Asia/Shanghai day, from the views.
#[utoipa::path(get, path = "/v1/admin/reports/daily", tag = "admin", params(DailyQuery),
    security(("admin" = [])),
    responses((status = 200, body = DailyReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn daily(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DailyQuery>,
) -> Result<Json<DailyReport>, ApiError> {
    let sales = state.audit.daily_sales(query.from, query.to)?;
    let mut totals = DailyTotals::default();
    let days = sales
        .into_iter()
        .map(|s| {
            let row = DailySalesRow {
                date: s.date,
                orders_placed: s.orders_placed,
                orders_paid: s.orders_paid,
                paid_fen: s.paid.get(),
                refunded_fen: s.refunded.get(),
            };
            totals.orders_placed = totals.orders_placed.saturating_add(row.orders_placed);
            totals.orders_paid = totals.orders_paid.saturating_add(row.orders_paid);
            totals.paid_fen = totals.paid_fen.saturating_add(row.paid_fen);
            totals.refunded_fen = totals.refunded_fen.saturating_add(row.refunded_fen);
            row
        })
        .collect();
    Ok(Json(DailyReport {
        from: query.from,
        to: query.to,
        days,
        totals,
    }))
}
