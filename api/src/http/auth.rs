//! Sign-up and sign-in: WeChat login (`wx.login` code), username + password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::identity::Username;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Meta};
use super::state::AppState;
use crate::error::Error;
use crate::services::accounts::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

#[derive(Debug, Deserialize, ToSchema)]
pub struct WechatLogin {
    /// The code from `wx.login`.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WechatSession {
    pub token: String,
    pub user_id: Uuid,
    /// True when this login registered the user.
    pub new_user: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordForm {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub user_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub token: String,
}

/// Longest `wx.login` code accepted, in bytes (WeChat's are 32).
const MAX_LOGIN_CODE_BYTES: usize = 128;

/// Exchanges a `wx.login` code for a token, registering the user on first login.
#[utoipa::path(post, path = "/v1/auth/wechat", tag = "auth", request_body = WechatLogin,
    responses((status = 200, body = WechatSession), (status = 401, body = ErrorBody)))]
pub async fn wechat(
    State(state): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<WechatLogin>,
) -> Result<Json<WechatSession>, ApiError> {
    if body.code.is_empty() || body.code.len() > MAX_LOGIN_CODE_BYTES {
        return Err(ApiError::bad_request(
            "invalid_code",
            format!("code must be 1 to {MAX_LOGIN_CODE_BYTES} bytes"),
        ));
    }
    let session = state.accounts.wechat_login(meta, &body.code).await?;
    Ok(Json(WechatSession {
        token: session.token,
        user_id: session.user_id.as_uuid(),
        new_user: session.new_user,
    }))
}

/// Registers a user with a username and password (argon2id).
#[utoipa::path(post, path = "/v1/register", tag = "auth", request_body = PasswordForm,
    responses((status = 201, body = Registered), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<PasswordForm>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let username = Username::parse(&body.username).map_err(Error::from)?;
    let chars = body.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ApiError::bad_request(
            "invalid_password",
            format!("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let user_id = state
        .accounts
        .register(meta, username, body.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            user_id: user_id.as_uuid(),
        }),
    ))
}

/// Signs in with a username and password.
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", request_body = PasswordForm,
    responses((status = 200, body = Token), (status = 401, body = ErrorBody)))]
pub async fn password_login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PasswordForm>,
) -> Result<Json<Token>, ApiError> {
    let token = state
        .accounts
        .password_login(&body.username, body.password)
        .await?;
    Ok(Json(Token { token }))
}
