//! One order: its lines, payment, refunds, anomalies, shipment and settlement, its
//! timeline straight from the log (position, time, command id, correlation id) with
//! the state as of any position on it, and the actions its state allows (refund,
//! ship, cancel) through the same services as the JSON API.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::Response;
use maud::html;
use paylog_core::order::{DeliveryMode, LogisticsType, OrderStatus, Parcel, Shipment};
use paylog_core::{Fen, OrderId};
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::{K, t};
use super::layout::{Flash, Nav, yuan};
use super::session::Operator;
use super::{Posted, after_action, error_page, form_key, operator_page};
use crate::http::error::ApiError;
use crate::http::extract::Meta;
use crate::http::state::AppState;
use crate::services::ordering::RefundNumber;

csrf_form!(RefundForm, ShipForm, CancelForm);

#[derive(Debug, Default, Deserialize)]
pub struct OrderQuery {
    /// Show the state as it was right after the event at this log position.
    as_of: Option<u64>,
    notice: Option<String>,
    error: Option<String>,
}

fn order_id(id: &str) -> Result<OrderId, ApiError> {
    Uuid::parse_str(id)
        .map(OrderId::from_uuid)
        .map_err(|_| ApiError::not_found("order"))
}

/// An idempotency key from a form: what the JSON API's `Idempotency-Key` accepts.
fn valid_key(key: &str) -> Result<&str, ApiError> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "the form's key must be 1 to 255 visible ASCII characters",
        ))
    }
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    query: Result<Query<OrderQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let lang = op.lang;
    let id = match order_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(&op, e),
    };
    let history = match state.audit.order_history(id, None).await {
        Ok(Some(h)) => h,
        Ok(None) => return error_page(&op, ApiError::not_found("order")),
        Err(e) => return error_page(&op, e.into()),
    };
    let Some(order) = history.state.clone() else {
        return error_page(&op, ApiError::not_found("order"));
    };
    let user = state
        .ordering
        .user(order.user_id)
        .ok()
        .flatten()
        .and_then(|u| u.username.map(|n| n.as_str().to_owned()))
        .unwrap_or_else(|| order.user_id.as_uuid().to_string());
    let as_of = q.as_of.and_then(|p| {
        history
            .entries
            .iter()
            .rev()
            .find(|e| e.position <= p)
            .map(|e| (e.position, e.state.clone()))
    });
    let as_of_json = as_of
        .as_ref()
        .map(|(_, s)| serde_json::to_string_pretty(s).unwrap_or_default());
    let awaiting = matches!(
        order.status,
        OrderStatus::Placed | OrderStatus::PaymentRequested
    );
    let refundable = order.refundable().get();
    let shippable = order.paid.get() > 0
        && order.shipping.is_none()
        && matches!(
            order.status,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded
        );
    let base = format!("/console/orders/{}", id.as_uuid());
    let flash = Flash {
        notice: q.notice,
        error: q.error,
    };
    let csrf = op.csrf.as_str();
    let body = html! {
        h1 { (t(lang, K::Order)) " " span #out-trade-no { (order.out_trade_no.as_str()) } }
        table #summary {
            tr { th { (t(lang, K::User)) } td #user { (user) } }
            tr { th { (t(lang, K::Status)) } td #status { (format!("{:?}", order.status)) } }
            tr { th { (t(lang, K::Total)) } td.num { (yuan(order.total.get())) } }
            tr { th { (t(lang, K::Paid)) } td.num { (yuan(order.paid.get())) } }
            tr { th { (t(lang, K::Refunded)) } td.num #refunded { (yuan(order.refunded.get())) } }
            tr { th { (t(lang, K::PlacedAt)) } td { (order.placed_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
            tr { th { (t(lang, K::Expires)) } td { (order.expires_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
        }
        h2 { (t(lang, K::Lines)) }
        table #lines {
            tr { th { (t(lang, K::Product)) } th { (t(lang, K::Quantity)) } th { (t(lang, K::UnitPrice)) } th { (t(lang, K::Total)) } }
            @for l in &order.lines {
                tr { td { (l.product_name) } td.num { (l.quantity) } td.num { (yuan(l.unit_price.get())) } td.num { (yuan(l.line_total.get())) } }
            }
        }
        h2 { (t(lang, K::Payment)) }
        @if let Some(p) = &order.payment {
            table #payment {
                tr { th { (t(lang, K::Transaction)) } td { (p.transaction_id.as_str()) } }
                tr { th { (t(lang, K::Amount)) } td.num { (p.amount.get()) } }
                tr { th { (t(lang, K::Time)) } td { (p.paid_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
            }
        } @else { p { (t(lang, K::None)) } }
        @if !order.anomalies.is_empty() {
            h2 { (t(lang, K::Anomalies)) }
            table #anomalies {
                tr { th { (t(lang, K::Kind)) } th { (t(lang, K::Transaction)) } th { (t(lang, K::Amount)) } }
                @for a in &order.anomalies {
                    tr { td { (format!("{:?}", a.kind)) } td { (a.transaction_id.as_str()) } td.num { (a.amount.get()) } }
                }
            }
        }
        h2 { (t(lang, K::Refunds)) }
        @if order.refunds.is_empty() { p { (t(lang, K::None)) } } @else {
            table #refunds {
                tr { th { "out_refund_no" } th { (t(lang, K::Amount)) } th { (t(lang, K::Reason)) } th { (t(lang, K::Status)) } th { (t(lang, K::Time)) } }
                @for r in &order.refunds {
                    tr {
                        td { (r.out_refund_no.as_str()) } td.num { (r.amount.get()) } td.reason { (r.reason) }
                        td { (format!("{:?}", r.status)) } td { (r.requested_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    }
                }
            }
        }
        h2 { (t(lang, K::Shipment)) " / " (t(lang, K::Settlement)) }
        @if let Some(s) = &order.shipping {
            table #shipment {
                tr { th { (t(lang, K::LogisticsType)) } td { (format!("{:?}", s.shipment.logistics_type)) } }
                @for p in &s.shipment.parcels {
                    tr { th { (t(lang, K::TrackingNo)) } td { (p.tracking_no.as_deref().unwrap_or("-")) " · " (p.express_company.as_deref().unwrap_or("-")) " · " (p.item_desc) } }
                }
                tr { th { (t(lang, K::Upload)) } td #upload { (format!("{:?}", s.upload)) } }
                tr { th { (t(lang, K::Receipt)) } td { (s.receipt_confirmed_at.map(|a| a.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into())) } }
                tr { th { (t(lang, K::SettledAt)) } td { (s.settled_at.map(|a| a.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into())) } }
            }
        } @else { p { (t(lang, K::None)) } }
        @if refundable > 0 {
            h2 { (t(lang, K::Refund)) }
            form.inline #refund-form method="post" action={ (base) "/refund" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="key" value=(form_key());
                label { (t(lang, K::Amount)) input #refund-amount type="number" name="amount_fen" min="1" max=(refundable) required; }
                label { (t(lang, K::Reason)) input #refund-reason type="text" name="reason" maxlength="80"; }
                button #refund-submit type="submit" { (t(lang, K::Refund)) }
            }
        }
        @if shippable {
            h2 { (t(lang, K::Ship)) }
            form.inline #ship-form method="post" action={ (base) "/ship" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="key" value=(form_key());
                label { (t(lang, K::LogisticsType))
                    select name="logistics_type" {
                        option value="express" { "express" }
                        option value="same_city" { "same_city" }
                        option value="virtual" { "virtual" }
                        option value="self_pickup" { "self_pickup" }
                    }
                }
                label { (t(lang, K::TrackingNo)) input #tracking-no type="text" name="tracking_no"; }
                label { (t(lang, K::ExpressCompany)) input #express-company type="text" name="express_company"; }
                label { (t(lang, K::ItemDesc)) input #item-desc type="text" name="item_desc" required; }
                button #ship-submit type="submit" { (t(lang, K::Ship)) }
            }
        }
        @if awaiting {
            form.inline #cancel-form method="post" action={ (base) "/cancel" } {
                input type="hidden" name="csrf" value=(csrf);
                button #cancel-submit type="submit" { (t(lang, K::Cancel)) }
            }
        }
        h2 { (t(lang, K::Timeline)) }
        table #timeline {
            tr { th { (t(lang, K::Position)) } th { (t(lang, K::Time)) } th { (t(lang, K::Event)) } th { (t(lang, K::CommandId)) } th { (t(lang, K::CorrelationId)) } th {} }
            @for e in &history.entries {
                tr class=[(as_of.as_ref().is_some_and(|(p, _)| *p == e.position)).then_some("asof")] {
                    td.num { (e.position) }
                    td { (e.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")) }
                    td.event { (e.event_type) }
                    td { code { (e.command_id) } }
                    td { code { (e.correlation_id) } }
                    td { a.asof-link href={ (base) "?as_of=" (e.position) } { (t(lang, K::StateAsOf)) } }
                }
            }
        }
        @if let (Some((p, _)), Some(json)) = (&as_of, &as_of_json) {
            h2 #as-of { (t(lang, K::StateAsOf)) " " (p) }
            pre #as-of-state { (json) }
        }
    };
    operator_page(
        &op,
        &uri,
        order.out_trade_no.as_str(),
        Nav::Orders,
        &flash,
        body,
    )
}

#[derive(Debug, Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    amount_fen: String,
    #[serde(default)]
    reason: String,
}

pub async fn refund(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Posted { op, form }: Posted<RefundForm>,
) -> Response {
    let back = format!("/console/orders/{id}");
    let outcome = async {
        let id = order_id(&id)?;
        let key = valid_key(&form.key)?;
        let amount: u64 = form.amount_fen.trim().parse().map_err(|_| {
            ApiError::bad_request("invalid_amount", "the amount is a whole number of fen")
        })?;
        let no = state
            .ordering
            .refund(
                meta,
                id,
                Fen::new(amount),
                form.reason,
                RefundNumber::Key(key),
            )
            .await?;
        Ok::<_, ApiError>(format!("{}: {}", t(op.lang, K::Refund), no.as_str()))
    }
    .await;
    after_action(&back, outcome)
}

#[derive(Debug, Deserialize)]
pub struct ShipForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    logistics_type: String,
    #[serde(default)]
    tracking_no: String,
    #[serde(default)]
    express_company: String,
    #[serde(default)]
    item_desc: String,
}

fn optional(s: String) -> Option<String> {
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

pub async fn ship(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Posted { op, form }: Posted<ShipForm>,
) -> Response {
    let back = format!("/console/orders/{id}");
    let outcome = async {
        let id = order_id(&id)?;
        let key = valid_key(&form.key)?;
        let logistics_type = match form.logistics_type.as_str() {
            "express" => LogisticsType::Express,
            "same_city" => LogisticsType::SameCity,
            "virtual" => LogisticsType::Virtual,
            "self_pickup" => LogisticsType::SelfPickup,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_logistics_type",
                    "choose a logistics type from the list",
                ));
            }
        };
        let shipment = Shipment {
            logistics_type,
            delivery_mode: DeliveryMode::Unified,
            parcels: vec![Parcel {
                tracking_no: optional(form.tracking_no),
                express_company: optional(form.express_company),
                item_desc: form.item_desc.trim().to_owned(),
            }],
            is_all_delivered: true,
        };
        let (order, _outcome) = state.shipping.ship(meta, id, shipment, Some(key)).await?;
        let upload = order
            .shipping
            .map(|s| format!("{:?}", s.upload))
            .unwrap_or_default();
        Ok::<_, ApiError>(format!("{}: {upload}", t(op.lang, K::Ship)))
    }
    .await;
    after_action(&back, outcome)
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
}

pub async fn cancel(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Posted { op, .. }: Posted<CancelForm>,
) -> Response {
    let back = format!("/console/orders/{id}");
    let outcome = async {
        let id = order_id(&id)?;
        let order = state
            .ordering
            .cancel_as_operator(meta, id)
            .await?
            .ok_or_else(|| ApiError::not_found("order"))?;
        Ok::<_, ApiError>(format!("{}: {:?}", t(op.lang, K::Cancel), order.status))
    }
    .await;
    after_action(&back, outcome)
}
