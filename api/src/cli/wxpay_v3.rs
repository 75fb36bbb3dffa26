//! `paylog wxpay v3 …`: the WeChat Pay API v3 toolbox for people.
//!
//! - `sign-request`: the `Authorization` header of a request and the exact
//!   message it signs (body from stdin), to compare with a `SIGN_ERROR`;
//! - `verify`: `Wechatpay-*` headers + a body (stdin) → `valid`, or exactly why not;
//! - `decrypt`: a notify body (stdin) → its decrypted resource, JSON;
//! - `pay-params`: the RSA-signed `wx.requestPayment` parameters;
//! - `keygen`: a merchant key pair and a test WeChat Pay key pair for local use
//!   with `paylog wxpay-sim`.
//!
//! All protocol work is `paylog_core::wxpay_v3`; errors are one line and the
//! exit code is non-zero. Keys come from PEM files, the APIv3 key from
//! `--apiv3-key` or `PAYLOG_WECHAT_APIV3_KEY`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use paylog_core::wxpay_v3::{
    ApiV3Key, CertificateSerial, CertificateStore, MerchantSigner, MiniProgramPayParams,
    PlatformCertificate, PublicKeyId, RsaSigningKey, RsaVerifyingKey, Verifier, WechatPayPublicKey,
    WechatpayHeaders, decrypt_notify,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::read_pem;

#[derive(Debug, Subcommand)]
pub enum WxpayV3Command {
    /// Sign a request (body from stdin; empty for GET): prints the Authorization
    /// header and the signed message.
    SignRequest {
        #[arg(long)]
        mchid: String,
        /// The merchant API certificate serial.
        #[arg(long)]
        serial: String,
        /// The merchant private key (PEM file).
        #[arg(long)]
        private_key: PathBuf,
        #[arg(long, default_value = "POST")]
        method: String,
        /// Path and query, e.g. `/v3/pay/transactions/jsapi`.
        #[arg(long)]
        url: String,
        /// Seconds since the epoch (default: now).
        #[arg(long)]
        timestamp: Option<i64>,
        /// The nonce (default: a fresh random one).
        #[arg(long)]
        nonce: Option<String>,
    },
    /// Verify an answer or notify (body from stdin, exactly as received); exit 1
    /// when invalid, saying why.
    Verify {
        #[arg(long)]
        timestamp: String,
        #[arg(long)]
        nonce: String,
        #[arg(long)]
        signature: String,
        /// `Wechatpay-Serial`.
        #[arg(long)]
        serial: String,
        /// The WeChat Pay public key (PEM file), with --public-key-id.
        #[arg(long, requires = "public_key_id")]
        public_key: Option<PathBuf>,
        #[arg(long, requires = "public_key")]
        public_key_id: Option<String>,
        /// Platform certificates (PEM files).
        #[arg(long)]
        platform_certificate: Vec<PathBuf>,
        /// "Now" in seconds since the epoch, for checking an old capture.
        #[arg(long)]
        now: Option<i64>,
    },
    /// Decrypt the resource of a notify body read from stdin (not verified: use
    /// `verify` for that); prints it as JSON.
    Decrypt {
        #[arg(long, env = "PAYLOG_WECHAT_APIV3_KEY", hide_env_values = true)]
        apiv3_key: SecretString,
    },
    /// Print the signed `wx.requestPayment` parameters (signType RSA) as JSON.
    PayParams {
        #[arg(long)]
        appid: String,
        #[arg(long)]
        prepay_id: String,
        /// The merchant private key (PEM file).
        #[arg(long)]
        private_key: PathBuf,
        #[arg(long)]
        timestamp: Option<i64>,
        #[arg(long)]
        nonce: Option<String>,
    },
    /// Write a merchant key pair and a test WeChat Pay key pair (RSA-2048, PEM)
    /// into a new directory, for local use with `paylog wxpay-sim`.
    Keygen {
        /// The directory to create (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs one `wxpay v3` subcommand over the given stdin and stdout.
pub fn run(
    cmd: WxpayV3Command,
    stdin: impl Read,
    mut stdout: impl Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        WxpayV3Command::SignRequest {
            mchid,
            serial,
            private_key,
            method,
            url,
            timestamp,
            nonce,
        } => {
            let body = super::wxpay::read_input(stdin)?;
            let serial = CertificateSerial::parse("--serial", &serial)?;
            let signer = MerchantSigner::new(&mchid, serial, signing_key(&private_key)?)?;
            let signed = signer.sign_request(
                &method,
                &url,
                timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp()),
                &nonce.unwrap_or_else(paylog_wechat::nonce),
                &body,
            )?;
            writeln!(stdout, "Authorization: {}", signed.authorization)?;
            writeln!(stdout, "signed message: {:?}", signed.message)?;
            Ok(ExitCode::SUCCESS)
        }
        WxpayV3Command::Verify {
            timestamp,
            nonce,
            signature,
            serial,
            public_key,
            public_key_id,
            platform_certificate,
            now,
        } => {
            let body = super::wxpay::read_input(stdin)?;
            let public_key = match (public_key, public_key_id) {
                (Some(path), Some(id)) => Some(WechatPayPublicKey {
                    id: PublicKeyId::parse(&id)?,
                    key: RsaVerifyingKey::from_pem(
                        "WeChat Pay public key",
                        &read_pem("--public-key", &path).map_err(anyhow::Error::msg)?,
                    )?,
                }),
                _ => None,
            };
            let mut certificates = CertificateStore::default();
            for path in &platform_certificate {
                let pem = read_pem("--platform-certificate", path).map_err(anyhow::Error::msg)?;
                certificates.insert(PlatformCertificate::from_pem(&pem)?)?;
            }
            let verifier = match (public_key, certificates.is_empty()) {
                (Some(pk), true) => Verifier::with_public_key(pk),
                (Some(pk), false) => Verifier::with_both(pk, certificates),
                (None, false) => Verifier::with_certificates(certificates),
                (None, true) => {
                    bail!("give --public-key and --public-key-id, or --platform-certificate")
                }
            };
            let headers = WechatpayHeaders {
                timestamp,
                nonce,
                signature,
                serial,
                signature_type: None,
            };
            let now = match now {
                Some(secs) => {
                    chrono::DateTime::from_timestamp(secs, 0).context("--now is out of range")?
                }
                None => chrono::Utc::now(),
            };
            match verifier.verify(&headers, body.as_bytes(), now) {
                Ok(by) => {
                    writeln!(stdout, "valid ({by:?})")?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    writeln!(stdout, "invalid: {e}")?;
                    Ok(ExitCode::from(1))
                }
            }
        }
        WxpayV3Command::Decrypt { apiv3_key } => {
            let body = super::wxpay::read_input(stdin)?;
            let key = ApiV3Key::new(apiv3_key.expose_secret().as_bytes())?;
            let notify = decrypt_notify(body.as_bytes(), &key)?;
            let payload = match &notify.payload {
                paylog_core::wxpay_v3::NotifyPayload::Transaction(tx) => serde_json::to_value(tx)?,
                paylog_core::wxpay_v3::NotifyPayload::Refund(r) => serde_json::to_value(r)?,
            };
            let out = serde_json::json!({
                "id": notify.id,
                "event_type": notify.event_type.as_str(),
                "resource": payload,
            });
            serde_json::to_writer_pretty(&mut stdout, &out)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        WxpayV3Command::PayParams {
            appid,
            prepay_id,
            private_key,
            timestamp,
            nonce,
        } => {
            let params = MiniProgramPayParams::new(
                &appid,
                &prepay_id,
                timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp()),
                &nonce.unwrap_or_else(paylog_wechat::nonce),
                &signing_key(&private_key)?,
            )?;
            serde_json::to_writer_pretty(&mut stdout, &params)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        WxpayV3Command::Keygen { out } => {
            keygen(&out)?;
            writeln!(
                stdout,
                "wrote {0}/apiclient_key.pem (merchant private key), {0}/apiclient_pub.pem, \
                 {0}/wechatpay_key.pem (test WeChat Pay private key, for paylog wxpay-sim \
                 --wechatpay-private-key) and {0}/pub_key.pem (PAYLOG_WECHAT_PUBLIC_KEY); \
                 FOR LOCAL TESTING ONLY",
                out.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn signing_key(path: &Path) -> anyhow::Result<RsaSigningKey> {
    let pem = read_pem("--private-key", path).map_err(anyhow::Error::msg)?;
    Ok(RsaSigningKey::from_pem("merchant private key", &pem)?)
}

/// Two fresh RSA-2048 key pairs, private keys written owner-only.
fn keygen(out: &Path) -> anyhow::Result<()> {
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    std::fs::create_dir(out).with_context(|| format!("--out: creating {}", out.display()))?;
    for (private, public) in [
        ("apiclient_key.pem", "apiclient_pub.pem"),
        ("wechatpay_key.pem", "pub_key.pem"),
    ] {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .context("generating an RSA key")?;
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the private key")?;
        let public_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the public key")?;
        write_private(&out.join(private), private_pem.as_bytes())?;
        std::fs::write(out.join(public), public_pem)
            .with_context(|| format!("writing {public}"))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
