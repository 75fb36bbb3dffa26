//! Row 4, second line: does the live projector keep up with a shop taking 25k orders/s?
//!
//! Placements (an `OrderPlaced` and a `StockReserved` per line, the events a
//! `PlaceOrder` appends) are offered to the log straight through the store at a fixed
//! rate, paced by the clock, for a bounded time, while the projector that `paylog
//! serve` runs follows the log. Its lag (events appended but not yet in the views) is
//! sampled all along. Keeping up means the lag does not grow: the last third of the
//! run lags no more than the first third plus two of the projector's batches. The
//! appends are not fsynced (row 1 prices durability), so the log is not what limits
//! the offered rate; the rate actually appended is reported beside it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paylog_projections::{FOLLOW_BATCH, Projector, Views};
use paylog_store::{AppendRequest, Durability, EventStore, RocksStore, StoreOptions};

use super::Sizes;
use super::fill::{Generator, append_all};
use super::report::{Line, rate};

/// The offered load: the 25k orders/s.
const ORDERS_PER_SEC: f64 = 25_000.0;
/// How often the pacer appends what is due, and the lag is sampled.
const TICK: Duration = Duration::from_millis(10);
/// Appends in flight at most; beyond, the pacer waits for the oldest.
const IN_FLIGHT: usize = 4096;
/// How long the projector gets to drain the lag once the load stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

pub fn run(sizes: &Sizes, scratch: &Path) -> anyhow::Result<Line> {
    let dir = tempfile::tempdir_in(scratch)?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let options = StoreOptions {
            durability: Durability::Buffered,
            ..StoreOptions::default()
        };
        let rocks = Arc::new(RocksStore::open(dir.path().join("log"), options)?);
        let store: Arc<dyn EventStore> = rocks.clone();
        let (mut generator, creation) = Generator::new(2_000, 200)?;
        append_all(&store, creation).await?;
        // Decided before the clock starts, so the pacer only appends.
        let orders = (ORDERS_PER_SEC * sizes.live_secs).ceil() as usize;
        let mut placements: VecDeque<AppendRequest> = VecDeque::with_capacity(orders);
        for _ in 0..orders {
            let mut life = generator.next_order()?;
            anyhow::ensure!(!life.is_empty(), "the generator decided no placement");
            placements.push_back(life.swap_remove(0));
        }
        let offered_events: usize = placements
            .iter()
            .map(|r| r.streams.iter().map(|s| s.events.len()).sum::<usize>())
            .sum();

        let views = Views::open(dir.path().join("views"))?;
        let projector = Projector::spawn(Arc::clone(&store), views.clone());
        let lag = || store.head().saturating_sub(views.position());

        let started = Instant::now();
        let mut samples: Vec<(f64, u64)> = Vec::new();
        let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
        let mut sent = 0usize;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !placements.is_empty() {
            ticker.tick().await;
            let elapsed = started.elapsed().as_secs_f64();
            samples.push((elapsed, lag()));
            let due = ((elapsed * ORDERS_PER_SEC) as usize).min(orders);
            while sent < due {
                let Some(request) = placements.pop_front() else {
                    break;
                };
                let store = Arc::clone(&store);
                in_flight.push_back(tokio::spawn(async move { store.append(request).await }));
                sent += 1;
                while in_flight.len() >= IN_FLIGHT {
                    if let Some(oldest) = in_flight.pop_front() {
                        oldest.await??;
                    }
                }
            }
        }
        for append in in_flight {
            append.await??;
        }
        let load_secs = started.elapsed().as_secs_f64();
        let end_lag = lag();
        let drain_started = Instant::now();
        while lag() > 0 && drain_started.elapsed() < DRAIN_LIMIT {
            tokio::time::sleep(TICK).await;
        }
        let drained = lag() == 0;
        let drain_secs = drain_started.elapsed().as_secs_f64();
        let error = projector.last_error();
        projector.shutdown().await;
        rocks.close().await;
        if let Some(error) = error {
            anyhow::bail!("the projector failed: {error}");
        }

        let third = |k: usize| -> f64 {
            let n = samples.len();
            let part = &samples[n * k / 3..(n * (k + 1) / 3).max(n * k / 3 + 1).min(n)];
            part.iter().map(|s| s.1 as f64).sum::<f64>() / part.len().max(1) as f64
        };
        let (first, middle, last) = (third(0), third(1), third(2));
        let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
        let grew = last > first + 2.0 * FOLLOW_BATCH as f64;
        let achieved = sent as f64 / load_secs;
        let kept_rate = achieved >= 0.95 * ORDERS_PER_SEC;
        let mut line = Line::new(
            4,
            format!(
                "Live projector following {} orders/s for {} s",
                rate(ORDERS_PER_SEC),
                sizes.live_secs
            ),
        );
        line.paylog = format!(
            "lag {} → {} → {} events ({})",
            rate(first),
            rate(middle),
            rate(last),
            if grew { "grew" } else { "no growth" }
        );
        line.baseline = format!(
            "offered {} orders/s ({} events/s), appended {} orders/s",
            rate(ORDERS_PER_SEC),
            rate(offered_events as f64 / sizes.live_secs),
            rate(achieved)
        );
        line.target = "keeps up with 25k orders/s without lag growth".into();
        line.met = Some(!grew && kept_rate && drained);
        line.detail = format!(
            "mean lag over the first, middle and last third of the run (sampled every {} ms); \
             max {max} events; {end_lag} behind when the load stopped, {} in {drain_secs:.2} s",
            TICK.as_millis(),
            if drained {
                "caught up"
            } else {
                "NOT caught up"
            },
        );
        line.value("offered_orders_per_sec", ORDERS_PER_SEC)
            .value("appended_orders_per_sec", achieved)
            .value("lag_first_third", first)
            .value("lag_middle_third", middle)
            .value("lag_last_third", last)
            .value("lag_max", max as f64)
            .value("drain_secs", drain_secs);
        Ok(line)
    })
}
