//! The [`Aggregate`] trait every aggregate implements, and the [`Decision`] a
//! multi-aggregate command returns.

use crate::error::DomainError;
use crate::event::DomainEvent;

/// An event-sourced aggregate: pure `decide`, infallible `evolve`.
///
/// The state of a stream with no events is `Self::State::default()` (every aggregate
/// uses `Option<…State>`, `None` meaning "does not exist yet"). `decide` returns the
/// events a command produces (possibly none, for an idempotent repeat) or a domain
/// error; `evolve` folds one event into the state and never fails, because an event
/// is a fact that has already happened.
pub trait Aggregate {
    /// What the command pipeline calls the aggregate in errors ("order", "product", …).
    const NAME: &'static str;
    type State: Default;
    type Command;
    type Event;

    fn decide(state: &Self::State, command: Self::Command)
    -> Result<Vec<Self::Event>, DomainError>;

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The state after a stream's events, in order.
    fn fold<'a, I>(events: I) -> Self::State
    where
        I: IntoIterator<Item = &'a Self::Event>,
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), Self::evolve)
    }
}

/// What a command decided: new events per stream, to be appended atomically.
///
/// The pipeline appends all streams in one batch, each with the expected version it
/// loaded (and `NoStream` for streams it found empty, which is how claims stay unique).
/// Streams with no events are left out, so an empty `Decision` means "nothing to do".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub streams: Vec<(String, Vec<DomainEvent>)>,
}

impl Decision {
    /// A decision about one stream.
    pub fn single<E: Into<DomainEvent>>(stream_id: String, events: Vec<E>) -> Self {
        let mut decision = Self::default();
        decision.push(stream_id, events);
        decision
    }

    /// Adds a stream's events; empty lists are dropped.
    pub fn push<E: Into<DomainEvent>>(&mut self, stream_id: String, events: Vec<E>) {
        if events.is_empty() {
            return;
        }
        let events = events.into_iter().map(Into::into).collect();
        self.streams.push((stream_id, events));
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The events decided for one stream (empty if none).
    pub fn events_for(&self, stream_id: &str) -> &[DomainEvent] {
        self.streams
            .iter()
            .find(|(id, _)| id == stream_id)
            .map(|(_, events)| events.as_slice())
            .unwrap_or_default()
    }
}
