//! Admin refunds: `GET /v1/admin/anomalies` (every anomalous payment), `POST /v1/admin/orders/{id}/refund` (refund part of a paid order, or
//! retry one by its number), `POST /v1/admin/orders/{id}/refunds/{out_refund_no}/resolve`
//! (a refund WeChat reported as `CHANGE`) and
//! `POST /v1/admin/orders/{id}/anomalies/{transaction_id}/refund` (return an anomalous
//! payment).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::order::{AttentionResolution, RefundTarget};
use paylog_core::payment_refs::{OutRefundNo, TransactionId};
use paylog_core::{Fen, OrderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{AnomalyKind, PageQuery, RefundStatus};
use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery, IdempotencyKey, Meta};
use super::state::AppState;
use crate::services::ordering::RefundNumber;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundAsk {
    pub amount_fen: u64,
    /// Shown to the user by WeChat; at most 80 characters.
    #[serde(default)]
    pub reason: String,
    /// Retry a refund already recorded (e.g. after a 502 `refund_outcome_unknown`,
    /// whose body names it): same number, same amount. A number recorded as Failed
    /// is refused with 409 `refund_no_failed` without calling WeChat.
    #[serde(default)]
    pub out_refund_no: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundAccepted {
    /// The refund's number; its outcome arrives by WeChat's refund notify.
    pub out_refund_no: String,
    pub status: RefundStatus,
}

/// The number a refund request names: the body's, else the key's, else a new one.
fn number<'a>(given: Option<String>, key: Option<&'a str>) -> Result<RefundNumber<'a>, ApiError> {
    Ok(match (given, key) {
        (Some(no), _) => RefundNumber::Given(OutRefundNo::parse(&no).map_err(|_| {
            ApiError::bad_request("invalid_reference", "out_refund_no is not a refund number")
        })?),
        (None, Some(key)) => RefundNumber::Key(key),
        (None, None) => RefundNumber::Fresh,
    })
}

fn accepted(out_refund_no: &OutRefundNo) -> (StatusCode, Json<RefundAccepted>) {
    (
        StatusCode::ACCEPTED,
        Json(RefundAccepted {
            out_refund_no: out_refund_no.to_string(),
            status: RefundStatus::Pending,
        }),
    )
}

/// Records the refund, then asks WeChat for it; 202 once WeChat accepted it. A 502
/// `refund_outcome_unknown` carries `out_refund_no`: the refund stays pending and a
/// retry with that number settles it.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/refund", tag = "admin", request_body = RefundAsk,
    params(("id" = Uuid, Path, description = "order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "same key → same refund")),
    security(("admin" = [])),
    responses((status = 202, body = RefundAccepted), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RefundAsk>,
) -> Result<(StatusCode, Json<RefundAccepted>), ApiError> {
    let number = number(body.out_refund_no, key.as_deref())?;
    let out_refund_no = state
        .ordering
        .refund(
            meta,
            OrderId::from_uuid(id),
            Fen::new(body.amount_fen),
            body.reason,
            number,
        )
        .await?;
    Ok(accepted(&out_refund_no))
}

/// How an operator resolved a refund needing attention.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum Resolution {
    /// The shopper got the money by other means: the refund is Confirmed.
    RefundedOtherwise,
    /// Re-initiated in WeChat's merchant platform: Pending again.
    Retried,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveAsk {
    pub resolution: Resolution,
    /// The operator's note; at most 80 characters.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResolved {
    pub out_refund_no: String,
    pub status: RefundStatus,
}

/// Resolves a refund WeChat reported as `CHANGE` (status NeedsAttention).
#[utoipa::path(post, path = "/v1/admin/orders/{id}/refunds/{out_refund_no}/resolve", tag = "admin",
    request_body = ResolveAsk,
    params(("id" = Uuid, Path, description = "order id"),
        ("out_refund_no" = String, Path, description = "the refund's number")),
    security(("admin" = [])),
    responses((status = 200, body = RefundResolved), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    ApiPath((id, no)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<ResolveAsk>,
) -> Result<Json<RefundResolved>, ApiError> {
    let out_refund_no = OutRefundNo::parse(&no).map_err(|_| ApiError::not_found("refund"))?;
    let resolution = match body.resolution {
        Resolution::RefundedOtherwise => AttentionResolution::RefundedOtherwise,
        Resolution::Retried => AttentionResolution::Retried,
    };
    let order = state
        .ordering
        .resolve_refund(
            meta,
            OrderId::from_uuid(id),
            out_refund_no.clone(),
            resolution,
            body.note,
        )
        .await?;
    let status = order
        .refund(&out_refund_no)
        .map(|r| r.status.into())
        .ok_or_else(|| ApiError::not_found("refund"))?;
    Ok(Json(RefundResolved {
        out_refund_no: out_refund_no.to_string(),
        status,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AnomalyRefundAsk {
    /// Shown to the user by WeChat; at most 80 characters.
    #[serde(default)]
    pub reason: String,
    /// Retry a refund of this anomaly already recorded, by its number.
    #[serde(default)]
    pub out_refund_no: Option<String>,
}

/// Returns an anomalous payment (late, wrong amount, duplicate) to the shopper: the
/// whole amount of that transaction, at most once; 202 once WeChat accepted it.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/anomalies/{transaction_id}/refund", tag = "admin",
    request_body = AnomalyRefundAsk,
    params(("id" = Uuid, Path, description = "order id"),
        ("transaction_id" = String, Path, description = "the anomalous payment's WeChat transaction"),
        ("Idempotency-Key" = Option<String>, Header, description = "same key → same refund")),
    security(("admin" = [])),
    responses((status = 202, body = RefundAccepted), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn refund_anomaly(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath((id, tx)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<AnomalyRefundAsk>,
) -> Result<(StatusCode, Json<RefundAccepted>), ApiError> {
    let transaction_id =
        TransactionId::parse(&tx).map_err(|_| ApiError::not_found("anomalous payment"))?;
    let number = number(body.out_refund_no, key.as_deref())?;
    let out_refund_no = state
        .ordering
        .refund_anomaly(
            meta,
            OrderId::from_uuid(id),
            transaction_id,
            body.reason,
            number,
        )
        .await?;
    Ok(accepted(&out_refund_no))
}

/// The refund of an anomalous payment, if one was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyRefund {
    pub out_refund_no: String,
    pub status: RefundStatus,
}

/// A payment WeChat took that did not pay its order: money the shop holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Anomaly {
    pub order_id: Uuid,
    pub out_trade_no: String,
    pub kind: AnomalyKind,
    pub transaction_id: String,
    pub amount_fen: u64,
    pub paid_at: chrono::DateTime<chrono::Utc>,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// The latest refund of this transaction (a Failed one may be followed by another).
    pub refund: Option<AnomalyRefund>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyPage {
    pub items: Vec<Anomaly>,
    pub next_cursor: Option<String>,
}

/// Every anomalous payment (late, wrong amount, duplicate), with its refund's state;
/// paged by order.
#[utoipa::path(get, path = "/v1/admin/anomalies", tag = "admin", params(PageQuery),
    security(("admin" = [])),
    responses((status = 200, body = AnomalyPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn anomalies(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AnomalyPage>, ApiError> {
    let page = state.ordering.anomalies(&query.page())?;
    let mut items = Vec::new();
    for order in &page.items {
        for a in &order.anomalies {
            let refund = order
                .refunds
                .iter()
                .rev()
                .find(|r| matches!(&r.target, RefundTarget::Anomaly(t) if t == &a.transaction_id))
                .map(|r| AnomalyRefund {
                    out_refund_no: r.out_refund_no.to_string(),
                    status: r.status.into(),
                });
            items.push(Anomaly {
                order_id: order.order_id.as_uuid(),
                out_trade_no: order.out_trade_no.to_string(),
                kind: a.kind.into(),
                transaction_id: a.transaction_id.to_string(),
                amount_fen: a.amount.get(),
                paid_at: a.paid_at,
                recorded_at: a.recorded_at,
                refund,
            });
        }
    }
    Ok(Json(AnomalyPage {
        items,
        next_cursor: page.next_cursor,
    }))
}
