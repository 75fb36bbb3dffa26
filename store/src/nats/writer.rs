//! The append path: one writer task per process, group commit into one ADR-50 atomic
//! batch per round, optimistic concurrency against every other writer of the cluster.
//!
//! A round: take the queued requests, read the log's tip (JetStream last sequence `L`
//! and the position it holds), check each request against the leader's state (command
//! marker present? stream heads at the expected versions?) plus the changes staged
//! earlier in the same round, assign positions and versions, and publish everything as
//! one batch whose first message expects the stream's last sequence to be exactly `L`.
//! Every stream's first message in the batch also expects its subject's last sequence,
//! and every command marker expects its subject to be empty, so the server re-checks
//! everything atomically at commit: if any other process appended in between, the batch
//! is refused whole and the round is planned again from a fresh tip.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};

use super::api::{CallError, OutMsg, codes};
use super::codec::{
    self, HDR_EXPECTED_LAST_SEQUENCE, HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, HDR_POSITION,
    HDR_VERSION, Kind, NewEventBody,
};
use super::{Shared, Tip};
use crate::error::StoreError;
use crate::types::{AppendOutcome, AppendRequest, ExpectedVersion, StreamHead};

/// Most attempts at committing one round (refreshing the tip and planning again after a
/// concurrent append, a leader election or an unanswered commit) before its callers get
/// a [`StoreError::Backend`]. With the backoff below this spans well over the few
/// seconds a stream-leader election takes.
pub(super) const COMMIT_ATTEMPTS: u32 = 60;
/// Longest time one round may spend on attempts, whatever their count: past it the
/// round's callers get [`StoreError::Backend`] (outcome unknown, retry with the same id).
pub(super) const ROUND_DEADLINE: Duration = Duration::from_secs(30);
/// First backoff between attempts; doubles per attempt up to [`BACKOFF_MAX_MS`].
const BACKOFF_BASE_MS: u64 = 2;
/// Longest backoff between two attempts.
const BACKOFF_MAX_MS: u64 = 500;

pub(super) type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

pub(super) struct Msg {
    pub request: AppendRequest,
    pub reply: Reply,
}

/// A request waiting for its round to commit.
struct Pending {
    request: AppendRequest,
    reply: Reply,
    /// A commit carrying this request went unanswered: if its marker is found later, the
    /// commit was ours and the caller gets it as a first commit, not a duplicate.
    sent: bool,
}

/// The tip as the writer last knew it, with what planning needs beyond [`Tip`].
#[derive(Debug, Clone, Copy)]
struct WriterTip {
    tip: Tip,
    recorded_at: DateTime<Utc>,
}

/// What planning decided for one pending request.
enum Decision {
    Commit(AppendOutcome),
    Duplicate(AppendOutcome),
    Conflict(StoreError),
    /// Another request of this round carries the same command id: decide it after that
    /// one committed (it will then be a duplicate).
    Defer,
}

pub(super) struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Msg>,
    pub tip_tx: Arc<watch::Sender<Tip>>,
    pub shutdown: watch::Receiver<bool>,
    pub max_batch_requests: usize,
    pub max_batch_messages: usize,
    cached: Option<WriterTip>,
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Msg>,
        tip_tx: Arc<watch::Sender<Tip>>,
        shutdown: watch::Receiver<bool>,
        max_batch_requests: usize,
        max_batch_messages: usize,
    ) -> Self {
        Writer {
            shared,
            rx,
            tip_tx,
            shutdown,
            max_batch_requests,
            max_batch_messages,
            cached: None,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            let first = tokio::select! {
                msg = self.rx.recv() => msg,
                _ = self.shutdown.wait_for(|stop| *stop) => None,
            };
            let Some(first) = first else { break };
            let mut messages = first.request.message_count();
            let mut round = vec![pending(first)];
            while round.len() < self.max_batch_requests {
                let Ok(next) = self.rx.try_recv() else { break };
                messages += next.request.message_count();
                round.push(pending(next));
                if messages >= self.max_batch_messages {
                    break;
                }
            }
            self.commit_round(round).await;
            if *self.shutdown.borrow() {
                break;
            }
        }
        // Whatever is still queued was never sent: its callers may retry elsewhere.
        self.rx.close();
        while let Ok(msg) = self.rx.try_recv() {
            let _ = msg.reply.send(Err(StoreError::Closed));
        }
    }

    /// Commits a round, retrying (bounded) until every request is answered.
    async fn commit_round(&mut self, mut pending: Vec<Pending>) {
        let mut last_error: Option<CallError> = None;
        let started = tokio::time::Instant::now();
        for attempt in 0..COMMIT_ATTEMPTS {
            if pending.is_empty() {
                return;
            }
            if started.elapsed() > ROUND_DEADLINE {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let tip = match self.tip().await {
                Ok(tip) => tip,
                Err(TipError::Call(e)) if retryable(&e) => {
                    last_error = Some(e);
                    continue;
                }
                Err(TipError::Call(e)) => return fail_all(pending, e.into()),
                Err(TipError::Store(e)) => return fail_all(pending, e),
            };
            let (decisions, messages, last_position, recorded_at) =
                match self.plan(tip, &pending).await {
                    Ok(planned) => planned,
                    Err(PlanError::Call(e)) if retryable(&e) => {
                        last_error = Some(e);
                        continue;
                    }
                    Err(PlanError::Call(e)) => return fail_all(pending, e.into()),
                    Err(PlanError::Store(e)) => return fail_all(pending, e),
                };
            // A conflict or duplicate decided on another process's commit must be visible
            // to this process's reads before its caller hears of it: the caller reloads
            // the stream (bounded by the published tip) and decides again, and would
            // otherwise see the same stale state until the follower's next poll.
            let published = self.tip_tx.borrow().position;
            let behind = decisions.iter().any(|d| match d {
                Decision::Conflict(_) => true,
                Decision::Duplicate(outcome) => outcome.last_position > published,
                _ => false,
            });
            if behind && let Ok(fresh) = read_tip(&self.shared).await {
                publish_tip(&self.tip_tx, fresh.tip);
                // The next round plans on it too, instead of failing on the stale one.
                self.cached = Some(fresh);
            }
            // Duplicates and conflicts are final whatever happens to the batch.
            let mut waiting = Vec::new();
            let mut committing = Vec::new();
            let stats = &self.shared.stats;
            for (p, decision) in pending.into_iter().zip(decisions) {
                match decision {
                    Decision::Duplicate(outcome) => {
                        if p.sent {
                            // Our own unanswered commit did land.
                            stats.requests.fetch_add(1, Ordering::Relaxed);
                            let _ = p.reply.send(Ok(outcome));
                        } else {
                            stats.duplicates.fetch_add(1, Ordering::Relaxed);
                            let _ = p.reply.send(Ok(AppendOutcome {
                                duplicate: true,
                                ..outcome
                            }));
                        }
                    }
                    Decision::Conflict(e) => {
                        stats.conflicts.fetch_add(1, Ordering::Relaxed);
                        let _ = p.reply.send(Err(e));
                    }
                    Decision::Defer => waiting.push(p),
                    Decision::Commit(outcome) => committing.push((p, outcome)),
                }
            }
            if committing.is_empty() {
                pending = waiting;
                continue;
            }
            let message_count = messages.len() as u64;
            match self.shared.api.publish_batch(messages).await {
                Ok(ack) if ack.seq == tip.tip.seq + message_count => {
                    let new_tip = Tip {
                        position: last_position,
                        seq: ack.seq,
                    };
                    self.cached = Some(WriterTip {
                        tip: new_tip,
                        recorded_at,
                    });
                    publish_tip(&self.tip_tx, new_tip);
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    for (p, outcome) in committing {
                        stats.requests.fetch_add(1, Ordering::Relaxed);
                        stats.events.fetch_add(
                            outcome.last_position - outcome.first_position + 1,
                            Ordering::Relaxed,
                        );
                        let _ = p.reply.send(Ok(outcome));
                    }
                    pending = waiting;
                }
                Ok(ack) => {
                    // The expected last sequence makes this impossible; refuse to go on
                    // guessing what the log holds.
                    self.cached = None;
                    let error = StoreError::Corrupt(format!(
                        "a batch of {message_count} messages planned after sequence {} was \
                         acknowledged at sequence {}",
                        tip.tip.seq, ack.seq
                    ));
                    tracing::error!(%error, "nats store");
                    let rest = committing.into_iter().map(|(p, _)| p).chain(waiting);
                    return fail_all(rest.collect(), error);
                }
                Err(error) => {
                    self.cached = None;
                    let unknown = matches!(error, CallError::NoAnswer(_));
                    if !unknown && !retryable(&error) {
                        let rest = committing.into_iter().map(|(p, _)| p).chain(waiting);
                        return fail_all(rest.collect(), error.into());
                    }
                    tracing::debug!(%error, attempt, "nats store: batch not committed, planning again");
                    pending = committing
                        .into_iter()
                        .map(|(mut p, _)| {
                            p.sent |= unknown;
                            p
                        })
                        .chain(waiting)
                        .collect();
                    last_error = Some(error);
                }
            }
        }
        if !pending.is_empty() {
            let error = match last_error {
                Some(e) => StoreError::backend(
                    "nats",
                    format!("gave up after {:?}, last: {e}", started.elapsed()),
                ),
                None => StoreError::backend("nats", "gave up"),
            };
            fail_all(pending, error);
        }
    }

    /// The cached tip, or a fresh one from the stream's leader.
    async fn tip(&mut self) -> Result<WriterTip, TipError> {
        if let Some(tip) = self.cached {
            return Ok(tip);
        }
        let tip = read_tip(&self.shared).await?;
        publish_tip(&self.tip_tx, tip.tip);
        self.cached = Some(tip);
        Ok(tip)
    }

    /// Decides every pending request against the log as of `tip` plus the round's staged
    /// changes, and builds the batch of the accepted ones.
    async fn plan(
        &self,
        tip: WriterTip,
        pending: &[Pending],
    ) -> Result<(Vec<Decision>, Vec<OutMsg>, u64, DateTime<Utc>), PlanError> {
        let api = &self.shared.api;
        let subjects = &self.shared.subjects;
        // One instant per round, never before the tip's: the log's time never goes back.
        let recorded_at = Utc::now().max(tip.recorded_at);
        let mut decisions = Vec::with_capacity(pending.len());
        let mut messages: Vec<OutMsg> = Vec::new();
        let mut next_position = tip.tip.position + 1;
        // Stream heads (version) as staged by this round; streams already in the batch
        // carry their subject check on their first message only.
        let mut staged: HashMap<String, u64> = HashMap::new();
        let mut commands: HashSet<uuid::Uuid> = HashSet::new();

        'requests: for p in pending {
            let request = &p.request;
            if commands.contains(&request.command_id) {
                decisions.push(Decision::Defer);
                continue;
            }
            if let Some(marker) = api
                .get_last_for(&subjects.marker(request.command_id))
                .await?
            {
                decisions.push(Decision::Duplicate(codec::decode_marker(&marker.data)?));
                continue;
            }
            // Current version and last JetStream sequence of every stream of the request.
            let mut heads = Vec::with_capacity(request.streams.len());
            for stream in &request.streams {
                let (version, subject_seq) = match staged.get(&stream.stream_id) {
                    Some(&version) => (version, None),
                    None => {
                        let subject = subjects.event(&stream.stream_id);
                        match api.get_last_for(&subject).await? {
                            Some(last) => (last.u64_header(HDR_VERSION)?, Some(last.seq)),
                            None => (0, Some(0)),
                        }
                    }
                };
                let ok = match stream.expected {
                    ExpectedVersion::Any => true,
                    ExpectedVersion::NoStream => version == 0,
                    ExpectedVersion::Exact(v) => version == v,
                };
                if !ok {
                    decisions.push(Decision::Conflict(StoreError::Conflict {
                        stream_id: stream.stream_id.clone(),
                        expected: stream.expected,
                        actual: version,
                    }));
                    continue 'requests;
                }
                heads.push((version, subject_seq));
            }
            if messages.len() + request.message_count() > self.max_batch_messages
                && !messages.is_empty()
            {
                // The batch is full; this request goes in the next one.
                decisions.push(Decision::Defer);
                continue;
            }

            let first_position = next_position;
            let mut stream_heads = Vec::with_capacity(request.streams.len());
            for (stream, (version, subject_seq)) in request.streams.iter().zip(heads) {
                let subject = subjects.event(&stream.stream_id);
                let mut version = version;
                for (i, event) in stream.events.iter().enumerate() {
                    version += 1;
                    let mut headers = HeaderMap::new();
                    headers.insert(HDR_POSITION, next_position.to_string().as_str());
                    headers.insert(HDR_VERSION, version.to_string().as_str());
                    if let (0, Some(seq)) = (i, subject_seq) {
                        headers
                            .insert(HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, seq.to_string().as_str());
                    }
                    let body = codec::encode_event(&NewEventBody {
                        event_type: &event.event_type,
                        schema_version: event.schema_version,
                        payload: &event.payload,
                        recorded_at,
                        command_id: request.command_id,
                        correlation_id: request.correlation_id,
                        causation_id: request.causation_id,
                    })?;
                    messages.push(OutMsg {
                        subject: subject.clone(),
                        headers,
                        payload: Bytes::from(body),
                    });
                    next_position += 1;
                }
                staged.insert(stream.stream_id.clone(), version);
                stream_heads.push(StreamHead {
                    stream_id: stream.stream_id.clone(),
                    version,
                });
            }
            let outcome = AppendOutcome {
                first_position,
                last_position: next_position - 1,
                recorded_at,
                streams: stream_heads,
                duplicate: false,
            };
            let mut headers = HeaderMap::new();
            headers.insert(HDR_POSITION, outcome.last_position.to_string().as_str());
            // The command's marker subject must be empty: a command commits once, ever.
            headers.insert(HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
            messages.push(OutMsg {
                subject: subjects.marker(request.command_id),
                headers,
                payload: Bytes::from(codec::encode_marker(&outcome)?),
            });
            commands.insert(request.command_id);
            decisions.push(Decision::Commit(outcome));
        }
        if let Some(first) = messages.first_mut() {
            // The whole batch lands right after the tip it was planned on, or not at all:
            // this is what keeps positions (in headers) gapless and equal to the count of
            // events before them.
            first
                .headers
                .insert(HDR_EXPECTED_LAST_SEQUENCE, tip.tip.seq.to_string().as_str());
        }
        Ok((decisions, messages, next_position - 1, recorded_at))
    }
}

fn pending(msg: Msg) -> Pending {
    Pending {
        request: msg.request,
        reply: msg.reply,
        sent: false,
    }
}

fn fail_all(pending: Vec<Pending>, error: StoreError) {
    // Every caller gets the same error; only the first keeps the source chain.
    let message = error.to_string();
    let mut error = Some(error);
    for p in pending {
        let e = error
            .take()
            .unwrap_or_else(|| StoreError::backend("nats", message.clone()));
        let _ = p.reply.send(Err(e));
    }
}

/// Errors worth another attempt: the batch was refused as a whole (a concurrent append
/// moved a sequence it expected) or nobody could take it (election in progress).
pub(super) fn retryable(error: &CallError) -> bool {
    match error {
        CallError::NoResponders | CallError::NoAnswer(_) => true,
        CallError::Api(e) => {
            matches!(
                e.err_code,
                codes::WRONG_LAST_SEQUENCE
                    | codes::WRONG_LAST_SEQUENCE_IN_FLIGHT
                    | codes::INCOMPLETE_BATCH
                    | codes::CLUSTER_NOT_AVAILABLE
            ) || e.code == 503
        }
        CallError::Malformed(_) => false,
    }
}

/// Exponential backoff with jitter, so that competing writers of several processes do not
/// retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempt.min(16))
        .min(BACKOFF_MAX_MS);
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(ceiling.max(1))) as u64;
    Duration::from_millis(ceiling / 2 + jitter / 2)
}

/// Raises the published tip, never lowers it.
pub(super) fn publish_tip(tx: &watch::Sender<Tip>, tip: Tip) {
    tx.send_if_modified(|current| {
        if tip.position > current.position {
            *current = tip;
            true
        } else {
            false
        }
    });
}

enum TipError {
    Call(CallError),
    Store(StoreError),
}

impl From<CallError> for TipError {
    fn from(e: CallError) -> Self {
        TipError::Call(e)
    }
}

impl From<StoreError> for TipError {
    fn from(e: StoreError) -> Self {
        TipError::Store(e)
    }
}

enum PlanError {
    Call(CallError),
    Store(StoreError),
}

impl From<CallError> for PlanError {
    fn from(e: CallError) -> Self {
        PlanError::Call(e)
    }
}

impl From<StoreError> for PlanError {
    fn from(e: StoreError) -> Self {
        PlanError::Store(e)
    }
}

/// How many times a tip read that landed inside a batch being applied is repeated
/// before the log is called corrupt, and the pause between reads.
const TIP_READ_ATTEMPTS: u32 = 50;
const TIP_READ_PAUSE_MS: u64 = 20;

/// The durable tip as the stream's leader has it: its last sequence, which is always a
/// command marker, holds the last position and the last `recorded_at`.
///
/// The leader applies an atomic batch message by message, and `STREAM.INFO` may be
/// answered in between (seen in the fault test right after a leader change): its last
/// sequence is then an event of a batch whose marker is about to land. Every batch is
/// committed whole or not at all, so such a read is retried; a log whose last message
/// stays an event is corrupt.
async fn read_tip(shared: &Shared) -> Result<WriterTip, TipError> {
    let mut attempt = 1;
    loop {
        match read_tip_once(shared).await? {
            TipRead::Tip(tip) => return Ok(tip),
            TipRead::InsideBatch { .. } if attempt < TIP_READ_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(TIP_READ_PAUSE_MS)).await;
            }
            TipRead::InsideBatch { seq, subject } => {
                return Err(StoreError::Corrupt(format!(
                    "the last message ({seq}, {subject}) is not a command marker"
                ))
                .into());
            }
        }
    }
}

/// One read of the tip: the tip, or a last message that is an event (a batch being
/// applied as we read, or, if it stays so, a corrupt log).
enum TipRead {
    Tip(WriterTip),
    InsideBatch { seq: u64, subject: String },
}

async fn read_tip_once(shared: &Shared) -> Result<TipRead, TipError> {
    let info = shared.api.stream_info().await?;
    let last_seq = info.state.last_seq;
    if info.state.messages != last_seq {
        return Err(StoreError::Corrupt(format!(
            "the stream holds {} messages up to sequence {last_seq}: messages were removed",
            info.state.messages
        ))
        .into());
    }
    if last_seq == 0 {
        return Ok(TipRead::Tip(WriterTip {
            tip: Tip::default(),
            recorded_at: DateTime::UNIX_EPOCH,
        }));
    }
    let last = shared.api.get_seq(last_seq).await?.ok_or_else(|| {
        StoreError::Corrupt(format!("no message at the last sequence {last_seq}"))
    })?;
    let Kind::Marker { .. } = shared.subjects.kind(&last.subject)? else {
        return Ok(TipRead::InsideBatch {
            seq: last_seq,
            subject: last.subject.to_string(),
        });
    };
    let outcome = codec::decode_marker(&last.data)?;
    Ok(TipRead::Tip(WriterTip {
        tip: Tip {
            position: outcome.last_position,
            seq: last_seq,
        },
        recorded_at: outcome.recorded_at,
    }))
}

/// The durable tip, for opening and for following other processes' appends.
pub(super) async fn durable_tip(shared: &Shared) -> Result<Tip, StoreError> {
    match read_tip(shared).await {
        Ok(tip) => Ok(tip.tip),
        Err(TipError::Call(e)) => Err(e.into()),
        Err(TipError::Store(e)) => Err(e),
    }
}

impl AppendRequest {
    /// Messages this request becomes in a batch: its events and one command marker.
    pub(super) fn message_count(&self) -> usize {
        self.streams.iter().map(|s| s.events.len()).sum::<usize>() + 1
    }
}
