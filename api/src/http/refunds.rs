//! `POST /v1/admin/orders/{id}/refund`: refund (part of) a paid order.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::payment_refs::OutRefundNo;
use paylog_core::{Fen, OrderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiJson, ApiPath, IdempotencyKey, Meta};
use super::state::AppState;
use crate::payments::derived_id;

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
    pub status: String,
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
    let order_id = OrderId::from_uuid(id);
    // A key makes a retry name the same refund: WeChat refunds an out_refund_no once.
    let number = match &key {
        Some(k) => derived_id(&format!("refund:{order_id}:{k}")),
        None => Uuid::now_v7(),
    };
    let out_refund_no = OutRefundNo::from_uuid(number);
    let committed = state
        .payments
        .refund(
            meta,
            order_id,
            Fen::new(body.amount_fen),
            body.reason,
            out_refund_no.clone(),
        )
        .await?;
    state.settle("RequestRefund", &committed).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(RefundAccepted {
            out_refund_no: out_refund_no.to_string(),
            status: "Pending".into(),
        }),
    ))
}
