//! The decide → append → retry loop every command goes through.
//!
//! A command costs one append and, on the common path, no other round trip to the
//! log: a re-sent command id is recognised by the append itself (the store answers
//! it with the original outcome whatever the decision), so the log is asked whether
//! the id committed only when deciding refused the command or decided nothing; and
//! the states a decision produces are cached at the versions the append gave them,
//! so the next command on those streams reads nothing but their heads.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use paylog_core::{Aggregate, Decision, DomainEvent, codec};
use paylog_store::{AppendRequest, ExpectedVersion, NewEvent, StoreError, StreamAppend};

use super::{CommandMeta, Committed, Engine, MAX_ATTEMPTS, StreamId};
use crate::EngineError as Error;

/// A state a decision leads to, type-erased as the state cache keeps it.
pub(crate) type KeptState = Arc<dyn Any + Send + Sync>;

/// A command's decision together with the version of every stream it read.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    pub decision: Decision,
    /// `(stream id, version)` of each stream loaded to decide.
    pub read: Vec<(StreamId, u64)>,
    /// The state each written stream reaches once the decision is appended (see
    /// [`Planned::keep`]); cached at its new version after the commit.
    pub after: Vec<(StreamId, KeptState)>,
}

impl Planned {
    /// Records that the decision was taken on `stream_id` at `version`.
    pub fn read<S>(&mut self, loaded: &super::Loaded<S>) {
        self.read.push((loaded.stream_id.clone(), loaded.version));
    }

    /// Records that the decision was taken on a stream assumed not to exist yet (a
    /// fresh id): it is appended with `NoStream`, so if the assumption is wrong the
    /// append conflicts and the next attempt loads the stream.
    pub fn assume_new(&mut self, stream_id: StreamId) {
        self.read.push((stream_id, 0));
    }

    /// Once `decision` is set: folds the decided events of `stream_id` into `state`
    /// (its state as loaded), to be cached at the stream's new version after the
    /// append. Why: the next command on the stream then reads only its head, and a
    /// caller can answer from the state its command produced instead of reading it
    /// back. The events fold exactly as a load would fold them from the log.
    pub fn keep<A>(&mut self, stream_id: &StreamId, state: A::State)
    where
        A: Aggregate,
        A::State: Send + Sync + 'static,
        A::Event: TryFrom<DomainEvent, Error = codec::CodecError>,
    {
        let events = self.decision.events_for(stream_id.as_str());
        if events.is_empty() {
            return;
        }
        let mut state = state;
        for event in events {
            // An event of another aggregate on this stream would be a bug of the
            // command; it costs only the cache entry (the next load reads the log).
            let Ok(event) = A::Event::try_from(event.clone()) else {
                return;
            };
            state = A::evolve(state, &event);
        }
        self.after.push((stream_id.clone(), Arc::new(state)));
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

    /// `attempt` counts from 0; a command may assume on its first attempt what the
    /// append's expected versions check anyway (a fresh id's stream does not exist).
    fn plan(
        &self,
        engine: &Engine,
        meta: &CommandMeta,
        attempt: u32,
    ) -> impl Future<Output = Result<Planned, Error>> + Send;
}

impl Engine {
    /// Runs `command` to completion: decide, append with expectations, retry on conflict.
    pub(crate) async fn run<C: Plan>(
        &self,
        meta: CommandMeta,
        command: &C,
    ) -> Result<Committed, Error> {
        Ok(self.run_keeping(meta, command).await?.0)
    }

    /// [`Engine::run`], also returning the states the command's appended events led
    /// to (see [`Planned::keep`]); empty when it appended nothing.
    pub(crate) async fn run_keeping<C: Plan>(
        &self,
        meta: CommandMeta,
        command: &C,
    ) -> Result<(Committed, Vec<(StreamId, KeptState)>), Error> {
        let mut last_conflict = StreamId::from(String::new());
        for attempt in 0..MAX_ATTEMPTS {
            let planned = match command.plan(self, &meta, attempt).await {
                Ok(planned) => planned,
                // A re-sent command (a retried request, a re-delivered notify) whose
                // id already committed gets its original result, even though deciding
                // on today's state refuses it (e.g. `AlreadyExists`).
                Err(e) => {
                    return match self.already_committed(&meta, command).await {
                        Some(committed) => Ok((committed, Vec::new())),
                        None => Err(e),
                    };
                }
            };
            if planned.decision.is_empty() {
                if let Some(committed) = self.already_committed(&meta, command).await {
                    return Ok((committed, Vec::new()));
                }
                return Ok((
                    Committed {
                        position: self.store.head(),
                        appended: 0,
                        duplicate: false,
                        command: command.name(),
                    },
                    Vec::new(),
                ));
            }
            let request = to_request(&meta, &planned)?;
            let appended = request.streams.iter().map(|s| s.events.len()).sum();
            // The store checks the command id before any expected version: a re-sent
            // command is answered with its original outcome here, whatever was decided.
            match self.store.append(request).await {
                Ok(outcome) => {
                    let kept = if outcome.duplicate {
                        Vec::new()
                    } else {
                        self.cache_kept(&outcome.streams, planned.after)
                    };
                    return Ok((
                        Committed {
                            position: outcome.last_position,
                            appended: if outcome.duplicate { 0 } else { appended },
                            duplicate: outcome.duplicate,
                            command: command.name(),
                        },
                        kept,
                    ));
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

    /// The original result of `meta`'s command id if it already committed. A failed
    /// lookup counts as "no": the caller then reports its own outcome or error.
    async fn already_committed<C: Plan>(
        &self,
        meta: &CommandMeta,
        command: &C,
    ) -> Option<Committed> {
        let outcome = self.store.committed(meta.command_id).await.ok()??;
        Some(Committed {
            position: outcome.last_position,
            appended: 0,
            duplicate: true,
            command: command.name(),
        })
    }

    /// Caches each kept state at the version its stream reached in the append.
    fn cache_kept(
        &self,
        heads: &[paylog_store::StreamHead],
        after: Vec<(StreamId, KeptState)>,
    ) -> Vec<(StreamId, KeptState)> {
        for (stream_id, state) in &after {
            if let Some(head) = heads.iter().find(|h| h.stream_id == stream_id.as_str()) {
                self.cache
                    .put_kept(stream_id.as_str(), head.version, Arc::clone(state));
            }
        }
        after
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
