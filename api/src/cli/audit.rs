//! `paylog audit`: replay for auditors.
//! - `audit order ID`: the order's whole history — position, recorded time, event type,
//!   payload, command id — and the state after each event; `--as-of` the state at an
//!   instant; `--json` for machines.
//! - `audit verify`: the log's own integrity; non-zero exit on any breach.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::LogSource;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use paylog_core::OrderId;
use paylog_core::order::OrderState;
use paylog_projections::audit::{HistoryEntry, order_history, verify_log};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// An order's history and the state after each event (or as of an instant).
    Order(OrderArgs),
    /// Check the whole log: sequence, decoding, domain invariants.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct OrderArgs {
    /// The order id (a uuid).
    pub id: String,
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub log: LogSource,
    /// Print only the state as paylog knew it at this instant (RFC 3339).
    #[arg(long)]
    pub as_of: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub log: LogSource,
    /// How many breaches to list at most (all are counted).
    #[arg(long, default_value_t = 50)]
    pub max_breaches: usize,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Order(args) => order(args),
        AuditCommand::Verify(args) => verify(args),
    }
}

fn order(args: OrderArgs) -> anyhow::Result<ExitCode> {
    let order_id: OrderId = args
        .id
        .parse()
        .map_err(|_| anyhow::anyhow!("{:?} is not an order id (a uuid)", args.id))?;
    let as_of = args
        .as_of
        .as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| anyhow::anyhow!("--as-of {s:?} is not an RFC 3339 instant: {e}"))
        })
        .transpose()?;
    let (runtime, store) = super::events::open_log(&args.data_dir, &args.log)?;
    let history = runtime
        .block_on(order_history(&*store, order_id))
        .context("reading the order's history")?;
    if history.entries.is_empty() {
        eprintln!("paylog: no order {order_id} in the log");
        return Ok(ExitCode::FAILURE);
    }
    if let Some(at) = as_of {
        let state = history.state_as_of(at);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&state)?);
        } else {
            match state {
                Some(state) => {
                    println!("order {order_id} as of {at}:");
                    print_state(state, "  ");
                }
                None => println!("order {order_id} was not placed yet at {at}"),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&history)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("order {order_id}: {} events", history.entries.len());
    for entry in &history.entries {
        print_entry(entry)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_entry(entry: &HistoryEntry) -> anyhow::Result<()> {
    println!(
        "\n#{} v{} {} {} (schema v{}) command {}",
        entry.position,
        entry.stream_version,
        entry.recorded_at.to_rfc3339(),
        entry.event_type,
        entry.schema_version,
        entry.command_id
    );
    println!("  payload: {}", serde_json::to_string(&entry.event)?);
    match &entry.state {
        Some(state) => print_state(state, "  "),
        None => println!("  state: (no order: the stream has no OrderPlaced)"),
    }
    Ok(())
}

fn print_state(state: &OrderState, indent: &str) {
    println!(
        "{indent}state: {} total {} paid {} refunded {} pending refunds {} ({} lines, {} refunds, {} anomalies)",
        state.status,
        state.total.to_yuan_string(),
        state.paid.to_yuan_string(),
        state.refunded.to_yuan_string(),
        state.pending_refunds.to_yuan_string(),
        state.lines.len(),
        state.refunds.len(),
        state.anomalies.len()
    );
    if let Some(payment) = &state.payment {
        println!(
            "{indent}payment: transaction {} at {}",
            payment.transaction_id,
            payment.paid_at.to_rfc3339()
        );
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let (runtime, store) = super::events::open_log(&args.data_dir, &args.log)?;
    let bar = ProgressBar::new(store.head());
    let report = runtime
        .block_on(verify_log(&*store, args.max_breaches, |position, head| {
            bar.set_length(head);
            bar.set_position(position);
        }))
        .context("verifying the log")?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} events (last position {}), {} streams: {} users, {} products, {} orders; {} read through an upcast",
            report.events,
            report.last_position,
            report.streams,
            report.users,
            report.products,
            report.orders,
            report.upcast
        );
        for (event_type, count) in &report.event_types {
            println!("  {event_type}: {count}");
        }
        if report.is_sound() {
            println!("the log is sound");
        } else {
            println!("{} breaches:", report.breach_count);
            for breach in &report.breaches {
                println!("  {breach}");
            }
        }
    }
    Ok(if report.is_sound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
