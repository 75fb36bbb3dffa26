//! The Money page: anomalous payments with "refund this transaction", refunds pending
//! or needing attention, and a day's reconciliation against WeChat's bill with every
//! difference and what was done about it.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::Response;
use chrono::NaiveDate;
use maud::html;
use paylog_core::OrderId;
use paylog_core::order::{RefundStatus, RefundTarget};
use paylog_core::payment_refs::TransactionId;
use paylog_projections::Page;
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::{K, t};
use super::layout::{Flash, Nav};
use super::session::Operator;
use super::{Posted, after_action, error_page, form_key, operator_page};
use crate::http::error::ApiError;
use crate::http::extract::Meta;
use crate::http::state::AppState;
use crate::services::ordering::RefundNumber;

csrf_form!(AnomalyRefundForm);

#[derive(Debug, Default, Deserialize)]
pub struct MoneyQuery {
    /// The Beijing day to reconcile (YYYY-MM-DD); none: no reconciliation shown.
    #[serde(default)]
    day: String,
    notice: Option<String>,
    error: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<MoneyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let lang = op.lang;
    let watch = match state.ordering.anomalies(&Page::first(Page::MAX_LIMIT)) {
        Ok(p) => p.items,
        Err(e) => return error_page(&op, e.into()),
    };
    let day = if q.day.trim().is_empty() {
        None
    } else {
        match NaiveDate::parse_from_str(q.day.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                return error_page(
                    &op,
                    ApiError::bad_request("invalid_date", "a date is YYYY-MM-DD"),
                );
            }
        }
    };
    let report = match day {
        Some(d) => match state.bill.report(d).await {
            Ok(r) => Some(Ok(r)),
            Err(e) => Some(Err(ApiError::from(e))),
        },
        None => None,
    };
    let default_day = state
        .bill
        .default_day()
        .map(|d| d.to_string())
        .unwrap_or_default();
    let csrf = op.csrf.as_str();
    let body = html! {
        h1 { (t(lang, K::Money)) }
        h2 { (t(lang, K::Anomalies)) }
        table #anomaly-list {
            tr { th { (t(lang, K::Order)) } th { (t(lang, K::Kind)) } th { (t(lang, K::Transaction)) } th { (t(lang, K::Amount)) } th {} }
            @for o in &watch {
                @for a in &o.anomalies {
                    @let refund = o.refunds.iter().rev().find(|r| matches!(&r.target, RefundTarget::Anomaly(tx) if tx == &a.transaction_id));
                    tr {
                        td { a href={ "/console/orders/" (o.order_id.as_uuid()) } { (o.out_trade_no.as_str()) } }
                        td { (format!("{:?}", a.kind)) }
                        td { (a.transaction_id.as_str()) }
                        td.num { (a.amount.get()) }
                        td {
                            @if let Some(r) = refund {
                                (r.out_refund_no.as_str()) " " (format!("{:?}", r.status))
                            } @else {
                                form.inline method="post" action={ "/console/money/anomalies/" (o.order_id.as_uuid()) "/" (a.transaction_id.as_str()) "/refund" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="key" value=(form_key());
                                    input type="text" name="reason" placeholder=(t(lang, K::Reason)) maxlength="80";
                                    button type="submit" { (t(lang, K::RefundThis)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (t(lang, K::RefundsPending)) }
        table #pending-refunds {
            tr { th { (t(lang, K::Order)) } th { "out_refund_no" } th { (t(lang, K::Amount)) } th { (t(lang, K::Reason)) } th { (t(lang, K::Status)) } th { (t(lang, K::Time)) } }
            @for o in &watch {
                @for r in o.refunds.iter().filter(|r| matches!(r.status, RefundStatus::Pending | RefundStatus::NeedsAttention)) {
                    tr {
                        td { a href={ "/console/orders/" (o.order_id.as_uuid()) } { (o.out_trade_no.as_str()) } }
                        td { (r.out_refund_no.as_str()) } td.num { (r.amount.get()) } td { (r.reason) }
                        td { (format!("{:?}", r.status)) } td { (r.requested_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    }
                }
            }
        }
        h2 { (t(lang, K::Reconciliation)) }
        form.inline #reconcile-form method="get" action="/console/money" {
            label { (t(lang, K::Day)) input #reconcile-day type="date" name="day" value=(if q.day.is_empty() { default_day.as_str() } else { q.day.as_str() }); }
            button #reconcile-submit type="submit" { (t(lang, K::Show)) }
        }
        @match &report {
            Some(Ok(r)) => {
                table #reconciliation {
                    tr { th { (t(lang, K::Day)) } td { (r.date) } }
                    tr { th { "bill" } td { (format!("{:?}", r.bill)) } }
                    tr { th { "matches" } td #matches { (r.matches) } }
                    tr { th { "bill payments / refunds" } td { (r.bill_payments) " / " (r.bill_refunds) } }
                    tr { th { "log payments / refunds" } td { (r.log_payments) " / " (r.log_refunds) } }
                }
                h2 { (t(lang, K::Differences)) " (" (r.differences.len()) ")" }
                table #differences {
                    @for f in &r.differences {
                        tr { td { code.difference { (serde_json::to_string(f).unwrap_or_default()) } } }
                    }
                }
            }
            Some(Err(e)) => { p.error { (e.code) ": " (e.message) } }
            None => {}
        }
    };
    let flash = Flash {
        notice: q.notice,
        error: q.error,
    };
    operator_page(&op, &uri, t(lang, K::Money), Nav::Money, &flash, body)
}

#[derive(Debug, Deserialize)]
pub struct AnomalyRefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    reason: String,
}

pub async fn refund_anomaly(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path((id, tx)): Path<(String, String)>,
    Posted { op, form }: Posted<AnomalyRefundForm>,
) -> Response {
    let outcome = async {
        let id = Uuid::parse_str(&id)
            .map(OrderId::from_uuid)
            .map_err(|_| ApiError::not_found("order"))?;
        let tx = TransactionId::parse(&tx).map_err(|_| ApiError::not_found("anomalous payment"))?;
        if form.key.is_empty()
            || form.key.len() > 255
            || !form.key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "the form's key is not valid",
            ));
        }
        let no = state
            .ordering
            .refund_anomaly(meta, id, tx, form.reason, RefundNumber::Key(&form.key))
            .await?;
        Ok::<_, ApiError>(format!("{}: {}", t(op.lang, K::Refund), no.as_str()))
    }
    .await;
    after_action("/console/money", outcome)
}
