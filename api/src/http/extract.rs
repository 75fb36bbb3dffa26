//! Extractors: JSON, path and query with JSON errors; the caller (bearer token), the
//! admin, the `Idempotency-Key`, and the command metadata of a request.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use paylog_core::UserId;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::ApiError;
use super::state::AppState;
use paylog_engine::CommandMeta;

/// `axum::Json` whose rejections (bad JSON, wrong content type, missing fields, too
/// large) answer in the API's JSON error shape, and which accepts only a JSON object.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_request(request, state).await?;
        // serde builds a struct from a JSON array as readily as from an object, so
        // `["x"]` would pass for `{"code": "x"}`: positional garbage must not become a
        // valid command, hence objects only.
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body must be a JSON object",
            ));
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid body: {e}")))
    }
}

/// `axum::extract::Path` with JSON errors (e.g. a malformed uuid).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` with JSON errors.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The signed-in user, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token =
            bearer(&parts.headers).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        state
            .accounts
            .tokens()
            .verify(token)
            .map(AuthUser)
            .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))
    }
}

/// Proof that the request carries `Authorization: Bearer $PAYLOG_ADMIN_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.admin_token else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin API is disabled (no admin token is configured)",
            ));
        };
        let given = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("missing admin bearer token"))?;
        // Constant-time, so the comparison's duration reveals nothing of the token.
        let ok: bool = given
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if ok {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized("invalid admin token"))
        }
    }
}

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .map(|k| Self(Some(k.to_owned())))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )
            })
    }
}

/// A fresh [`CommandMeta`] at the application clock's "now", whose correlation id is
/// the request's `x-request-id` (when it is a uuid), so the log ties every event to
/// the request that caused it.
#[derive(Debug, Clone, Copy)]
pub struct Meta(pub CommandMeta);

impl FromRequestParts<AppState> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let meta = CommandMeta::now().at(state.clock.now());
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Uuid::parse_str(v).ok());
        Ok(Self(match request_id {
            Some(id) => meta.with_correlation_id(id),
            None => meta,
        }))
    }
}

/// The client's IP address (WeChat's `spbill_create_ip`): the peer, or what a trusted
/// proxy named (`rate_limit` resolved it into `ConnectInfo`); `127.0.0.1` when unknown.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
        Ok(Self(ip))
    }
}
