//! `paylog migrate`: copies a RocksDB log into an EMPTY JetStream stream on a NATS
//! cluster, preserving positions, stream versions, `recorded_at` and command,
//! correlation and causation ids, then verifies the copy: the same number of events,
//! streams and commands, every envelope equal, and the same SHA-256 digest over all of
//! them (printed, so it can be compared later with another copy).
//!
//! The source is opened read-only as of the start: stop `paylog serve` on it first, or
//! what it appends afterwards is not copied. The views are not copied: a server on the
//! NATS log builds its own (`paylog serve --store nats://…` on a fresh data dir, or
//! `paylog replay --store nats://…` on an existing one).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use paylog_store::{EventStore, NatsStore, RecordedEvent, StoreLocation};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{DEFAULT_NATS_STREAM, LogSource, nats_location};

/// Events read per call from either log: memory stays bounded at any log size.
const PAGE: usize = 1024;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data dir whose RocksDB log (`<dir>/log`) is copied.
    #[arg(long)]
    pub from: PathBuf,

    /// The NATS cluster, `nats://host:port,host:port,…`.
    #[arg(long)]
    pub to: String,

    /// The JetStream stream to create or fill; it must hold no message.
    #[arg(long, default_value = DEFAULT_NATS_STREAM)]
    pub nats_stream: String,

    /// Replicas of the stream when it is created (1, 3 or 5).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
}

/// What one side of the copy holds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    events: u64,
    streams: u64,
    commands: u64,
    digest: String,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let StoreLocation::Nats(options) =
        nats_location(&args.to, &args.nats_stream, args.replicas).map_err(anyhow::Error::msg)?
    else {
        anyhow::bail!("--to {:?} is not a nats:// URL", args.to);
    };
    let (runtime, source) = super::events::open_log(&args.from, &LogSource::default())?;
    runtime.block_on(async {
        let mut importer = NatsStore::importer(options.clone())
            .await
            .with_context(|| format!("opening the JetStream stream {}", options.stream))?;
        let mut after = 0;
        loop {
            let page = source
                .read_all(after, PAGE)
                .await
                .context("reading the source log")?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for event in page {
                let position = event.position;
                importer
                    .push(event)
                    .await
                    .with_context(|| format!("copying position {position}"))?;
            }
        }
        let copied = importer.finish().await.context("finishing the copy")?;
        eprintln!(
            "copied {} events ({} streams, {} commands) into stream {}",
            copied.events, copied.streams, copied.commands, options.stream
        );
        let target = paylog_store::open_read_only(StoreLocation::Nats(options.clone()))
            .await
            .context("opening the copy")?;
        let (expected, actual) = compare(&*source, &*target).await?;
        if expected != actual {
            anyhow::bail!("the copy differs from the source: source {expected:?}, copy {actual:?}");
        }
        println!(
            "migrated and verified {} events, {} streams, {} commands; sha256 {}",
            actual.events, actual.streams, actual.commands, actual.digest
        );
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Reads both logs side by side, failing at the first envelope that differs, and
/// summarizes each.
async fn compare(
    source: &dyn EventStore,
    target: &dyn EventStore,
) -> anyhow::Result<(Summary, Summary)> {
    let mut sides = [Side::default(), Side::default()];
    let mut after = 0;
    loop {
        let a = source
            .read_all(after, PAGE)
            .await
            .context("reading the source log")?;
        let b = target
            .read_all(after, PAGE)
            .await
            .context("reading the copy")?;
        for (x, y) in a.iter().zip(&b) {
            if x != y {
                anyhow::bail!(
                    "the copy differs from the source at position {} (source {:?} v{}, copy {:?} v{})",
                    x.position,
                    x.stream_id,
                    x.stream_version,
                    y.stream_id,
                    y.stream_version
                );
            }
        }
        for event in &a {
            sides[0].add(event)?;
        }
        for event in &b {
            sides[1].add(event)?;
        }
        if a.len() != b.len() || a.is_empty() {
            break;
        }
        after = a.last().map_or(after, |e| e.position);
    }
    let [s, t] = sides;
    Ok((s.finish(), t.finish()))
}

#[derive(Default)]
struct Side {
    events: u64,
    streams: u64,
    commands: HashSet<Uuid>,
    digest: Sha256,
}

impl Side {
    fn add(&mut self, event: &RecordedEvent) -> anyhow::Result<()> {
        self.events += 1;
        if event.stream_version == 1 {
            self.streams += 1;
        }
        self.commands.insert(event.command_id);
        // Every field of the envelope, length-delimited by JSON's own framing.
        let bytes = serde_json::to_vec(event).context("encoding an envelope")?;
        self.digest.update((bytes.len() as u64).to_be_bytes());
        self.digest.update(&bytes);
        Ok(())
    }

    fn finish(self) -> Summary {
        Summary {
            events: self.events,
            streams: self.streams,
            commands: self.commands.len() as u64,
            digest: format!("{:x}", self.digest.finalize()),
        }
    }
}
