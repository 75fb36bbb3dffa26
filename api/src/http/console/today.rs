//! The Today page: sales, orders by status, payments waiting for WeChat's notify,
//! refunds pending or needing attention, anomalous payments, orders to ship, the
//! views' lag behind the log and readiness problems, the projector's last error, each
//! background job's last run (the reconciler, the uploader, the settlement checker:
//! started, finished, outcome, last error redacted), and two SVG charts (sales per
//! day, orders per hour), each figure linking to its list.

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, Query, State};
use axum::response::Response;
use chrono::{Duration, Timelike};
use maud::html;
use paylog_core::order::{OrderStatus, RefundStatus};
use paylog_projections::Page;

use super::chart::bars;
use super::i18n::{K, t};
use super::layout::{Flash, Nav, yuan};
use super::session::Operator;
use super::{error_page, operator_page};
use crate::http::state::AppState;
use crate::services::ordering::operator::OrderFilter;
use crate::services::periodic::Outcome;

/// Days on the sales chart.
const SALES_DAYS: i64 = 14;
/// Latest orders counted for "orders by status" and "orders per hour".
const LATEST_ORDERS: usize = 200;

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    flash: Result<Query<Flash>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let lang = op.lang;
    let now = state.clock.now();
    let shanghai = now.with_timezone(&chrono_tz::Asia::Shanghai);
    let today = shanghai.date_naive();
    let first = today - Duration::days(SALES_DAYS - 1);
    let sales = match state.audit.daily_sales(first, today) {
        Ok(s) => s,
        Err(e) => return error_page(&op, e.into()),
    };
    let by_day: BTreeMap<_, _> = sales.iter().map(|s| (s.date, s)).collect();
    let sales_bars: Vec<(String, u64)> = (0..SALES_DAYS)
        .map(|i| {
            let day = first + Duration::days(i);
            let fen = by_day.get(&day).map_or(0, |s| s.paid.get());
            (day.format("%m-%d").to_string(), fen / 100)
        })
        .collect();
    let today_sales = by_day.get(&today);
    let latest = match state
        .ordering
        .find_orders(&OrderFilter::default(), None, LATEST_ORDERS)
    {
        Ok(found) => found.items,
        Err(e) => return error_page(&op, e.into()),
    };
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for o in &latest {
        *by_status.entry(format!("{:?}", o.status)).or_default() += 1;
    }
    // The last 24 hours, hour by hour (Asia/Shanghai clock hours), oldest first.
    let mut per_hour = [0u64; 24];
    for o in &latest {
        let age = now - o.placed_at;
        if age >= Duration::zero() && age < Duration::hours(24) {
            let slot = usize::try_from(23 - age.num_hours()).unwrap_or(0);
            if let Some(n) = per_hour.get_mut(slot) {
                *n += 1;
            }
        }
    }
    let hour_bars: Vec<(String, u64)> = per_hour
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let back = i64::try_from(23 - i).unwrap_or(0);
            let at = shanghai - Duration::hours(back);
            (format!("{:02}", at.hour()), *n)
        })
        .collect();
    let awaiting = state
        .ordering
        .awaiting_notify()
        .map(|a| a.len())
        .unwrap_or(0);
    let watch = match state.ordering.anomalies(&Page::first(Page::MAX_LIMIT)) {
        Ok(p) => p.items,
        Err(e) => return error_page(&op, e.into()),
    };
    let refunds_open = watch
        .iter()
        .flat_map(|o| &o.refunds)
        .filter(|r| {
            matches!(
                r.status,
                RefundStatus::Pending | RefundStatus::NeedsAttention
            )
        })
        .count();
    let anomalies = watch.iter().map(|o| o.anomalies.len()).sum::<usize>();
    let to_ship = state
        .shipping
        .to_ship(&Page::first(Page::MAX_LIMIT))
        .map(|p| p.items.len())
        .unwrap_or(0);
    let health = state.health.readiness();
    let lag = health.log_head.saturating_sub(health.views_position);
    let projector_error = state.health.projector_error();
    let jobs = state.health.jobs();
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |a| a.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
    };
    let paid_link = format!("/console/orders?status={:?}", OrderStatus::Paid);
    let body = html! {
        h1 { (t(lang, K::Today)) " " (today) }
        div.cards {
            div.card #sales-today { div { (t(lang, K::Sales)) } div.big { (yuan(today_sales.map_or(0, |s| s.paid.get()))) " " (t(lang, K::Yuan)) } }
            div.card #awaiting-notify { div { a href="/console/orders?status=PaymentRequested" { (t(lang, K::AwaitingNotify)) } } div.big { (awaiting) } }
            div.card #refunds-open { div { a href="/console/money" { (t(lang, K::RefundsPending)) } } div.big { (refunds_open) } }
            div.card #anomalies { div { a href="/console/money" { (t(lang, K::Anomalies)) } } div.big { (anomalies) } }
            div.card #to-ship { div { a href=(paid_link) { (t(lang, K::ToShip)) } } div.big { (to_ship) } }
        }
        h2 { (t(lang, K::SalesPerDay)) }
        (bars("sales-chart", t(lang, K::SalesPerDay), &sales_bars))
        h2 { (t(lang, K::OrdersPerHour)) }
        (bars("hours-chart", t(lang, K::OrdersPerHour), &hour_bars))
        h2 { (t(lang, K::OrdersByStatus)) }
        table #by-status {
            @for (status, n) in &by_status {
                tr { td { a href={ "/console/orders?status=" (status) } { (status) } } td.num { (n) } }
            }
        }
        h2 { (t(lang, K::Health)) }
        table #health {
            tr { th { (t(lang, K::LogHead)) } td.num { (health.log_head) } }
            tr { th { (t(lang, K::ViewsPosition)) } td.num { (health.views_position) } }
            tr { th { (t(lang, K::Lag)) } td.num #lag { (lag) } }
            tr { th { (t(lang, K::Problems)) } td #problems {
                @if health.problems.is_empty() { (t(lang, K::None)) } @else { (health.problems.join(", ")) }
            } }
            tr { th { (t(lang, K::ProjectorError)) } td #projector-error {
                (projector_error.as_deref().unwrap_or(t(lang, K::None)))
            } }
        }
        h3 { (t(lang, K::Jobs)) }
        table #jobs {
            tr {
                th { (t(lang, K::Job)) } th { (t(lang, K::Outcome)) } th { (t(lang, K::StartedAt)) }
                th { (t(lang, K::FinishedAt)) } th { (t(lang, K::LastError)) }
            }
            @for (job, run) in &jobs {
                tr id={ "job-" (job.replace(' ', "-")) } {
                    td { (job) }
                    td.outcome {
                        @match (run.running, run.outcome) {
                            (true, _) => (t(lang, K::Running)),
                            (false, None) => (t(lang, K::NeverRan)),
                            (false, Some(Outcome::Succeeded)) => (t(lang, K::Succeeded)),
                            (false, Some(Outcome::Failed)) => (t(lang, K::Failed)),
                        }
                    }
                    td { (when(run.started_at)) }
                    td { (when(run.finished_at)) }
                    td.error { (run.last_error.as_deref().unwrap_or("-")) }
                }
            }
        }
    };
    let flash = flash.map(|f| f.0).unwrap_or_default();
    operator_page(&op, &uri, t(lang, K::Today), Nav::Today, &flash, body)
}
