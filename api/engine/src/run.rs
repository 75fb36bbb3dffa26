//! The decide → append → retry loop every command goes through.

use std::future::Future;

use paylog_core::{Decision, DomainEvent, codec};
use paylog_store::{AppendRequest, ExpectedVersion, NewEvent, StoreError, StreamAppend};

use super::{CommandMeta, Committed, Engine, MAX_ATTEMPTS, StreamId};
use crate::EngineError as Error;

/// A command's decision together with the version of every stream it read.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    pub decision: Decision,
    /// `(stream id, version)` of each stream loaded to decide.
    pub read: Vec<(StreamId, u64)>,
}

impl Planned {
    /// Records that the decision was taken on `stream_id` at `version`.
    pub fn read<S>(&mut self, loaded: &super::Loaded<S>) {
        self.read.push((loaded.stream_id.clone(), loaded.version));
    }

    /// The expectation a written stream is appended with. Invariant: every command
    /// loads each stream it writes, so a written stream was always read; one that was
    /// not would be appended blind (`Any`), which is exactly the race expected versions
    /// exist to refuse, so it is refused here as a programming error instead.
    fn expected(&self, stream_id: &str) -> Result<ExpectedVersion, Error> {
        match self.read.iter().find(|(id, _)| id == stream_id) {
            Some((_, 0)) => Ok(ExpectedVersion::NoStream),
            Some((_, v)) => Ok(ExpectedVersion::Exact(*v)),
            None => {
                debug_assert!(false, "decision writes {stream_id} without loading it");
                Err(Error::Misuse("a decision writes a stream it did not load"))
            }
        }
    }
}

/// A command the pipeline can run: it loads what it needs and decides.
///
/// `plan` is called again after every lost race, so it must not have side effects.
pub(crate) trait Plan: Sync {
    /// The command's name, as metrics and logs label it (`PlaceOrder`, `FailRefund`…).
    fn name(&self) -> &'static str;

    fn plan(
        &self,
        engine: &Engine,
        meta: &CommandMeta,
    ) -> impl Future<Output = Result<Planned, Error>> + Send;
}

impl Engine {
    /// Runs `command` to completion: decide, append with expectations, retry on conflict.
    pub(crate) async fn run<C: Plan>(
        &self,
        meta: CommandMeta,
        command: &C,
    ) -> Result<Committed, Error> {
        // A re-sent command (a retried request, a re-delivered notify) whose id already
        // committed gets its original result before anything is decided again: deciding
        // on today's state could refuse it (`AlreadyExists`) or decide differently.
        if let Some(outcome) = self.store.committed(meta.command_id).await? {
            return Ok(Committed {
                position: outcome.last_position,
                appended: 0,
                duplicate: true,
                command: command.name(),
            });
        }
        let mut last_conflict = StreamId::from(String::new());
        for _ in 0..MAX_ATTEMPTS {
            let planned = command.plan(self, &meta).await?;
            if planned.decision.is_empty() {
                return Ok(Committed {
                    position: self.store.head(),
                    appended: 0,
                    duplicate: false,
                    command: command.name(),
                });
            }
            let request = to_request(&meta, &planned)?;
            let appended = request.streams.iter().map(|s| s.events.len()).sum();
            match self.store.append(request).await {
                Ok(outcome) => {
                    return Ok(Committed {
                        position: outcome.last_position,
                        appended: if outcome.duplicate { 0 } else { appended },
                        duplicate: outcome.duplicate,
                        command: command.name(),
                    });
                }
                Err(StoreError::Conflict { stream_id, .. }) => {
                    tracing::debug!(%stream_id, command_id = %meta.command_id, "version conflict, deciding again");
                    last_conflict = StreamId::from(stream_id);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Contention {
            stream_id: last_conflict,
            attempts: MAX_ATTEMPTS,
        })
    }
}

fn to_request(meta: &CommandMeta, planned: &Planned) -> Result<AppendRequest, Error> {
    let mut streams = Vec::with_capacity(planned.decision.streams.len());
    for (stream_id, events) in &planned.decision.streams {
        streams.push(StreamAppend {
            stream_id: stream_id.clone(),
            expected: planned.expected(stream_id)?,
            events: encode_events(events)?,
        });
    }
    Ok(AppendRequest {
        command_id: meta.command_id,
        correlation_id: meta.correlation_id,
        causation_id: meta.causation_id,
        streams,
    })
}

/// Domain events as the store's opaque envelopes (type, schema version, JSON payload).
pub fn encode_events(events: &[DomainEvent]) -> Result<Vec<NewEvent>, Error> {
    events
        .iter()
        .map(|event| {
            let e = codec::encode(event)?;
            Ok(NewEvent {
                event_type: e.event_type.to_owned(),
                schema_version: e.schema_version,
                payload: e.payload,
            })
        })
        .collect()
}
