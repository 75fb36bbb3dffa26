//! `POST /v1/admin/orders/{id}/refund`: refund (part of) a paid order.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::{Fen, OrderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::RefundStatus;
use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiJson, ApiPath, IdempotencyKey, Meta};
use super::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundAsk {
    pub amount_fen: u64,
    /// Shown to the user by WeChat; at most 80 characters.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundAccepted {
    /// The refund's number; its outcome arrives by WeChat's refund notify.
    pub out_refund_no: String,
    pub status: RefundStatus,
}

/// Records the refund, then asks WeChat for it; 202 once WeChat accepted it.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/refund", tag = "admin", request_body = RefundAsk,
    params(("id" = Uuid, Path, description = "order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "same key → same refund")),
    security(("admin" = [])),
    responses((status = 202, body = RefundAccepted), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RefundAsk>,
) -> Result<(StatusCode, Json<RefundAccepted>), ApiError> {
    let out_refund_no = state
        .ordering
        .refund(
            meta,
            OrderId::from_uuid(id),
            Fen::new(body.amount_fen),
            body.reason,
            key.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RefundAccepted {
            out_refund_no: out_refund_no.to_string(),
            status: RefundStatus::Pending,
        }),
    ))
}
