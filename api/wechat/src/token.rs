//! The server-side `access_token` of the mini-program, from `POST
//! /cgi-bin/stable_token` (or, when that fails for another reason than the
//! credentials, `GET /cgi-bin/token`, which invalidates the token before it): cached,
//! refreshed before it expires, one refresh at a time.
//!
//! The cache is a `tokio::sync::Mutex` held across the refresh call, so callers that
//! arrive while a refresh is under way wait for it and then use its token: concurrent
//! refreshes share one call. A token WeChat refuses (40001/42001) is dropped only if it
//! is still the cached one (a caller that saw an older token does not throw away a
//! newer one) and the caller refreshes once and retries once. The app secret travels
//! in the JSON body of stable_token; in the query of /cgi-bin/token, whose URL is
//! never logged and whose transport errors are stripped of it
//! ([`WechatError::transport`]). Neither the secret nor the token appears in any log
//! line, error or `Debug`.

use std::time::Duration;

use paylog_core::wxa::{self, WxaStatus};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{WechatClient, WechatError, answer_text};

/// A token is refreshed when less than this is left of its life (WeChat's tokens
/// live 7200 s; stable_token hands the same token back until 5 minutes before).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// A token never counts as valid longer than this, whatever `expires_in` says.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

/// A cached access token and the instant it stops being used.
struct Cached {
    token: SecretString,
    refresh_at: Instant,
    /// Counts refreshes, so a refused token is only dropped if it is still current.
    generation: u64,
}

/// The token cache shared by every clone of a [`WechatClient`].
#[derive(Default)]
pub(crate) struct TokenCache {
    cached: Mutex<Option<Cached>>,
    generations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache([REDACTED])")
    }
}

/// A token handed to a caller, with the generation to name when WeChat refuses it.
pub(crate) struct Token {
    pub(crate) secret: SecretString,
    pub(crate) generation: u64,
}

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    #[serde(flatten)]
    status: WxaStatus,
}

impl WechatClient {
    /// The current access token, refreshed first if it is missing, near expiry, or
    /// the one named by `refused` (a generation WeChat answered 40001/42001 to).
    pub(crate) async fn access_token(&self, refused: Option<u64>) -> Result<Token, WechatError> {
        let mut cached = self.tokens.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
            && refused != Some(c.generation)
        {
            return Ok(Token {
                secret: c.token.clone(),
                generation: c.generation,
            });
        }
        // force_refresh only when WeChat refused the token we hold: it invalidates
        // the token for every other server of this appid too, and is rate-limited.
        let force = refused.is_some() && cached.as_ref().map(|c| c.generation) == refused;
        let (token, lifetime) = match self.stable_token(force).await {
            Ok(answer) => answer,
            // The same credentials would be refused by /cgi-bin/token too.
            Err(e @ WechatError::Wxa { errcode, .. }) if wxa::is_credential_error(errcode) => {
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, "stable_token failed; falling back to GET /cgi-bin/token, which invalidates the previous token");
                self.plain_token().await?
            }
        };
        let generation = self
            .tokens
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(TOKEN_REFRESH_MARGIN),
            generation,
        });
        Ok(Token {
            secret: token,
            generation,
        })
    }

    /// `GET /cgi-bin/token`: the fallback when stable_token fails. Each call issues
    /// a new token and invalidates the one before (for every server of the appid),
    /// so it is used only then. The secret travels in the query string: the URL is
    /// never logged, and transport errors are stripped of it.
    async fn plain_token(&self) -> Result<(SecretString, Duration), WechatError> {
        let url = format!("{}/cgi-bin/token", self.config.api_url);
        let text = answer_text(self.http.get(url).query(&[
            ("grant_type", "client_credential"),
            ("appid", self.config.appid.as_str()),
            ("secret", self.config.app_secret.expose_secret()),
        ]))
        .await?;
        token_answer(&text, "token")
    }

    async fn stable_token(
        &self,
        force_refresh: bool,
    ) -> Result<(SecretString, Duration), WechatError> {
        let url = format!("{}/cgi-bin/stable_token", self.config.api_url);
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": self.config.appid,
            "secret": self.config.app_secret.expose_secret(),
            "force_refresh": force_refresh,
        });
        let text = answer_text(self.http.post(url).json(&body)).await?;
        token_answer(&text, "stable_token")
    }
}

/// The token and its lifetime from an answer of stable_token or token (same shape).
fn token_answer(text: &str, call: &str) -> Result<(SecretString, Duration), WechatError> {
    // The answer holds the token: parse errors never quote it.
    let a: Answer = serde_json::from_str(text)
        .map_err(|_| WechatError::BadAnswer(format!("{call}: not the documented JSON")))?;
    if a.status.errcode != 0 {
        return Err(WechatError::Wxa {
            errcode: a.status.errcode,
            errmsg: a.status.errmsg,
        });
    }
    match (a.access_token.filter(|t| !t.is_empty()), a.expires_in) {
        (Some(token), Some(secs)) => Ok((
            SecretString::from(token),
            Duration::from_secs(secs).min(MAX_TOKEN_LIFETIME),
        )),
        _ => Err(WechatError::BadAnswer(format!(
            "{call} without access_token or expires_in"
        ))),
    }
}
