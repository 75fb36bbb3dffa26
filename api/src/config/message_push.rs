//! Message push settings (消息推送, configured in the mini-program console): the
//! token, the EncodingAESKey and the mode. Checked at start-up
//! ([`MessagePushArgs::settings`]): a bad one is a one-line error naming the
//! setting, never its value.

use clap::{Args, ValueEnum};
use paylog_core::wxa::push::{EncodingAesKey, PushMode, PushSettings};
use secrecy::{ExposeSecret, SecretString};

/// The console's 数据加密方式.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum PushModeArg {
    /// 明文模式: the body is not signed; pushes are only hints, confirmed with
    /// `get_order` before anything is recorded.
    Plain,
    /// 安全模式 (recommended): AES-256-CBC with the EncodingAESKey, `msg_signature`.
    #[default]
    Safe,
}

/// WeChat's token: 3 to 32 letters or digits.
const TOKEN_CHARS: std::ops::RangeInclusive<usize> = 3..=32;

#[derive(Debug, Clone, Args, Default)]
pub struct MessagePushArgs {
    /// The message push token (the console's Token). Without it `/v1/wechat/message`
    /// is off.
    #[arg(
        long = "wechat-push-token",
        env = "PAYLOG_WECHAT_PUSH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<SecretString>,
    /// The 43-character EncodingAESKey; required in safe mode.
    #[arg(
        long = "wechat-push-aes-key",
        env = "PAYLOG_WECHAT_PUSH_AES_KEY",
        hide_env_values = true
    )]
    pub aes_key: Option<SecretString>,
    /// `safe` (default, recommended) or `plain`.
    #[arg(
        long = "wechat-push-mode",
        env = "PAYLOG_WECHAT_PUSH_MODE",
        value_enum,
        default_value_t = PushModeArg::Safe
    )]
    pub mode: PushModeArg,
}

impl MessagePushArgs {
    /// The checked settings for the mini-program `appid`; `None` without a token.
    pub fn settings(&self, appid: &str) -> Result<Option<PushSettings>, String> {
        let Some(token) = &self.token else {
            if self.aes_key.is_some() {
                return Err(
                    "PAYLOG_WECHAT_PUSH_AES_KEY is set without PAYLOG_WECHAT_PUSH_TOKEN".into(),
                );
            }
            return Ok(None);
        };
        let t = token.expose_secret();
        if !TOKEN_CHARS.contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "PAYLOG_WECHAT_PUSH_TOKEN (--wechat-push-token) must be {} to {} letters or digits",
                TOKEN_CHARS.start(),
                TOKEN_CHARS.end()
            ));
        }
        let key =
            match &self.aes_key {
                Some(k) => Some(EncodingAesKey::parse(k.expose_secret()).map_err(|e| {
                    format!("PAYLOG_WECHAT_PUSH_AES_KEY (--wechat-push-aes-key): {e}")
                })?),
                None => None,
            };
        let mode = match self.mode {
            PushModeArg::Plain => PushMode::Plain,
            PushModeArg::Safe => PushMode::Safe,
        };
        if mode == PushMode::Safe && key.is_none() {
            return Err(
                "PAYLOG_WECHAT_PUSH_MODE=safe needs PAYLOG_WECHAT_PUSH_AES_KEY (--wechat-push-aes-key)"
                    .into(),
            );
        }
        Ok(Some(PushSettings {
            token: token.clone(),
            key,
            appid: appid.to_owned(),
            mode,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token: Option<&str>, key: Option<&str>, mode: PushModeArg) -> MessagePushArgs {
        MessagePushArgs {
            token: token.map(SecretString::from),
            aes_key: key.map(SecretString::from),
            mode,
        }
    }

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn settings_are_checked_and_errors_name_no_value() {
        assert!(matches!(
            args(None, None, PushModeArg::Safe).settings("wx"),
            Ok(None)
        ));
        let ok = args(Some("pushtoken1"), Some(KEY), PushModeArg::Safe)
            .settings("wx")
            .expect("valid");
        assert_eq!(ok.map(|s| s.mode), Some(PushMode::Safe));
        assert!(
            args(Some("pushtoken1"), None, PushModeArg::Plain)
                .settings("wx")
                .is_ok()
        );
        let bad = [
            args(Some("pushtoken1"), None, PushModeArg::Safe),
            args(
                Some("pushtoken1"),
                Some("short-secret-key"),
                PushModeArg::Safe,
            ),
            args(Some("pu"), Some(KEY), PushModeArg::Safe),
            args(Some("push token!"), Some(KEY), PushModeArg::Safe),
            args(None, Some(KEY), PushModeArg::Safe),
        ];
        for a in bad {
            let e = a.settings("wx").expect_err("refused");
            assert!(!e.contains("short-secret-key") && !e.contains(KEY), "{e}");
            assert!(!e.contains('\n'));
        }
    }
}
