//! The replicated backend: [`NatsStore`], the event log on a NATS JetStream cluster.
//!
//! - `mod.rs` (this file): options, opening (writable and read-only), the [`EventStore`] impl;
//! - `writer.rs`: the writer task, group commit into ADR-50 atomic batches, retries;
//! - `read.rs`: reads through the stream leader, position and version searches;
//! - `subscribe.rs`: catch-up-then-follow subscriptions;
//! - `codec.rs`: subjects, headers, message bodies;
//! - `import.rs`: [`NatsImporter`], a whole log as recorded into an empty stream (`paylog migrate`);
//! - `api.rs`: the JetStream API calls, spoken over core NATS requests.
//!
//! # Layout (one JetStream stream, layout version 1)
//!
//! | message | subject | headers | body |
//! |---|---|---|---|
//! | event | `<prefix>.e.<stream token>` | `Paylog-Position` (global position), `Paylog-Version` (stream version) | tag `0x01` ++ postcard(`event_type`, `schema_version`, `recorded_secs`, `recorded_nanos`, `command_id`, `correlation_id`, `causation_id`, `payload`) |
//! | command marker | `<prefix>.c.<command id, 32 hex digits>` | `Paylog-Position` (the command's last position) | tag `0x01` ++ postcard(`first_position`, `last_position`, `recorded_secs`, `recorded_nanos`, [(stream id, version)]) |
//!
//! The stream token is the stream id with every byte outside `[A-Za-z0-9_-]` written
//! `~XX` (`~` included): subject tokens cannot hold `.`, `*`, `>` or whitespace, and the
//! escape keeps the mapping injective. One append (one command) is its events, stream by
//! stream in request order, followed by its marker, all in one atomic batch; a group
//! commit puts several commands in one batch. Stream config: `subjects: [<prefix>.>]`,
//! file storage, `num_replicas` (3), `allow_atomic: true`, `deny_delete: true`,
//! `deny_purge: true`, no limits (`max_msgs`, `max_bytes`, `max_age` unset: the log is
//! never trimmed), `allow_direct: false` (reads go to the leader).
//!
//! # Why positions live in a header
//!
//! The marker is what makes idempotency outlive JetStream's duplicate window: it is
//! published with `Nats-Expected-Last-Subject-Sequence: 0`, so the server refuses a batch
//! whose command already has one, forever. But markers share the stream's sequence with
//! the events, so the JetStream sequence is not the event position. Each event carries
//! its position in a header instead, and positions stay gapless because every batch's
//! first message carries `Nats-Expected-Last-Sequence` = the sequence the writer planned
//! on: the batch lands right after that tip or not at all. The last message of the
//! stream is always a marker, so the tip (last sequence, last position, last
//! `recorded_at`) is one read away. A layout without markers (command ids in event
//! subjects, checked with wildcard subject checks) would keep sequence = position, but
//! needs one check per stream plus one for the command on as few as one message, and
//! makes every head check a wildcard scan over all the stream's commands.
//!
//! Every stream's first message in a batch also carries
//! `Nats-Expected-Last-Subject-Sequence` = the last sequence of its subject as the writer
//! read it. With the whole-stream check these are redundant when the reads were exact,
//! and make the commit strict when they were not (a read answered by a new leader that
//! had not yet applied the tip): every version and command check is re-done by the
//! server, atomically, under the stream's lock. A mismatch of either refuses the batch
//! whole; the writer reads the tip again and plans again (bounded, with backoff), so
//! several `paylog serve` processes can append to the same stream: correctness never
//! relies on a single writer, only throughput benefits from one writer per process.
//!
//! # Durability
//!
//! The server answers the batch's commit only once the stream's Raft group has the batch
//! from a quorum (2 of 3 replicas) and the leader applied it: the same meaning as the
//! RocksDB backend's WAL fsync, with the nuance that JetStream flushes to disk every
//! `sync_interval` (2 minutes by default) — a quorum-acked batch survives any single
//! machine dying, and only a simultaneous power loss of two replicas inside that
//! interval can lose it (`jetstream { sync_interval: always }` closes that too, at a
//! cost). Reads and subscriptions stop at the tip this process has seen acknowledged
//! (its own commits, or the leader's last sequence as the follower task polls it).
//!
//! # What is not guaranteed
//!
//! - A request of more than [`NatsOptions::max_batch_messages`] - 1 events (the server's
//!   batch limit, 1000 by default) is refused with [`StoreError::InvalidRequest`], as is
//!   an event bigger than the server's `max_payload`.
//! - `head()` of one process lags another process's commits by up to
//!   [`NatsOptions::tip_poll_interval`]; appends are never affected (the server checks).
//! - An append whose commit went unanswered is retried by the writer; if every attempt
//!   fails the caller gets [`StoreError::Backend`] and the outcome is unknown (retrying
//!   with the same command id is safe).

//!
//! # Running it
//!
//! `.ci/setup.sh` installs a pinned `nats-server` (≥ 2.12, for atomic batches) under
//! `$HOME/.cache/paylog-tools/`; `.ci/nats-cluster.sh start|stop` runs a 3-node
//! cluster on 127.0.0.1. The store's tests start their own cluster on free ports with
//! the binary named by `PAYLOG_NATS_SERVER`, else the one the set-up script installed,
//! and fail with a message naming `.ci/setup.sh` when there is none.

mod api;
mod codec;
mod import;
mod read;
mod subscribe;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::json;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::EventStore;
use crate::error::StoreError;
use crate::stats::StoreStats;
use crate::types::{AppendOutcome, AppendRequest, RecordedEvent};
use api::{Api, codes};
use codec::Subjects;
use writer::{Msg, Writer, publish_tip};

pub use import::NatsImporter;

/// The server's default ceiling on messages per atomic batch (`jetstream.limits.batch.max_msgs`).
pub const SERVER_MAX_BATCH_MESSAGES: usize = 1000;

/// The JetStream stream of the log unless told otherwise.
pub const DEFAULT_STREAM: &str = "PAYLOG";

/// How to reach and lay out the log on a JetStream cluster.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// Seed servers, e.g. `["127.0.0.1:4222", "127.0.0.1:4223"]` (with or without `nats://`).
    pub servers: Vec<String>,
    /// The JetStream stream holding the log.
    pub stream: String,
    /// First subject token of every message of the log.
    pub subject_prefix: String,
    /// Replicas of the stream when this open creates it (an existing stream keeps its own).
    pub replicas: usize,
    /// Longest wait for any one request to the cluster (API call, batch commit).
    pub request_timeout: Duration,
    /// Longest wait for the first connection.
    pub connect_timeout: Duration,
    /// Most append requests in one group-commit batch.
    pub max_batch_requests: usize,
    /// Most messages (events plus one marker per request) in one batch; at most the
    /// server's `max_msgs` batch limit.
    pub max_batch_messages: usize,
    /// Capacity of the writer's queue (back-pressure when full).
    pub queue_capacity: usize,
    /// Page size of `subscribe`'s catch-up reads.
    pub read_page: usize,
    /// How often the follower asks the leader for the tip, to see other processes' commits.
    pub tip_poll_interval: Duration,
}

impl NatsOptions {
    /// Defaults for the given seed servers.
    pub fn new(servers: Vec<String>) -> Self {
        NatsOptions {
            servers,
            stream: DEFAULT_STREAM.into(),
            subject_prefix: "paylog".into(),
            replicas: 3,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            max_batch_requests: 256,
            max_batch_messages: SERVER_MAX_BATCH_MESSAGES,
            queue_capacity: 4096,
            read_page: 512,
            tip_poll_interval: Duration::from_millis(50),
        }
    }

    /// The log on stream `name`, with subjects of its own: JetStream refuses two streams
    /// whose subjects overlap, so the default stream `PAYLOG` keeps `paylog.>` and any
    /// other stream NAME uses `paylog_NAME.>` (several shops, or partitions of one, on
    /// one cluster).
    pub fn with_stream(mut self, name: &str) -> Self {
        self.subject_prefix = if name == DEFAULT_STREAM {
            "paylog".into()
        } else {
            format!("paylog_{name}")
        };
        self.stream = name.to_owned();
        self
    }

    /// Options from a `nats://host:port,host:port` URL.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("nats://")
            .ok_or_else(|| StoreError::InvalidRequest(format!("{url:?} is not a nats:// URL")))?;
        let servers: Vec<String> = rest
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("nats://{}", s.trim_start_matches("nats://")))
            .collect();
        if servers.is_empty() {
            return Err(StoreError::InvalidRequest(format!(
                "{url:?} names no server"
            )));
        }
        Ok(NatsOptions::new(servers))
    }
}

/// The position and JetStream sequence of the last durable event's command marker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tip {
    pub position: u64,
    pub seq: u64,
}

/// What the store, its writer, its follower and its readers share.
pub(crate) struct Shared {
    api: Api,
    subjects: Subjects,
    tip: watch::Receiver<Tip>,
    stats: Counters,
    read_page: usize,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    events: AtomicU64,
    duplicates: AtomicU64,
    conflicts: AtomicU64,
}

/// The event log on a NATS JetStream stream. Open it once per process and share it
/// (`Arc`); every method takes `&self`. Several processes may open the same stream.
pub struct NatsStore {
    shared: Arc<Shared>,
    /// `None` for a read-only store.
    tx: Option<mpsc::Sender<Msg>>,
    /// The tip's sender, to raise the tip when a read finds another process's commit
    /// (`None` for a read-only store, whose head never moves). Weak: the writer and the
    /// follower own it, and its last drop is what ends the subscriptions.
    tip_tx: Option<std::sync::Weak<watch::Sender<Tip>>>,
    closed: AtomicBool,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    max_batch_messages: usize,
    max_payload_bytes: usize,
}

async fn connect(options: &NatsOptions) -> Result<async_nats::Client, StoreError> {
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(options.connect_timeout)
        .request_timeout(Some(options.request_timeout))
        .connect(options.servers.clone());
    match tokio::time::timeout(options.connect_timeout, connect).await {
        Err(_) => Err(StoreError::backend(
            "nats",
            format!(
                "no connection to {:?} within {:?}",
                options.servers, options.connect_timeout
            ),
        )),
        Ok(Err(e)) => Err(StoreError::backend("nats", e)),
        Ok(Ok(client)) => Ok(client),
    }
}

/// The stream's config as this layout needs it.
fn stream_config(options: &NatsOptions, subjects: &Subjects) -> serde_json::Value {
    json!({
        "name": options.stream,
        "subjects": [subjects.all()],
        "retention": "limits",
        "storage": "file",
        "num_replicas": options.replicas,
        "discard": "old",
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 0,
        "max_msgs_per_subject": -1,
        "deny_delete": true,
        "deny_purge": true,
        "allow_rollup_hdrs": false,
        "allow_direct": false,
        "allow_atomic": true,
        // Idempotency is the markers' job; the window only needs to exist.
        "duplicate_window": 1_000_000_000u64,
    })
}

/// Looks (one per [`OPEN_RETRY_PAUSE`]) for a stream another process is creating.
const OPEN_RETRIES: u32 = 20;
const OPEN_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The stream's info, creating the stream if it does not exist. Several processes may
/// start at once: when a create fails, the stream another one just created is used.
async fn open_stream(
    api: &Api,
    options: &NatsOptions,
    subjects: &Subjects,
) -> Result<api::StreamInfo, StoreError> {
    match api.stream_info().await {
        Ok(info) => Ok(info),
        Err(e) if e.api_code() == Some(codes::STREAM_NOT_FOUND) => {
            let create = match api.create_stream(stream_config(options, subjects)).await {
                Ok(info) => return Ok(info),
                Err(create) => create,
            };
            // Another process's create may still be being placed: look again, bounded.
            for _ in 0..OPEN_RETRIES {
                if let Ok(info) = api.stream_info().await {
                    return Ok(info);
                }
                tokio::time::sleep(OPEN_RETRY_PAUSE).await;
            }
            Err(create.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses a stream whose config breaks the layout's assumptions.
fn check_config(config: &serde_json::Value, subjects: &Subjects) -> Result<(), StoreError> {
    let flag = |name: &str| config.get(name).and_then(serde_json::Value::as_bool) == Some(true);
    let wrong = |what: &str| {
        Err(StoreError::Corrupt(format!(
            "the JetStream stream is not laid out for paylog: {what}"
        )))
    };
    if !flag("allow_atomic") {
        return wrong("allow_atomic is off");
    }
    if !flag("deny_delete") || !flag("deny_purge") {
        return wrong("messages may be deleted or purged");
    }
    let all = subjects.all();
    let has_subject = config
        .get("subjects")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(all.as_str())));
    if !has_subject {
        return wrong(&format!("it does not hold {all}"));
    }
    Ok(())
}

impl NatsStore {
    /// Connects, creates the stream if it does not exist yet, and starts the writer and
    /// the follower. Several processes may open the same stream at once.
    pub async fn open(options: NatsOptions) -> Result<Self, StoreError> {
        let client = connect(&options).await?;
        let subjects = Subjects::new(&options.subject_prefix);
        let api = Api {
            client: client.clone(),
            stream: options.stream.clone(),
            timeout: options.request_timeout,
        };
        let info = open_stream(&api, &options, &subjects).await?;
        check_config(&info.config, &subjects)?;
        let max_payload_bytes = client.server_info().max_payload;
        // At least one event and its marker.
        let max_batch_messages = options.max_batch_messages.max(2);

        let (tip_tx, tip_rx) = watch::channel(Tip::default());
        let shared = Arc::new(Shared {
            api,
            subjects,
            tip: tip_rx,
            stats: Counters::default(),
            read_page: options.read_page.max(1),
        });
        let tip = writer::durable_tip(&shared).await?;
        publish_tip(&tip_tx, tip);
        let tip_tx = Arc::new(tip_tx);

        let (shutdown, shutdown_rx) = watch::channel(false);
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let weak_tip_tx = Arc::downgrade(&tip_tx);
        let writer = Writer::new(
            Arc::clone(&shared),
            rx,
            Arc::clone(&tip_tx),
            shutdown_rx.clone(),
            options.max_batch_requests.max(1),
            max_batch_messages,
        );
        let writer = tokio::spawn(writer.run());
        let follower = tokio::spawn(follow(
            Arc::downgrade(&shared),
            tip_tx,
            shutdown_rx,
            options.tip_poll_interval,
        ));
        tracing::info!(stream = %options.stream, head = tip.position, "nats event store opened");
        Ok(NatsStore {
            shared,
            tx: Some(tx),
            tip_tx: Some(weak_tip_tx),
            closed: AtomicBool::new(false),
            shutdown,
            tasks: Mutex::new(vec![writer, follower]),
            max_batch_messages,
            max_payload_bytes,
        })
    }

    /// Opens an existing stream for reading only (audits, exports): a snapshot of the
    /// log as of opening. `append` answers [`StoreError::Closed`], the head never moves,
    /// and a subscription ends with `Closed` once caught up. Fails if there is no stream.
    pub async fn open_read_only(options: NatsOptions) -> Result<Self, StoreError> {
        let client = connect(&options).await?;
        let subjects = Subjects::new(&options.subject_prefix);
        let api = Api {
            client: client.clone(),
            stream: options.stream.clone(),
            timeout: options.request_timeout,
        };
        let info = api.stream_info().await?;
        check_config(&info.config, &subjects)?;
        let (tip_tx, tip_rx) = watch::channel(Tip::default());
        let shared = Arc::new(Shared {
            api,
            subjects,
            tip: tip_rx,
            stats: Counters::default(),
            read_page: options.read_page.max(1),
        });
        let tip = writer::durable_tip(&shared).await?;
        publish_tip(&tip_tx, tip);
        // The sender goes now: the head of a read-only view never moves.
        drop(tip_tx);
        let (shutdown, _) = watch::channel(true);
        Ok(NatsStore {
            shared,
            tx: None,
            tip_tx: None,
            closed: AtomicBool::new(true),
            shutdown,
            tasks: Mutex::new(Vec::new()),
            max_batch_messages: options.max_batch_messages.max(2),
            max_payload_bytes: client.server_info().max_payload,
        })
    }

    /// Stops accepting appends, lets the writer finish the round in hand (appends still
    /// queued get [`StoreError::Closed`]) and waits for the writer and follower to end.
    /// Reads keep working until the store is dropped. Idempotent.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().await);
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "nats store: a background task failed");
            }
        }
    }

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        let c = &self.shared.stats;
        StoreStats {
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
        }
    }

    /// The backend's own limits, beyond [`AppendRequest::validate`].
    fn check_limits(&self, request: &AppendRequest) -> Result<(), StoreError> {
        let messages = request.message_count();
        if messages > self.max_batch_messages {
            return Err(StoreError::InvalidRequest(format!(
                "{} events in one request; this NATS store commits at most {} per atomic batch",
                messages - 1,
                self.max_batch_messages - 1
            )));
        }
        // Leave room for the envelope around the payload (type, ids, timestamps).
        const ENVELOPE_BYTES: usize = 1024;
        for stream in &request.streams {
            for event in &stream.events {
                if event.payload.len() + event.event_type.len() + ENVELOPE_BYTES
                    > self.max_payload_bytes
                {
                    return Err(StoreError::InvalidRequest(format!(
                        "an event of {} bytes for stream {:?} exceeds the server's max_payload of {} bytes",
                        event.payload.len(),
                        stream.stream_id,
                        self.max_payload_bytes
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Follows the tip as the stream's leader has it, so this process sees (and its
/// subscriptions deliver) what other processes commit. Ends on shutdown or once the
/// store is dropped; dropping its sender is what ends the subscriptions.
async fn follow(
    shared: std::sync::Weak<Shared>,
    tip_tx: Arc<watch::Sender<Tip>>,
    mut shutdown: watch::Receiver<bool>,
    interval: Duration,
) {
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(shared) = shared.upgrade() else {
            break;
        };
        match writer::durable_tip(&shared).await {
            Ok(tip) => publish_tip(&tip_tx, tip),
            Err(e) => tracing::debug!(error = %e, "nats store: tip poll failed"),
        }
    }
}

impl Drop for NatsStore {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        // The writer and follower end on their own once they see the signal.
        self.shutdown.send_replace(true);
    }
}

impl std::fmt::Debug for NatsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsStore")
            .field("stream", &self.shared.api.stream)
            .field("head", &self.shared.tip.borrow().position)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

#[async_trait]
impl EventStore for NatsStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        request.validate()?;
        self.check_limits(&request)?;
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        // Dropping this future from here on does not cancel the append: it is queued.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let tip = *self.shared.tip.borrow();
        let events = read::read_stream(&self.shared, tip, stream_id, from_version, limit).await?;
        if events.len() >= limit {
            return Ok(events);
        }
        // The read stopped at this process's tip; another process may have appended to
        // this stream since (the follower sees it only at its next poll). A loader that
        // decides on a stream must see its last event — a product created or restocked
        // by another server — so the leader is asked for the stream's last message, and
        // the tip raised and the read repeated when it is past the tip.
        let Some(tip_tx) = self.tip_tx.as_ref().and_then(std::sync::Weak::upgrade) else {
            return Ok(events);
        };
        let subject = self.shared.subjects.event(stream_id);
        let Some(last) = self.shared.api.get_last_for(&subject).await? else {
            return Ok(events);
        };
        if last.seq <= tip.seq {
            return Ok(events);
        }
        publish_tip(&tip_tx, writer::durable_tip(&self.shared).await?);
        let tip = *self.shared.tip.borrow();
        read::read_stream(&self.shared, tip, stream_id, from_version, limit).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let tip = *self.shared.tip.borrow();
        Ok(read::read_all(&self.shared, tip, after, limit, None)
            .await?
            .0)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        read::stream_version(&self.shared, stream_id).await
    }

    async fn committed(&self, command_id: uuid::Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        read::committed(&self.shared, command_id).await
    }

    fn head(&self) -> u64 {
        self.shared.tip.borrow().position
    }

    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        subscribe::subscribe(&self.shared, after)
    }

    async fn close(&self) {
        NatsStore::close(self).await
    }

    fn stats(&self) -> StoreStats {
        NatsStore::stats(self)
    }

    fn is_writable(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}
