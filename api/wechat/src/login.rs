//! Mini-program login: `GET /sns/jscode2session`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{WechatClient, WechatError, answer_text};

/// Who the user is, from a `wx.login` code.
#[derive(Debug, Clone)]
pub struct WxSession {
    pub openid: String,
    pub unionid: Option<String>,
    /// Decrypts the user's encrypted data; never logged.
    pub session_key: SecretString,
}

#[derive(Deserialize)]
struct Answer {
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

impl WechatClient {
    /// Exchanges a single-use `wx.login` code for the user's openid. Not retried:
    /// a code cannot be used twice.
    pub async fn jscode2session(&self, js_code: &str) -> Result<WxSession, WechatError> {
        let url = format!("{}/sns/jscode2session", self.config.api_url);
        // WeChat answers with `text/plain` at times, so parse the text ourselves.
        let text = answer_text(self.http.get(url).query(&[
            ("appid", self.config.appid.as_str()),
            ("secret", self.config.app_secret.expose_secret()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ]))
        .await?;
        let a: Answer =
            serde_json::from_str(&text).map_err(|e| WechatError::BadAnswer(e.to_string()))?;
        if let Some(errcode) = a.errcode.filter(|c| *c != 0) {
            return Err(WechatError::Login {
                errcode,
                errmsg: a.errmsg.unwrap_or_default(),
            });
        }
        match (a.openid.filter(|o| !o.is_empty()), a.session_key) {
            (Some(openid), Some(key)) => Ok(WxSession {
                openid,
                unionid: a.unionid,
                session_key: SecretString::from(key),
            }),
            _ => Err(WechatError::BadAnswer(
                "jscode2session without openid or session_key".into(),
            )),
        }
    }
}
