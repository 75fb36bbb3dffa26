//! `paylog reconcile [--date YYYY-MM-DD] [--json]`: WeChat's bill of one Beijing day
//! (default: yesterday) compared with the log.
//!
//! It takes the same settings as `paylog serve` (`PAYLOG_DATA_DIR`, `PAYLOG_WECHAT_*`)
//! and opens the log read-only, so it runs beside a live server and changes nothing:
//! payments missing from the log are reported, and recorded by the server's own run
//! (`PAYLOG_RECONCILE_DAILY_AT`, or `POST /v1/admin/reconciliation/{date}`).
//!
//! With `PAYLOG_WECHAT_PAY_VERSION=v3` the bill is fetched through v3
//! (`/v3/bill/tradebill`) and the v2 key is not needed: it is the same bill
//! (see `services::reconciliation`).
//!
//! Exit status: 0 when the day matches, 2 when the bill and the log differ, 1 on an
//! error (bad input, WeChat unreachable, a malformed bill: one line naming it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use paylog_engine::SystemClock;
use paylog_wechat::{WechatClient, WechatConfig, WechatV3Client, WechatV3Config};
use secrecy::SecretString;

use crate::config::{LogSource, PayVersionArg, WechatArgs};
use crate::http::reconciliation::{
    BillDto, DifferenceDto, DifferenceKindDto, Movement, ReconciliationReport, ResolutionDto,
};
use crate::services::reconciliation::{BillReconciliation, BillSource, parse_day};

/// The exit status of a day that does not match.
const DIFFERENCES_EXIT: u8 = 2;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Where the event log lives (the server's data dir).
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The log on a NATS cluster instead (`--store nats://…`), as `paylog serve` has it.
    #[command(flatten)]
    pub log: LogSource,

    #[command(flatten)]
    pub wechat: WechatArgs,

    /// The Beijing day (`YYYY-MM-DD`); default: yesterday in Beijing.
    #[arg(long)]
    pub date: Option<String>,

    /// Print the report as JSON (the shape of `GET /v1/admin/reconciliation/{date}`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let day = args
        .date
        .as_deref()
        .map(parse_day)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--date: {e}"))?;
    let source = bill_source(&args.wechat)?;
    let (runtime, store) = super::events::open_log(&args.data_dir, &args.log)?;
    let report = runtime.block_on(async move {
        let source = source()?;
        let bill = BillReconciliation::read_only(store, source, Arc::new(SystemClock));
        let day = match day {
            Some(day) => day,
            None => bill.default_day()?,
        };
        bill.report(day)
            .await
            .with_context(|| format!("reconciling {day}"))
    })?;
    let report = ReconciliationReport::from(&report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.matches {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DIFFERENCES_EXIT)
    })
}

/// The client for `downloadbill`: the merchant's appid, mch_id and API key are
/// needed (no client certificate: the bill is not a `secapi` call).
/// Checks the settings now (before the log is opened) and builds the bill's client
/// later, inside the runtime (reqwest wants one).
fn bill_source(w: &WechatArgs) -> anyhow::Result<impl FnOnce() -> anyhow::Result<BillSource>> {
    enum Config {
        V2(Box<WechatConfig>),
        V3(Box<WechatV3Config>),
    }
    let config = if w.v3.pay_version == PayVersionArg::V3 {
        let merchant = w
            .v3
            .merchant(w.appid.as_deref(), w.mch_id.as_deref(), w.api_key.as_ref())
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .ok_or_else(|| anyhow::anyhow!("PAYLOG_WECHAT_PAY_VERSION=v3 needs the v3 settings"))?;
        let mut config = WechatV3Config::new(merchant, w.notify_url.clone().unwrap_or_default());
        if let Some(url) = &w.pay_url {
            config = config.with_base_url(url);
        }
        Config::V3(Box::new(config))
    } else {
        Config::V2(Box::new(wechat_config(w)?))
    };
    Ok(move || {
        Ok(match config {
            Config::V2(c) => BillSource::V2(Box::new(
                WechatClient::new(*c).context("building the WeChat client")?,
            )),
            Config::V3(c) => BillSource::V3(
                WechatV3Client::new(*c).context("building the WeChat Pay v3 client")?,
            ),
        })
    })
}

fn wechat_config(w: &WechatArgs) -> anyhow::Result<WechatConfig> {
    let (Some(appid), Some(mch_id), Some(key)) = (&w.appid, &w.mch_id, &w.api_key) else {
        anyhow::bail!(
            "paylog reconcile needs the WeChat merchant settings PAYLOG_WECHAT_APPID, \
             PAYLOG_WECHAT_MCH_ID and PAYLOG_WECHAT_API_KEY (a server in simulator mode \
             answers GET /v1/admin/reconciliation/{{date}} instead)"
        );
    };
    let (sign_type, accept_either) =
        crate::app::sign_policy(w).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = WechatConfig::new(
        appid.clone(),
        mch_id.clone(),
        key.clone(),
        w.secret.clone().unwrap_or_else(|| SecretString::from("")),
        w.notify_url.clone().unwrap_or_default(),
    );
    if let Some(url) = &w.pay_url {
        config.pay_url = url.trim_end_matches('/').to_owned();
    }
    config.sign_type = sign_type;
    config.accept_either_sign_type = accept_either;
    Ok(config)
}

fn print_report(r: &ReconciliationReport) {
    let bill = match r.bill {
        BillDto::Bill => format!("{} payments, {} refunds", r.bill_payments, r.bill_refunds),
        BillDto::NoBill => "no bill (No Bill Exist)".to_owned(),
    };
    println!(
        "{}: WeChat's bill: {bill}; the log: {} payments, {} refunds",
        r.date, r.log_payments, r.log_refunds
    );
    if r.matches {
        println!("the day matches");
        return;
    }
    println!("{} differences:", r.differences.len());
    for d in &r.differences {
        println!("  {}", describe(d));
    }
}

fn yuan(fen: Option<u64>) -> String {
    fen.map_or_else(
        || "?".to_owned(),
        |f| paylog_core::Fen::new(f).to_yuan_string(),
    )
}

fn describe(d: &DifferenceDto) -> String {
    let movement = match d.movement {
        Movement::Payment => "payment",
        Movement::Refund => "refund",
    };
    let what = match d.kind {
        DifferenceKindDto::MissingFromLog => {
            format!(
                "{movement} of {} yuan in the bill, missing from the log",
                yuan(d.amount_fen)
            )
        }
        DifferenceKindDto::MissingFromBill => {
            format!(
                "{movement} of {} yuan in the log, missing from the bill",
                yuan(d.amount_fen)
            )
        }
        DifferenceKindDto::AmountDiffers => format!(
            "{movement} amount differs: bill {} yuan, log {} yuan",
            yuan(d.bill_amount_fen),
            yuan(d.log_amount_fen)
        ),
        DifferenceKindDto::StatusDiffers => format!(
            "{movement} status differs: bill {}, log {}",
            d.bill_status.as_deref().unwrap_or("?"),
            d.log_status.as_deref().unwrap_or("?")
        ),
        DifferenceKindDto::DuplicateInBill => format!(
            "{movement} twice in the bill (first on line {})",
            d.first_line.unwrap_or_default()
        ),
    };
    let order = d
        .order_id
        .map_or_else(|| "unknown to paylog".to_owned(), |id| id.to_string());
    let mut ids = format!(
        "order {order}, out_trade_no {}, transaction {}",
        d.out_trade_no, d.transaction_id
    );
    if let Some(no) = &d.out_refund_no {
        ids.push_str(&format!(", out_refund_no {no}"));
    }
    if let Some(line) = d.bill_line {
        ids.push_str(&format!(", bill line {line}"));
    }
    let action = match d.resolution {
        ResolutionDto::Recovered => "recorded now",
        ResolutionDto::UnknownOrder => "ANOMALY: no such order in paylog, an operator must act",
        ResolutionDto::RecoveryFailed => "recovery failed",
        ResolutionDto::NotAttempted => "to be recorded by the server's reconciliation run",
        ResolutionDto::ForAnOperator => "for an operator",
    };
    format!("{what} ({ids}) [{action}]")
}
