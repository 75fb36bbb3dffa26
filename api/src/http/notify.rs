//! WeChat's callbacks: `POST /v1/wechat/pay/notify` and `/v1/wechat/refund/notify`
//! (XML in, XML out). The work is in [`crate::services::payments`]; this only
//! speaks HTTP.

use axum::extract::State;
use axum::extract::rejection::StringRejection;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use paylog_core::wxpay::notify_reply;

use super::state::AppState;
use crate::services::payments::NotifyOutcome;

fn reply(outcome: NotifyOutcome) -> Response {
    let body = if outcome.acknowledged() {
        notify_reply(true, "OK")
    } else {
        notify_reply(false, outcome.label())
    };
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// A payment notify: `SUCCESS` only once the payment is durable (or already was).
#[utoipa::path(post, path = "/v1/wechat/pay/notify", tag = "wechat",
    request_body(content = String, content_type = "text/xml"),
    responses((status = 200, description = "`<xml><return_code>SUCCESS|FAIL</return_code>…</xml>`", content_type = "text/xml")))]
pub async fn pay(State(state): State<AppState>, body: Result<String, StringRejection>) -> Response {
    let outcome = match body {
        Ok(body) => state.payments.pay_notify(&body).await,
        Err(_) => NotifyOutcome::Malformed,
    };
    reply(outcome)
}

/// A refund notify (`req_info` encrypted with the API key).
#[utoipa::path(post, path = "/v1/wechat/refund/notify", tag = "wechat",
    request_body(content = String, content_type = "text/xml"),
    responses((status = 200, description = "`<xml><return_code>SUCCESS|FAIL</return_code>…</xml>`", content_type = "text/xml")))]
pub async fn refund(
    State(state): State<AppState>,
    body: Result<String, StringRejection>,
) -> Response {
    let outcome = match body {
        Ok(body) => state.payments.refund_notify(&body).await,
        Err(_) => NotifyOutcome::Malformed,
    };
    reply(outcome)
}
