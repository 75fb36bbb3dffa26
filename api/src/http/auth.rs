//! Sign-up and sign-in: WeChat login (`wx.login` code), username + password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::DomainError;
use paylog_core::UserId;
use paylog_core::identity::{OpenId, PasswordHash, Username};
use paylog_core::user::{Credentials, RegisterUser};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Meta};
use super::password::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::state::AppState;
use crate::error::Error;
use crate::wechat::WechatError;

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

fn issue(state: &AppState, user_id: UserId) -> Result<String, ApiError> {
    state
        .tokens
        .issue(user_id)
        .map_err(|e| Error::Internal(format!("signing a token: {e}")).into())
}

/// Exchanges a `wx.login` code for a token, registering the user on first login.
#[utoipa::path(post, path = "/v1/auth/wechat", tag = "auth", request_body = WechatLogin,
    responses((status = 200, body = WechatSession), (status = 401, body = ErrorBody)))]
pub async fn wechat(
    State(state): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<WechatLogin>,
) -> Result<Json<WechatSession>, ApiError> {
    if body.code.is_empty() || body.code.len() > 128 {
        return Err(ApiError::bad_request(
            "invalid_code",
            "code must be 1 to 128 bytes",
        ));
    }
    let session = match state.payments.wechat().jscode2session(&body.code).await {
        Ok(s) => s,
        Err(WechatError::Login { errcode, .. }) => {
            tracing::info!(errcode, "WeChat refused a login code");
            return Err(ApiError::unauthorized(
                "WeChat did not accept the login code",
            ));
        }
        Err(e) => return Err(Error::from(e).into()),
    };
    // The session_key stays here: it is never stored, logged or sent on.
    drop(session.session_key);
    let openid = OpenId::parse(&session.openid)
        .map_err(|e| Error::from(WechatError::BadAnswer(e.to_string())))?;
    if let Some(user_id) = state.engine.user_by_openid(&openid).await? {
        let token = issue(&state, user_id)?;
        return Ok(Json(WechatSession {
            token,
            user_id: user_id.as_uuid(),
            new_user: false,
        }));
    }
    let user_id = UserId::from_uuid(Uuid::now_v7());
    let command = RegisterUser {
        user_id,
        credentials: Credentials::WeChat {
            openid: openid.clone(),
        },
        at: meta.at,
    };
    let (user_id, new_user) = match state.engine.register_user(meta, command).await {
        Ok(committed) => {
            state.settle("RegisterUser", &committed).await;
            (user_id, true)
        }
        // A concurrent first login of the same user won the race: use that account.
        Err(Error::Domain(DomainError::OpenIdTaken(_))) => {
            let existing = state.engine.user_by_openid(&openid).await?;
            (
                existing.ok_or(Error::Misuse("openid claimed without a user"))?,
                false,
            )
        }
        Err(e) => return Err(e.into()),
    };
    let token = issue(&state, user_id)?;
    Ok(Json(WechatSession {
        token,
        user_id: user_id.as_uuid(),
        new_user,
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
    // Checked before hashing so a taken name costs no argon2 work (the claim is
    // checked again, atomically, when the user is registered).
    if state.engine.user_by_username(&username).await?.is_some() {
        return Err(Error::from(DomainError::UsernameTaken(username)).into());
    }
    let phc = password::hash(body.password).await?;
    let password_hash = PasswordHash::parse(&phc).map_err(Error::from)?;
    let user_id = UserId::from_uuid(Uuid::now_v7());
    let command = RegisterUser {
        user_id,
        credentials: Credentials::Password {
            username,
            password_hash,
        },
        at: meta.at,
    };
    let committed = state.engine.register_user(meta, command).await?;
    state.settle("RegisterUser", &committed).await;
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
    let refused = || ApiError::unauthorized("wrong username or password");
    let user = match Username::parse(&body.username) {
        Ok(username) => match state.engine.user_by_username(&username).await? {
            Some(user_id) => state.engine.user(user_id).await?,
            None => None,
        },
        Err(_) => None,
    };
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.as_ref())
        .map(|h| h.expose_phc().to_owned());
    // An unknown user is checked against a dummy hash: same answer, same time.
    if !password::verify(body.password, phc).await {
        return Err(refused());
    }
    let user_id = user.map(|u| u.user_id).ok_or_else(refused)?;
    Ok(Json(Token {
        token: issue(&state, user_id)?,
    }))
}
