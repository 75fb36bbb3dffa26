//! Row 4, projection rebuild: every view rebuilt from position 0 on a generated log,
//! against a raw scan of the same log's `events` column family.
//!
//! The log is written as paylog writes it (binary payloads). A second line rebuilds
//! the same history with every payload in JSON, as logs written before binary
//! payloads hold them, so the price of the encoding is measured in the same run.
//! Rounds alternate which side goes first, so the page cache favours neither.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use paylog_core::codec;
use paylog_projections::Views;
use paylog_store::rocks::EVENTS_COLUMN_FAMILY;
use paylog_store::{Durability, EventStore, RecordedEvent, RocksStore, StoreOptions};
use rocksdb::{DB, IteratorMode, Options};

use super::Sizes;
use super::fill::{self, Generator, append_all};
use super::report::{Line, median, rate};

/// Which logs row 4 rebuilds (all of them but for profiling runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payloads {
    Both,
    Binary,
    Json,
}

/// Events read per batch while writing the JSON copy of the log.
const COPY_BATCH: usize = 4096;

pub fn run(sizes: &Sizes, scratch: &Path) -> anyhow::Result<Vec<Line>> {
    let dir = tempfile::tempdir_in(scratch)?;
    let log = dir.path().join("log");
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let options = StoreOptions {
            durability: Durability::Buffered,
            ..StoreOptions::default()
        };
        let rocks = Arc::new(RocksStore::open(&log, options)?);
        let store: Arc<dyn EventStore> = rocks.clone();
        let (generator, creation) = Generator::new(2_000, 200)?;
        append_all(&store, creation).await?;
        fill::fill(Arc::clone(&store), generator, sizes.rebuild_events).await?;
        let head = store.head();
        let views = Views::open(dir.path().join("views"))?;
        let payloads = sizes.rebuild_payloads;
        let json = if payloads == Payloads::Binary {
            None
        } else {
            let path = dir.path().join("log-json");
            json_copy(&*store, &path).await?;
            let json_log: Arc<dyn EventStore> = Arc::new(RocksStore::open(&path, StoreOptions::default())?);
            let json_views = Views::open(dir.path().join("views-json"))?;
            Some((json_log, json_views))
        };

        let mut rebuilds = Vec::new();
        let mut json_rebuilds = Vec::new();
        let mut scans = Vec::new();
        for round in 0..sizes.rounds {
            if round % 2 == 1 {
                scans.push(raw_scan(&log)?);
            }
            if let Some((json_log, json_views)) = json.as_ref().filter(|_| round % 2 == 1) {
                json_rebuilds.push(rebuild(&**json_log, json_views, head).await?);
            }
            if payloads != Payloads::Json {
                rebuilds.push(rebuild(&*store, &views, head).await?);
            }
            if let Some((json_log, json_views)) = json.as_ref().filter(|_| round % 2 == 0) {
                json_rebuilds.push(rebuild(&**json_log, json_views, head).await?);
            }
            if round % 2 == 0 {
                scans.push(raw_scan(&log)?);
            }
        }
        if let Some((json_log, _)) = &json {
            json_log.close().await;
        }
        rocks.close().await;

        let paylog = median(&rebuilds);
        let scan = median(&scans.iter().map(|s| s.0).collect::<Vec<_>>());
        let ratio = median(&rebuilds.iter().zip(&scans).map(|(r, s)| r / s.0).collect::<Vec<_>>());
        let mb = scans.first().map_or(0.0, |s| s.1 as f64 / 1e6);
        let mut line = Line::new(4, format!("Projection rebuild from zero, {head} events"));
        line.paylog = format!("{} events/s", rate(paylog));
        line.baseline = format!("raw scan of the log: {} events/s", rate(scan));
        line.ratio = Some(ratio);
        line.target = "≥ 1M events/s".into();
        line.met = Some(paylog >= 1_000_000.0);
        line.detail = format!(
            "every view, into a new generation, then the swap; log {mb:.0} MB ({:.0} B/event incl. envelope)",
            mb * 1e6 / head.max(1) as f64
        );
        line.value("events", head as f64)
            .value("rebuild_events_per_sec", paylog)
            .value("raw_scan_events_per_sec", scan)
            .value("ratio", ratio);
        let mut lines = Vec::new();
        if payloads != Payloads::Json {
            lines.push(line);
        }
        if !json_rebuilds.is_empty() {
            let json_rate = median(&json_rebuilds);
            let mut line = Line::new(
                4,
                format!("Projection rebuild from zero, {head} events, JSON payloads (a log written before binary)"),
            );
            line.paylog = format!("{} events/s", rate(json_rate));
            if !rebuilds.is_empty() {
                line.baseline = format!("binary payloads: {} events/s", rate(paylog));
                line.ratio = Some(median(
                    &json_rebuilds.iter().zip(&rebuilds).map(|(j, b)| j / b).collect::<Vec<_>>(),
                ));
            }
            line.detail = "the same history, every payload as the JSON of its event".into();
            line.value("rebuild_events_per_sec", json_rate);
            lines.push(line);
        }
        Ok(lines)
    })
}

/// One rebuild from zero of every view; events/s.
async fn rebuild(store: &dyn EventStore, views: &Views, head: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let stats = paylog_projections::rebuild(store, views, |_| {}).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        stats.position == head,
        "the rebuild stopped at {} of {head}",
        stats.position
    );
    Ok(stats.events as f64 / secs)
}

/// Writes the log again at `path`, every payload as the JSON of its event (the
/// envelopes otherwise identical), as `paylog import` writes an export.
async fn json_copy(store: &dyn EventStore, path: &Path) -> anyhow::Result<()> {
    let mut importer = RocksStore::importer(path)?;
    let mut after = 0;
    loop {
        let batch = store.read_all(after, COPY_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        for event in batch {
            let decoded = codec::decode(&event.event_type, event.schema_version, &event.payload)?;
            let json = codec::encode_json(&decoded)?;
            importer.push(RecordedEvent {
                schema_version: json.schema_version,
                payload: json.payload,
                ..event
            })?;
        }
    }
    importer.finish()?;
    Ok(())
}

/// Reads every stored event of the log, touching its bytes: (events/s, bytes).
fn raw_scan(log: &Path) -> anyhow::Result<(f64, u64)> {
    let names = DB::list_cf(&Options::default(), log)?;
    let db = DB::open_cf_for_read_only(&Options::default(), log, &names, false)?;
    let cf = db
        .cf_handle(EVENTS_COLUMN_FAMILY)
        .ok_or_else(|| anyhow::anyhow!("no events column family"))?;
    let started = Instant::now();
    let (mut count, mut bytes, mut check) = (0u64, 0u64, 0u8);
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (_, value) = item?;
        count += 1;
        bytes += value.len() as u64;
        check ^= value.last().copied().unwrap_or(0);
    }
    let secs = started.elapsed().as_secs_f64();
    std::hint::black_box(check);
    Ok((count as f64 / secs, bytes))
}
