//! `paylog wxpay-sim`: run the local WeChat simulator on its own.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
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
}

impl WxpaySimArgs {
    /// The simulator configuration: given values, demo defaults for the rest.
    pub fn sim_config(&self) -> SimConfig {
        let demo = SimConfig::demo();
        SimConfig {
            appid: self.appid.clone().unwrap_or(demo.appid),
            mch_id: self.mch_id.clone().unwrap_or(demo.mch_id),
            api_key: self.api_key.clone().unwrap_or(demo.api_key),
            app_secret: self.secret.clone().unwrap_or(demo.app_secret),
            time_scale: self.time_scale,
            response_key: None,
            clock: None,
        }
    }
}

/// Serves until Ctrl-C.
pub fn run(args: WxpaySimArgs) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let config = args.sim_config();
        let handle = sim::start(listener, config.clone())
            .await
            .context("starting the simulator")?;
        println!(
            "WeChat simulator on {} (appid {}, mch_id {})",
            handle.base_url(),
            config.appid,
            config.mch_id
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
