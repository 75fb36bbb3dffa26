//! Importing a whole log, envelopes as recorded, into an EMPTY JetStream stream: how
//! `paylog migrate` moves a RocksDB log onto a NATS cluster with every position, stream
//! version, `recorded_at` and command/correlation/causation id preserved.
//!
//! The same checks as the RocksDB importer (positions gapless from 1, stream versions
//! contiguous from 1, `recorded_at` non-decreasing, each command's events contiguous and
//! its id used once), and the same layout as the writer's: each command is its events
//! followed by its marker, whole commands are published as ADR-50 atomic batches, the
//! first message of each expecting the stream's last sequence. So an import that stops
//! halfway leaves a log the store opens (a prefix of whole commands), and nobody can
//! append in between unnoticed: their batch or ours is refused.

use async_nats::HeaderMap;
use bytes::Bytes;
use uuid::Uuid;

use super::api::{Api, CallError, OutMsg};
use super::codec::{
    self, HDR_EXPECTED_LAST_SEQUENCE, HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, HDR_POSITION,
    HDR_VERSION, NewEventBody, Subjects,
};
use super::{NatsOptions, check_config, connect, open_stream, writer};
use crate::error::StoreError;
use crate::import_order::{ImportOrder, extend_outcome, first_outcome};
use crate::rocks::ImportStats;
use crate::types::{AppendOutcome, RecordedEvent};

/// Attempts at publishing one batch whose commit went unanswered or was refused for a
/// passing reason (a leader election), checking the tip before each new attempt.
const PUBLISH_ATTEMPTS: u32 = 20;
/// Pause between those attempts.
const PUBLISH_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// The command whose events are being pushed.
struct Command {
    id: Uuid,
    messages: Vec<OutMsg>,
    outcome: AppendOutcome,
}

/// An import in progress: [`push`](NatsImporter::push) events in log order, then
/// [`finish`](NatsImporter::finish). Obtained from [`super::NatsStore::importer`].
pub struct NatsImporter {
    api: Api,
    subjects: Subjects,
    /// The stream's last JetStream sequence (what the next batch expects).
    seq: u64,
    order: ImportOrder,
    current: Option<Command>,
    /// Whole commands waiting to be published.
    batch: Vec<OutMsg>,
    max_batch_messages: usize,
    stats: ImportStats,
}

impl std::fmt::Debug for NatsImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsImporter")
            .field("stream", &self.api.stream)
            .field("next_position", &self.order.next_position())
            .field("stats", &self.stats)
            .finish()
    }
}

impl super::NatsStore {
    /// Opens (creating it if absent) the stream of `options` for an import. Refuses a
    /// stream that holds any message.
    pub async fn importer(options: NatsOptions) -> Result<NatsImporter, StoreError> {
        let client = connect(&options).await?;
        let subjects = Subjects::new(&options.subject_prefix);
        let api = Api {
            client,
            stream: options.stream.clone(),
            timeout: options.request_timeout,
        };
        let info = open_stream(&api, &options, &subjects).await?;
        check_config(&info.config, &subjects)?;
        if info.state.last_seq != 0 {
            return Err(StoreError::InvalidRequest(format!(
                "the JetStream stream {} is not empty (last sequence {}): migrate only into an empty stream",
                options.stream, info.state.last_seq
            )));
        }
        Ok(NatsImporter {
            api,
            subjects,
            seq: 0,
            order: ImportOrder::new(),
            current: None,
            batch: Vec::new(),
            max_batch_messages: options.max_batch_messages.max(2),
            stats: ImportStats::default(),
        })
    }
}

impl NatsImporter {
    /// Adds the next event of the log. Nothing is published for a refused event.
    pub async fn push(&mut self, event: RecordedEvent) -> Result<(), StoreError> {
        let step = self.order.check(&event)?;
        super::read::check_stream_id(&event.stream_id)?;
        if !step.new_command
            && let Some(command) = &self.current
            && command.messages.len() + 1 >= self.max_batch_messages
        {
            return Err(StoreError::InvalidRequest(format!(
                "command {} has more than {} events, more than one atomic batch holds",
                event.command_id,
                self.max_batch_messages - 1
            )));
        }
        if step.new_command {
            self.end_command().await?;
        }
        let mut headers = HeaderMap::new();
        headers.insert(HDR_POSITION, event.position.to_string().as_str());
        headers.insert(HDR_VERSION, event.stream_version.to_string().as_str());
        let body = codec::encode_event(&NewEventBody {
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &event.payload,
            recorded_at: event.recorded_at,
            command_id: event.command_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
        })?;
        let message = OutMsg {
            subject: self.subjects.event(&event.stream_id),
            headers,
            payload: Bytes::from(body),
        };
        let command = self.current.get_or_insert_with(|| Command {
            id: event.command_id,
            messages: Vec::new(),
            outcome: first_outcome(&event),
        });
        command.messages.push(message);
        extend_outcome(&mut command.outcome, &event);
        if step.new_stream {
            self.stats.streams += 1;
        }
        self.order.accept(&event);
        self.stats.events += 1;
        Ok(())
    }

    /// Publishes what is left and returns what was imported.
    pub async fn finish(mut self) -> Result<ImportStats, StoreError> {
        self.end_command().await?;
        self.flush().await?;
        Ok(self.stats)
    }

    /// Closes the current command with its marker and queues it, publishing the batch
    /// first when the command would not fit.
    async fn end_command(&mut self) -> Result<(), StoreError> {
        let Some(mut command) = self.current.take() else {
            return Ok(());
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HDR_POSITION,
            command.outcome.last_position.to_string().as_str(),
        );
        headers.insert(HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
        command.messages.push(OutMsg {
            subject: self.subjects.marker(command.id),
            headers,
            payload: Bytes::from(codec::encode_marker(&command.outcome)?),
        });
        if self.batch.len() + command.messages.len() > self.max_batch_messages {
            self.flush().await?;
        }
        self.batch.append(&mut command.messages);
        self.stats.commands += 1;
        Ok(())
    }

    /// Publishes the queued commands as one atomic batch right after the last sequence.
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let count = self.batch.len() as u64;
        let expected = self.seq;
        let mut last_error = None;
        for attempt in 0..PUBLISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(PUBLISH_PAUSE).await;
                // An unanswered commit may have landed: the tip says which.
                match self.api.stream_info().await {
                    Ok(info) if info.state.last_seq == expected + count => {
                        self.seq = expected + count;
                        self.batch.clear();
                        return Ok(());
                    }
                    Ok(info) if info.state.last_seq != expected => {
                        return Err(StoreError::Conflict {
                            stream_id: self.api.stream.clone(),
                            expected: crate::types::ExpectedVersion::Exact(expected),
                            actual: info.state.last_seq,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        last_error = Some(e);
                        continue;
                    }
                }
            }
            let mut messages = self.batch.clone();
            if let Some(first) = messages.first_mut() {
                first
                    .headers
                    .insert(HDR_EXPECTED_LAST_SEQUENCE, expected.to_string().as_str());
            }
            match self.api.publish_batch(messages).await {
                Ok(ack) if ack.seq == expected + count => {
                    self.seq = ack.seq;
                    self.batch.clear();
                    return Ok(());
                }
                Ok(ack) => {
                    return Err(StoreError::Corrupt(format!(
                        "a batch of {count} messages after sequence {expected} was acknowledged at {}",
                        ack.seq
                    )));
                }
                Err(e) if matches!(e, CallError::NoAnswer(_)) || writer::retryable(&e) => {
                    last_error = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::backend(
            "nats",
            format!(
                "a batch after sequence {expected} was not committed: {}",
                last_error.map_or_else(|| "no answer".to_owned(), |e| e.to_string())
            ),
        ))
    }
}
