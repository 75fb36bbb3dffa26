//! WeChat Pay v3 callbacks: `POST /v1/wechat/pay/notify/v3` and
//! `/v1/wechat/refund/notify/v3` (JSON). The body is taken as raw bytes and
//! handed on untouched: the signature covers the bytes as received, and any
//! re-serialisation would break it. The work is in
//! [`crate::services::payments`]; this only speaks HTTP.
//!
//! WeChat's protocol fixes the answer: 204 with no body once the fact is durable
//! (or already was), otherwise a 4xx/5xx with `{"code":"FAIL","message":…}`,
//! after which WeChat delivers again. Like the v2 XML replies, this is the
//! notify protocol's answer, not one of the API's `ApiError`s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use paylog_core::wxpay_v3::api::ErrorBody;

use super::state::AppState;
use crate::services::payments::NotifyOutcome;

fn reply(outcome: NotifyOutcome) -> Response {
    if outcome.acknowledged() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let status = match outcome {
        NotifyOutcome::BadSignature => StatusCode::UNAUTHORIZED,
        NotifyOutcome::WrongMerchant => StatusCode::FORBIDDEN,
        NotifyOutcome::UnknownOrder => StatusCode::NOT_FOUND,
        NotifyOutcome::Refused => StatusCode::CONFLICT,
        NotifyOutcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(ErrorBody::notify_fail(outcome.label()))).into_response()
}

fn header<'a>(headers: &'a HeaderMap) -> impl Fn(&str) -> Option<&'a str> {
    |name| headers.get(name).and_then(|v| v.to_str().ok())
}

/// A v3 payment notify (`TRANSACTION.SUCCESS`): 204 only once the payment is durable.
#[utoipa::path(post, path = "/v1/wechat/pay/notify/v3", tag = "wechat",
    request_body(content = String, content_type = "application/json",
        description = "WeChat's notify envelope, signed (`Wechatpay-*` headers), resource AES-256-GCM encrypted"),
    responses((status = 204, description = "recorded (or already was)"),
        (status = 400, description = "`{\"code\":\"FAIL\",\"message\":…}`: WeChat delivers again"),
        (status = 401, description = "the signature did not verify"),
        (status = 500, description = "could not record it")))]
pub async fn pay(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    reply(state.payments.pay_notify_v3(header(&headers), &body).await)
}

/// A v3 refund notify (`REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`).
#[utoipa::path(post, path = "/v1/wechat/refund/notify/v3", tag = "wechat",
    request_body(content = String, content_type = "application/json",
        description = "WeChat's notify envelope, signed (`Wechatpay-*` headers), resource AES-256-GCM encrypted"),
    responses((status = 204, description = "recorded (or already was)"),
        (status = 400, description = "`{\"code\":\"FAIL\",\"message\":…}`: WeChat delivers again"),
        (status = 401, description = "the signature did not verify"),
        (status = 500, description = "could not record it")))]
pub async fn refund(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    reply(
        state
            .payments
            .refund_notify_v3(header(&headers), &body)
            .await,
    )
}
