//! WeChat's message push (消息推送): `GET /v1/wechat/message` (the URL check when
//! the push is configured in the mini-program console) and `POST
//! /v1/wechat/message` (the events). The work is in
//! [`crate::services::message_push`]; this only speaks HTTP.
//!
//! WeChat's protocol fixes the answers: the handshake echoes `echostr` as plain
//! text; a push is acknowledged with `200 success`. Anything else makes WeChat
//! push again (three times), so a push that does not verify or read is answered
//! with a 4xx (a 5xx when we could not record it) and `fail: <reason>`. Like the
//! notify endpoints' replies, these are the protocol's answers, not `ApiError`s.

use axum::extract::Query;
use axum::extract::State;
use axum::extract::rejection::{QueryRejection, StringRejection};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use paylog_core::wxa::push::PushQuery;

use super::state::AppState;
use crate::services::message_push::{HandshakeRefusal, PushOutcome};

fn text(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn reply(outcome: PushOutcome) -> Response {
    if outcome.acknowledged() {
        return text(StatusCode::OK, "success".into());
    }
    let status = match outcome {
        PushOutcome::BadSignature => StatusCode::UNAUTHORIZED,
        PushOutcome::WrongAppid => StatusCode::FORBIDDEN,
        PushOutcome::UnknownOrder | PushOutcome::NotConfigured => StatusCode::NOT_FOUND,
        PushOutcome::Refused => StatusCode::CONFLICT,
        PushOutcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    text(status, format!("fail: {}", outcome.label()))
}

/// The URL check: echoes `echostr` when `signature` (SHA1 of the sorted token,
/// timestamp and nonce) verifies.
#[utoipa::path(get, path = "/v1/wechat/message", tag = "wechat",
    params(("signature" = String, Query), ("timestamp" = String, Query),
        ("nonce" = String, Query), ("echostr" = String, Query)),
    responses((status = 200, description = "`echostr`, as plain text", content_type = "text/plain"),
        (status = 401, description = "the signature did not verify"),
        (status = 404, description = "message push is not configured")))]
pub async fn handshake(
    State(state): State<AppState>,
    q: Result<Query<PushQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return text(StatusCode::BAD_REQUEST, "fail: malformed".into());
    };
    match state.message_push.handshake(&q) {
        Ok(echo) => text(StatusCode::OK, echo),
        Err(HandshakeRefusal::NotConfigured) => reply(PushOutcome::NotConfigured),
        Err(HandshakeRefusal::BadSignature) => reply(PushOutcome::BadSignature),
    }
}

/// A push: plain (`signature`) or safe mode (`encrypt_type=aes`, `msg_signature`,
/// body `{"ToUserName","Encrypt"}` or its XML), JSON or XML.
#[utoipa::path(post, path = "/v1/wechat/message", tag = "wechat",
    params(("signature" = Option<String>, Query), ("timestamp" = String, Query),
        ("nonce" = String, Query), ("encrypt_type" = Option<String>, Query),
        ("msg_signature" = Option<String>, Query)),
    request_body(content = String, content_type = "application/json",
        description = "WeChat's push, JSON or XML, sealed with the EncodingAESKey in safe mode"),
    responses((status = 200, description = "`success`: recorded, or nothing to record"),
        (status = 400, description = "`fail: malformed`: not a push we can read"),
        (status = 401, description = "the signature or the envelope did not verify"),
        (status = 403, description = "sealed for another appid"),
        (status = 404, description = "no such order, or message push is not configured"),
        (status = 409, description = "refused by the order"),
        (status = 413, description = "over the body limit"),
        (status = 500, description = "could not record it: WeChat pushes again")))]
pub async fn receive(
    State(state): State<AppState>,
    q: Result<Query<PushQuery>, QueryRejection>,
    body: Result<String, StringRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        // Over the body limit (413) or not UTF-8 (400): nothing was read.
        Err(rejection) => return text(rejection.status(), "fail: malformed".into()),
    };
    let Ok(Query(q)) = q else {
        return reply(PushOutcome::Malformed);
    };
    reply(state.message_push.receive(&q, &body).await)
}
