//! Accounts: sign-up and sign-in with WeChat (`wx.login` code) or a username and a
//! password, and the bearer tokens that prove who the caller is afterwards.

pub mod password;
pub mod token;

use std::sync::Arc;

use paylog_core::identity::{OpenId, PasswordHash, Username};
use paylog_core::user::{Credentials, RegisterUser};
use paylog_core::{DomainError, UserId};
use paylog_engine::{CommandMeta, Engine};
use paylog_wechat::{WechatClient, WechatError};
use uuid::Uuid;

use self::password::HashPool;
use self::token::TokenKeys;
use super::Settle;
use crate::error::Error;

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: UserId,
    /// The bearer token for the API.
    pub token: String,
    /// True when this login registered the user.
    pub new_user: bool,
}

/// The accounts service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Accounts {
    engine: Engine,
    wechat: WechatClient,
    tokens: Arc<TokenKeys>,
    settle: Settle,
    hashing: HashPool,
}

impl Accounts {
    pub fn new(
        engine: Engine,
        wechat: WechatClient,
        tokens: Arc<TokenKeys>,
        settle: Settle,
        hashing: HashPool,
    ) -> Self {
        Self {
            engine,
            wechat,
            tokens,
            settle,
            hashing,
        }
    }

    /// The keys the API's bearer tokens are checked with.
    pub fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }

    fn issue(&self, user_id: UserId) -> Result<String, Error> {
        self.tokens
            .issue(user_id)
            .map_err(|e| Error::Internal(format!("signing a token: {e}")))
    }

    /// Exchanges a `wx.login` code (jscode2session) for a session, registering the
    /// user on first login. Two first logins of the same user racing each other end
    /// in the same account.
    pub async fn wechat_login(&self, meta: CommandMeta, code: &str) -> Result<Session, Error> {
        let session = match self.wechat.jscode2session(code).await {
            Ok(s) => s,
            Err(WechatError::Login { errcode, .. }) => {
                tracing::info!(errcode, "WeChat refused a login code");
                return Err(Error::Unauthorized {
                    message: "WeChat did not accept the login code",
                });
            }
            Err(e) => return Err(e.into()),
        };
        // The session_key stays here: it is never stored, logged or sent on.
        drop(session.session_key);
        let openid = OpenId::parse(&session.openid)
            .map_err(|e| Error::from(WechatError::BadAnswer(e.to_string())))?;
        if let Some(user_id) = self.engine.user_by_openid(&openid).await? {
            return Ok(Session {
                token: self.issue(user_id)?,
                user_id,
                new_user: false,
            });
        }
        let user_id = UserId::from_uuid(Uuid::now_v7());
        let command = RegisterUser {
            user_id,
            credentials: Credentials::WeChat {
                openid: openid.clone(),
            },
            at: meta.at,
        };
        let (user_id, new_user) = match self.engine.register_user(meta, command).await {
            Ok(committed) => {
                self.settle.settle(&committed).await;
                (user_id, true)
            }
            Err(e) => match Error::from(e) {
                // A concurrent first login of the same user won the race: use that account.
                Error::Domain(DomainError::OpenIdTaken(_)) => {
                    let existing = self.engine.user_by_openid(&openid).await?;
                    (
                        existing.ok_or(Error::Misuse("openid claimed without a user"))?,
                        false,
                    )
                }
                other => return Err(other),
            },
        };
        Ok(Session {
            token: self.issue(user_id)?,
            user_id,
            new_user,
        })
    }

    /// Registers a user with a username and a password (argon2id). The password's
    /// length was checked by the caller.
    pub async fn register(
        &self,
        meta: CommandMeta,
        username: Username,
        password: String,
    ) -> Result<UserId, Error> {
        // Checked before hashing so a taken name costs no argon2 work (the claim is
        // checked again, atomically, when the user is registered).
        if self.engine.user_by_username(&username).await?.is_some() {
            return Err(DomainError::UsernameTaken(username).into());
        }
        let phc = self.hashing.hash(password).await?;
        let password_hash = PasswordHash::parse(&phc)?;
        let user_id = UserId::from_uuid(Uuid::now_v7());
        let command = RegisterUser {
            user_id,
            credentials: Credentials::Password {
                username,
                password_hash,
            },
            at: meta.at,
        };
        let committed = self.engine.register_user(meta, command).await?;
        self.settle.settle(&committed).await;
        Ok(user_id)
    }

    /// Signs in with a username and a password; a bearer token for the user.
    pub async fn password_login(&self, username: &str, password: String) -> Result<String, Error> {
        let refused = || Error::Unauthorized {
            message: "wrong username or password",
        };
        let user = match Username::parse(username) {
            Ok(username) => match self.engine.user_by_username(&username).await? {
                Some(user_id) => self.engine.user(user_id).await?,
                None => None,
            },
            Err(_) => None,
        };
        let phc = user
            .as_ref()
            .and_then(|u| u.password_hash.as_ref())
            .map(|h| h.expose_phc().to_owned());
        // An unknown user is checked against a dummy hash: same answer, same time.
        if !self.hashing.verify(password, phc).await? {
            return Err(refused());
        }
        let user_id = user.map(|u| u.user_id).ok_or_else(refused)?;
        self.issue(user_id)
    }
}
