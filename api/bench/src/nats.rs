//! Row 7: the log on a 3-node NATS JetStream cluster on loopback (R3, quorum-acked
//! atomic batches, `sync_interval: always`), beside the RocksDB log in the same run,
//! alternating round by round:
//!
//! - durable append, row 1's load (64 appenders × one-event commands) on each log;
//! - PlaceOrder over HTTP at 16 clients, the real server on each log.
//!
//! The ratio is NATS ÷ RocksDB per round, medians over rounds. On loopback the three
//! nodes share this machine's cores and disk, so this measures the protocol's cost
//! (Raft round trips, per-message headers, the leader's reads while planning), not a
//! network: BENCHMARKS.md says what three machines would change.
//!
//! The cluster is the one `--nats` names, else one started here with
//! `.ci/nats-cluster.sh` on free ports in a temp dir, stopped at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use paylog_store::{EventStore, NatsOptions, StoreLocation};

use super::append::{APPENDERS, append_load, template_event};
use super::http::{load, orders};
use super::load as loader;
use super::report::{Line, median, micros, rate};
use super::server::Servers;
use super::{NatsLog, Sizes};
use crate::Target;

/// The cluster script, in this repository.
const CLUSTER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/nats-cluster.sh");
/// Clients of the HTTP comparison.
const HTTP_CLIENTS: usize = 16;
/// Attempts (one per [`OPEN_PAUSE`]) at opening a log on a cluster still forming.
const OPEN_ATTEMPTS: u32 = 100;
const OPEN_PAUSE: Duration = Duration::from_millis(200);
/// Attempts at finding free ports for the script's cluster.
const PORT_ATTEMPTS: u32 = 50;

pub fn run(
    sizes: &Sizes,
    scratch: &Path,
    target: &dyn Target,
    nats: Option<&str>,
) -> anyhow::Result<Vec<Line>> {
    let dir = tempfile::tempdir_in(scratch)?;
    let cluster = match nats {
        Some(url) => Cluster::Given(url.to_owned()),
        None => Cluster::start(&dir.path().join("cluster"))?,
    };
    let result = measure(sizes, dir.path(), target, cluster.url());
    drop(cluster);
    result
}

fn measure(sizes: &Sizes, dir: &Path, target: &dyn Target, url: &str) -> anyhow::Result<Vec<Line>> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let stream = |what: &str, round: usize| NatsLog {
        url: url.to_owned(),
        stream: format!("BENCH_{what}{round}_{}", &run_id[..8]),
    };

    // Durable append.
    let template = template_event()?;
    let per_appender = sizes.append_events.div_ceil(APPENDERS).max(1);
    let mut appends = Vec::new();
    for round in 0..sizes.rounds {
        let runtime = super::runtime()?;
        let (nats_rate, nats_group) = runtime.block_on(async {
            let store = open(&stream("A", round)).await?;
            append_load(store, &template, per_appender).await
        })?;
        let rocks_dir = tempfile::tempdir_in(dir)?;
        let (rocks_rate, _) = runtime.block_on(async {
            let store =
                paylog_store::open(StoreLocation::Rocks(rocks_dir.path().join("log"))).await?;
            append_load(store, &template, per_appender).await
        })?;
        tracing::info!(round, nats_rate, rocks_rate, "row 7: durable append");
        appends.push((nats_rate, rocks_rate, nats_group));
    }
    let nats = median(&appends.iter().map(|r| r.0).collect::<Vec<_>>());
    let rocks = median(&appends.iter().map(|r| r.1).collect::<Vec<_>>());
    let ratio = median(&appends.iter().map(|r| r.0 / r.1).collect::<Vec<_>>());
    let group = median(&appends.iter().map(|r| r.2).collect::<Vec<_>>());
    let mut append = Line::new(
        7,
        format!("Durable append on NATS (3 nodes, R3, loopback), {APPENDERS} appenders × 1 event"),
    );
    append.paylog = format!("{} events/s", rate(nats));
    append.baseline = format!("RocksDB log (fsync): {} events/s", rate(rocks));
    append.ratio = Some(ratio);
    append.detail = format!(
        "mean group {group:.1} requests/batch; {} events/round",
        per_appender * APPENDERS
    );
    append
        .value("nats_events_per_sec", nats)
        .value("rocks_events_per_sec", rocks)
        .value("ratio", ratio)
        .value("mean_group_size", group);

    // PlaceOrder over HTTP: one server on each log, the same shop, alternating.
    let on_nats = Servers::start_on(&dir.join("http-nats"), Some(stream("H", 0)), 64, 64, target)?;
    let on_rocks = match Servers::start(&dir.join("http-rocks"), 64, 64, target) {
        Ok(servers) => servers,
        Err(e) => {
            on_nats.stop();
            return Err(e);
        }
    };
    let client_rt = super::runtime()?;
    let rounds = client_rt.block_on(async {
        let mut rounds = Vec::new();
        for _ in 0..sizes.rounds {
            let n = loader::run(
                &load(on_nats.paylog, HTTP_CLIENTS, sizes, false),
                orders(&on_nats),
            )
            .await?;
            let r = loader::run(
                &load(on_rocks.paylog, HTTP_CLIENTS, sizes, false),
                orders(&on_rocks),
            )
            .await?;
            rounds.push((n, r));
        }
        anyhow::Ok(rounds)
    });
    on_nats.stop();
    on_rocks.stop();
    let rounds = rounds?;
    let col = |f: &dyn Fn(&(loader::Outcome, loader::Outcome)) -> f64| {
        median(&rounds.iter().map(f).collect::<Vec<_>>())
    };
    let nats = col(&|r| r.0.per_sec());
    let rocks = col(&|r| r.1.per_sec());
    let ratio = col(&|r| r.0.per_sec() / r.1.per_sec());
    let (p50, p99) = (
        col(&|r| r.0.percentile_us(0.5)),
        col(&|r| r.0.percentile_us(0.99)),
    );
    let rocks_p99 = col(&|r| r.1.percentile_us(0.99));
    let failed: u64 = rounds.iter().map(|r| r.0.failed + r.1.failed).sum();
    let mut http = Line::new(
        7,
        format!("PlaceOrder over HTTP on NATS (3 nodes, R3, loopback), {HTTP_CLIENTS} clients"),
    );
    http.paylog = format!("{} orders/s", rate(nats));
    http.baseline = format!("RocksDB log: {} orders/s", rate(rocks));
    http.ratio = Some(ratio);
    http.detail = format!(
        "p50 {} · p99 {}; RocksDB p99 {}{}",
        micros(p50),
        micros(p99),
        micros(rocks_p99),
        if failed > 0 {
            format!("; {failed} failed requests")
        } else {
            String::new()
        }
    );
    http.value("nats_orders_per_sec", nats)
        .value("rocks_orders_per_sec", rocks)
        .value("ratio", ratio)
        .value("nats_p99_us", p99);
    Ok(vec![append, http])
}

/// Opens (creating) the log of `nats`, waiting (bounded) for a cluster still forming to
/// place an R3 stream.
pub(crate) async fn open(nats: &NatsLog) -> anyhow::Result<Arc<dyn EventStore>> {
    let options = NatsOptions::from_url(&nats.url)?.with_stream(&nats.stream);
    let mut last = None;
    for _ in 0..OPEN_ATTEMPTS {
        match paylog_store::open(StoreLocation::Nats(options.clone())).await {
            Ok(store) => return Ok(store),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(OPEN_PAUSE).await;
    }
    Err(anyhow::anyhow!(
        "no log on {} within the bound: {}",
        nats.url,
        last.map_or_else(String::new, |e| e.to_string())
    ))
}

/// The cluster of this row: given, or started here (and stopped when dropped).
enum Cluster {
    Given(String),
    Started {
        dir: PathBuf,
        base: u16,
        url: String,
    },
}

impl Cluster {
    fn start(dir: &Path) -> anyhow::Result<Cluster> {
        let base = free_base_port()?;
        // The nodes the script starts in the background inherit its output: a pipe
        // would never reach EOF while they run, so the output goes to a file.
        std::fs::create_dir_all(dir)?;
        let log = dir.join("script.log");
        let status = Command::new("bash")
            .arg(CLUSTER_SCRIPT)
            .arg("start")
            .arg(dir)
            .env("PAYLOG_NATS_PORT", base.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(dir.join("script.err"))?)
            .status()?;
        if !status.success() {
            let err = std::fs::read_to_string(dir.join("script.err")).unwrap_or_default();
            anyhow::bail!(".ci/nats-cluster.sh start failed: {}", err.trim());
        }
        let url = format!(
            "nats://127.0.0.1:{base},127.0.0.1:{},127.0.0.1:{}",
            base + 1,
            base + 2
        );
        Ok(Cluster::Started {
            dir: dir.to_path_buf(),
            base,
            url,
        })
    }

    fn url(&self) -> &str {
        match self {
            Cluster::Given(url) | Cluster::Started { url, .. } => url,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Cluster::Started { dir, base, .. } = self {
            let _ = Command::new("bash")
                .arg(CLUSTER_SCRIPT)
                .arg("stop")
                .arg(&*dir)
                .env("PAYLOG_NATS_PORT", base.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A client port `p` such that `p..p+3`, `p+2000..p+2003` and `p+4000..p+4003` (the
/// script's client, route and monitor ports) are all free on 127.0.0.1 right now.
fn free_base_port() -> anyhow::Result<u16> {
    for _ in 0..PORT_ATTEMPTS {
        let candidate = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if candidate > 60_000 {
            continue;
        }
        let all_free = [0u16, 2000, 4000].iter().all(|offset| {
            (0..3)
                .all(|i| std::net::TcpListener::bind(("127.0.0.1", candidate + offset + i)).is_ok())
        });
        if all_free {
            return Ok(candidate);
        }
    }
    anyhow::bail!("no free ports for a NATS cluster")
}
