//! `paylog wxpay …`: a WeChat Pay v2 signing toolbox for people.
//!
//! Every subcommand reads its input (JSON fields or an XML body) from stdin and
//! writes to stdout, so it is testable without a process. The key comes from
//! `--key` or `PAYLOG_WECHAT_API_KEY` (better: it stays out of shell history).

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use paylog_core::wxpay::{
    self, ApiKey, Fields, MAX_BODY_BYTES, RequestPayment, SignType, WxPayError, decrypt_req_info,
    effective_sign_type,
};
use secrecy::{ExposeSecret, SecretString};

/// The key and sign type every subcommand needs.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// The merchant's API v2 key.
    #[arg(long, env = "PAYLOG_WECHAT_API_KEY", hide_env_values = true)]
    pub key: SecretString,
    /// `MD5` or `HMAC-SHA256`; a body's own `sign_type` field takes precedence.
    #[arg(long, default_value = "MD5", value_parser = parse_sign_type)]
    pub sign_type: SignType,
}

fn parse_sign_type(s: &str) -> Result<SignType, String> {
    s.parse().map_err(|e: WxPayError| e.to_string())
}

impl KeyArgs {
    fn key(&self) -> ApiKey {
        ApiKey::new(self.key.expose_secret())
    }
}

#[derive(Debug, Subcommand)]
pub enum WxpayCommand {
    /// Sign fields read from stdin (a JSON object or an `<xml>` body); prints the sign.
    Sign {
        #[command(flatten)]
        key: KeyArgs,
        /// Also print the exact string that was signed (key masked).
        #[arg(long)]
        explain: bool,
    },
    /// Verify the sign of an `<xml>` body read from stdin; exit 1 when invalid.
    Verify {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Print the signed `wx.requestPayment` parameters as JSON.
    PayParams {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long)]
        appid: String,
        #[arg(long)]
        prepay_id: String,
        /// Seconds since the epoch (default: now).
        #[arg(long)]
        timestamp: Option<i64>,
        /// The nonce (default: a fresh random one).
        #[arg(long)]
        nonce: Option<String>,
    },
    /// Decrypt the `req_info` of a refund notify read from stdin; prints JSON.
    DecryptRefund {
        #[arg(long, env = "PAYLOG_WECHAT_API_KEY", hide_env_values = true)]
        key: SecretString,
    },
    /// The WeChat Pay API v3 toolbox.
    V3 {
        #[command(subcommand)]
        cmd: super::wxpay_v3::WxpayV3Command,
    },
}

/// Runs one `wxpay` subcommand over the given stdin and stdout.
pub fn run(
    cmd: WxpayCommand,
    stdin: impl Read,
    mut stdout: impl Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        WxpayCommand::Sign { key, explain } => {
            let fields = read_fields(stdin)?;
            let st = effective_sign_type(&fields, key.sign_type)?;
            if explain {
                writeln!(stdout, "sign_type: {st}")?;
                writeln!(
                    stdout,
                    "string_to_sign: {}",
                    wxpay::string_to_sign_masked(&fields)
                )?;
            }
            writeln!(stdout, "{}", wxpay::sign(&fields, &key.key(), st))?;
            Ok(ExitCode::SUCCESS)
        }
        WxpayCommand::Verify { key } => {
            let fields = wxpay::parse_xml(&read_input(stdin)?).context("reading the XML body")?;
            let st = effective_sign_type(&fields, key.sign_type)?;
            match wxpay::verify(&fields, &key.key(), key.sign_type) {
                Ok(()) => {
                    writeln!(stdout, "valid")?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(WxPayError::SignMismatch) => {
                    let expected = wxpay::sign(&fields, &key.key(), st);
                    let given = fields.get("sign").map(String::as_str).unwrap_or_default();
                    writeln!(
                        stdout,
                        "invalid: sign mismatch ({st}): expected {expected}, given {given}"
                    )?;
                    Ok(ExitCode::from(1))
                }
                Err(e) => {
                    writeln!(stdout, "invalid: {e}")?;
                    Ok(ExitCode::from(1))
                }
            }
        }
        WxpayCommand::PayParams {
            key,
            appid,
            prepay_id,
            timestamp,
            nonce,
        } => {
            let ts = match timestamp {
                Some(t) => t,
                None => chrono::Utc::now().timestamp(),
            };
            let nonce = nonce.unwrap_or_else(paylog_wechat::nonce);
            let p = RequestPayment::new(&appid, &prepay_id, ts, &nonce, key.sign_type, &key.key());
            serde_json::to_writer_pretty(&mut stdout, &p)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        WxpayCommand::V3 { cmd } => super::wxpay_v3::run(cmd, stdin, stdout),
        WxpayCommand::DecryptRefund { key } => {
            let outer =
                wxpay::parse_xml(&read_input(stdin)?).context("reading the refund notify")?;
            let req_info = outer
                .get("req_info")
                .filter(|v| !v.is_empty())
                .context("the body has no req_info")?;
            let inner = decrypt_req_info(req_info, &ApiKey::new(key.expose_secret()))?;
            serde_json::to_writer_pretty(&mut stdout, &inner)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn read_input(stdin: impl Read) -> anyhow::Result<String> {
    let mut buf = String::new();
    // Read one byte past the limit so an oversized body is reported as such.
    stdin
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_string(&mut buf)
        .context("reading stdin (UTF-8 expected)")?;
    if buf.len() > MAX_BODY_BYTES {
        bail!("input is over the {MAX_BODY_BYTES}-byte limit");
    }
    Ok(buf)
}

/// A JSON object of string (or number/bool) fields, or an `<xml>` body.
fn read_fields(stdin: impl Read) -> anyhow::Result<Fields> {
    let input = read_input(stdin)?;
    let trimmed = input.trim_start();
    if trimmed.starts_with('<') {
        return wxpay::parse_xml(&input).context("reading the XML body");
    }
    let value: serde_json::Value =
        serde_json::from_str(&input).context("input is neither JSON nor XML")?;
    let obj = value
        .as_object()
        .context("the JSON input must be an object of fields")?;
    obj.iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => bail!("field {k:?} must be a string, number or boolean"),
            };
            Ok((k.clone(), s))
        })
        .collect()
}
