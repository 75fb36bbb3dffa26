//! Row 4, projection rebuild: every view rebuilt from position 0 on a generated log,
//! against a raw scan of the same log's `events` column family.
//!
//! Rounds alternate which side goes first, so the page cache favours neither.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use paylog_projections::Views;
use paylog_store::rocks::EVENTS_COLUMN_FAMILY;
use paylog_store::{Durability, EventStore, RocksStore, StoreOptions};
use rocksdb::{DB, IteratorMode, Options};

use super::Sizes;
use super::fill::{self, Generator, append_all};
use super::report::{Line, median, rate};

pub fn run(sizes: &Sizes, scratch: &Path) -> anyhow::Result<Line> {
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

        let mut rebuilds = Vec::new();
        let mut scans = Vec::new();
        for round in 0..sizes.rounds {
            if round % 2 == 1 {
                scans.push(raw_scan(&log)?);
            }
            let started = Instant::now();
            let stats = paylog_projections::rebuild(&*store, &views, |_| {}).await?;
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(stats.position == head, "the rebuild stopped at {} of {head}", stats.position);
            rebuilds.push(stats.events as f64 / secs);
            if round % 2 == 0 {
                scans.push(raw_scan(&log)?);
            }
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
        Ok(line)
    })
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
