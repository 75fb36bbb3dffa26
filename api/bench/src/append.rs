//! Row 1, durable append: 64 concurrent appenders through the store's group commit,
//! against raw RocksDB `WriteBatch`es of the same bytes, synced, batch size equal to
//! paylog's mean group size.
//!
//! Each round runs paylog first on a fresh directory, then replays the exact envelope
//! bytes paylog wrote (read back from its `events` column family) into a fresh raw
//! RocksDB in batches of the group size paylog achieved in that round. The ratio is
//! taken per round, so machine noise (other builds, page cache) cancels in it.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use paylog_core::OrderId;
use paylog_core::streams::order_stream;
use paylog_store::rocks::EVENTS_COLUMN_FAMILY;
use paylog_store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, RocksStore, StoreOptions, StreamAppend,
};
use rocksdb::{DB, IteratorMode, Options, WriteBatch, WriteOptions};
use uuid::Uuid;

use super::Sizes;
use super::fill::Generator;
use super::report::{Line, median, rate};

/// A stored key and value of the `events` column family.
type Record = (Box<[u8]>, Box<[u8]>);

/// Concurrent appenders, as the issue asks.
pub(crate) const APPENDERS: usize = 64;

/// One round's numbers.
struct Round {
    paylog_rate: f64,
    raw_rate: f64,
    group: f64,
}

pub fn run(sizes: &Sizes, scratch: &Path) -> anyhow::Result<Line> {
    let template = template_event()?;
    let per_appender = sizes.append_events.div_ceil(APPENDERS).max(1);
    let mut rounds = Vec::new();
    for r in 0..sizes.rounds {
        let dir = tempfile::tempdir_in(scratch)?;
        let (paylog_rate, group) = paylog_round(&dir.path().join("log"), &template, per_appender)?;
        let records = read_events(&dir.path().join("log"))?;
        let batch = group.round().max(1.0) as usize;
        let raw_rate = raw_round(&dir.path().join("raw"), &records, batch)?;
        tracing::info!(round = r, paylog_rate, raw_rate, group, "durable append");
        rounds.push(Round {
            paylog_rate,
            raw_rate,
            group,
        });
    }
    let p = median(&rounds.iter().map(|r| r.paylog_rate).collect::<Vec<_>>());
    let raw = median(&rounds.iter().map(|r| r.raw_rate).collect::<Vec<_>>());
    let ratio = median(
        &rounds
            .iter()
            .map(|r| r.paylog_rate / r.raw_rate)
            .collect::<Vec<_>>(),
    );
    let group = median(&rounds.iter().map(|r| r.group).collect::<Vec<_>>());
    let mut line = Line::new(
        1,
        format!("Durable append, {APPENDERS} appenders × 1 event (group commit, fsync)"),
    );
    line.paylog = format!("{} events/s", rate(p));
    line.baseline = format!(
        "raw WriteBatch({:.0}) sync: {} events/s",
        group.round(),
        rate(raw)
    );
    line.ratio = Some(ratio);
    line.target = "≥ 75% of raw".into();
    line.met = Some(ratio >= 0.75);
    line.detail = format!(
        "mean group {group:.1} requests/fsync; {} B/event; {} events/round",
        template.payload.len(),
        per_appender * APPENDERS
    );
    line.value("paylog_events_per_sec", p)
        .value("raw_events_per_sec", raw)
        .value("ratio", ratio)
        .value("mean_group_size", group)
        .value("payload_bytes", template.payload.len() as f64);
    Ok(line)
}

/// A real single-event command's event: the `PaymentRequested` of a generated order.
pub(crate) fn template_event() -> anyhow::Result<NewEvent> {
    let (mut generator, _) = Generator::new(4, 4)?;
    for _ in 0..3 {
        for request in generator.next_order()? {
            if let [stream] = request.streams.as_slice()
                && let [event] = stream.events.as_slice()
                && event.event_type == "PaymentRequested"
            {
                return Ok(event.clone());
            }
        }
    }
    anyhow::bail!("the generator made no PaymentRequested event")
}

/// 64 tasks append one-event commands (each to a new order stream, `NoStream`
/// expected, like a real first event) until each has done `per_appender`.
fn paylog_round(
    path: &Path,
    template: &NewEvent,
    per_appender: usize,
) -> anyhow::Result<(f64, f64)> {
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = Arc::new(RocksStore::open(path, StoreOptions::default())?);
        append_load(store, template, per_appender).await
    })
}

/// The load of this row on any log: [`APPENDERS`] tasks, `per_appender` one-event
/// commands each. Returns events/s and the mean group size (requests per batch); closes
/// the store.
pub(crate) async fn append_load(
    store: Arc<dyn EventStore>,
    template: &NewEvent,
    per_appender: usize,
) -> anyhow::Result<(f64, f64)> {
    let before = store.stats();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(APPENDERS);
    for _ in 0..APPENDERS {
        let store = Arc::clone(&store);
        let event = template.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_appender {
                let id = Uuid::now_v7();
                let request = AppendRequest {
                    command_id: id,
                    correlation_id: id,
                    causation_id: None,
                    streams: vec![StreamAppend {
                        stream_id: order_stream(OrderId::from_uuid(Uuid::now_v7())),
                        expected: ExpectedVersion::NoStream,
                        events: vec![event.clone()],
                    }],
                };
                store.append(request).await?;
            }
            Ok::<_, paylog_store::StoreError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = store.stats();
    store.close().await;
    let events = (after.events - before.events) as f64;
    let batches = (after.batches - before.batches).max(1) as f64;
    let requests = (after.requests - before.requests) as f64;
    Ok((events / elapsed, requests / batches))
}

/// The `events` column family of a paylog log, exactly as stored.
fn read_events(path: &Path) -> anyhow::Result<Vec<Record>> {
    let names = DB::list_cf(&Options::default(), path)?;
    let db = DB::open_cf_for_read_only(&Options::default(), path, &names, false)?;
    let cf = db
        .cf_handle(EVENTS_COLUMN_FAMILY)
        .ok_or_else(|| anyhow::anyhow!("no events column family in {}", path.display()))?;
    let mut records = Vec::new();
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        records.push(item?);
    }
    Ok(records)
}

/// Writes `records` into a fresh RocksDB from one thread, `batch` per synced
/// `WriteBatch`: what the hardware and RocksDB allow with no bookkeeping at all.
fn raw_round(path: &Path, records: &[Record], batch: usize) -> anyhow::Result<f64> {
    let mut options = Options::default();
    options.create_if_missing(true);
    let db = DB::open(&options, path)?;
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    let started = Instant::now();
    for chunk in records.chunks(batch) {
        let mut wb = WriteBatch::default();
        for (key, value) in chunk {
            wb.put(key, value);
        }
        db.write_opt(wb, &sync)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(records.len() as f64 / elapsed)
}
