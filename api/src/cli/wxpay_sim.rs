//! `paylog wxpay-sim`: run the local WeChat simulator on its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use paylog_core::wxpay_v3::{PublicKeyId, RsaSigningKey};
use secrecy::SecretString;

use paylog_sim::{self as sim, SimConfig};

/// Flags of `paylog wxpay-sim`; credentials default to the simulator's demo ones.
#[derive(Debug, Clone, Args)]
pub struct WxpaySimArgs {
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,
    #[arg(long, env = "PAYLOG_WECHAT_APPID")]
    pub appid: Option<String>,
    #[arg(long, env = "PAYLOG_WECHAT_MCH_ID")]
    pub mch_id: Option<String>,
    #[arg(long, env = "PAYLOG_WECHAT_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,
    #[arg(long, env = "PAYLOG_WECHAT_SECRET", hide_env_values = true)]
    pub secret: Option<SecretString>,
    /// Multiplies WeChat's notify retry delays (0.001: 15 s become 15 ms).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// v3: the WeChat Pay private key (PEM file) the simulator signs answers and
    /// notifies with; its public key is served at `GET /sim/v3/public-key`.
    /// Default: the committed TEST-ONLY demo key.
    #[arg(long, requires = "public_key_id")]
    pub wechatpay_private_key: Option<PathBuf>,
    /// v3: the id of that key (`PUB_KEY_ID_…`), what `Wechatpay-Serial` says.
    #[arg(long, requires = "wechatpay_private_key")]
    pub public_key_id: Option<String>,
}

impl WxpaySimArgs {
    /// The simulator configuration: given values, demo defaults for the rest.
    pub fn sim_config(&self) -> anyhow::Result<SimConfig> {
        let demo = SimConfig::demo();
        let mut v3 = demo.v3;
        if let (Some(path), Some(id), Some(v3)) = (
            &self.wechatpay_private_key,
            &self.public_key_id,
            v3.as_mut(),
        ) {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("--wechatpay-private-key: reading {}", path.display()))?;
            v3.wechatpay_key = RsaSigningKey::from_pem("WeChat Pay private key", &pem)
                .context("--wechatpay-private-key")?;
            v3.public_key_id = PublicKeyId::parse(id).context("--public-key-id")?;
        }
        Ok(SimConfig {
            appid: self.appid.clone().unwrap_or(demo.appid),
            mch_id: self.mch_id.clone().unwrap_or(demo.mch_id),
            api_key: self.api_key.clone().unwrap_or(demo.api_key),
            app_secret: self.secret.clone().unwrap_or(demo.app_secret),
            time_scale: self.time_scale,
            response_key: None,
            clock: None,
            v3,
        })
    }
}

/// Serves until Ctrl-C.
pub fn run(args: WxpaySimArgs) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let config = args.sim_config()?;
        let handle = sim::start(listener, config.clone())
            .await
            .context("starting the simulator")?;
        println!(
            "WeChat simulator on {} (appid {}, mch_id {}, v3 public key id {})",
            handle.base_url(),
            config.appid,
            config.mch_id,
            config
                .v3
                .as_ref()
                .map_or("none", |v3| v3.public_key_id.as_str())
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
