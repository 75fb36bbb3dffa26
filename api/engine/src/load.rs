//! Loading aggregates: read a stream, decode each event (upcasting old versions),
//! fold it into the aggregate's state — with a bounded cache of folded states.
//!
//! Why a cache: a product's stream grows by one `StockReserved` per order, so
//! refolding it from version 1 on every `PlaceOrder` would make the cost of a
//! command grow with the log. The cache keeps the folded state and its version;
//! a load reads only the events after that version, which also makes the cache
//! impossible to get stale: whatever another writer appended is read on the next load.
//!
//! A cached state is checked with one keyed lookup of the stream's head
//! (`EventStore::stream_version`); only when the head moved past it are the events
//! after it read. Commands also cache the states they produce (`Planned::keep`), at
//! the versions their append gave them, so a stream this process writes is usually
//! found current and not read at all.

use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use paylog_core::{Aggregate, DomainEvent, codec};

use super::{Engine, StreamId};
use crate::EngineError as Error;

/// How many streams the state cache holds by default.
pub const DEFAULT_CACHE_STREAMS: usize = 16_384;

/// How many events one read of a stream fetches.
const READ_PAGE: usize = 1024;

/// An aggregate's state and the stream version it reflects.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<S> {
    pub stream_id: StreamId,
    pub state: S,
    /// The stream's version: `0` for a stream with no events.
    pub version: u64,
}

struct Entry {
    version: u64,
    state: Arc<dyn Any + Send + Sync>,
}

/// Folded states by stream id, least recently used evicted first.
pub(crate) struct StateCache {
    // A std mutex: it is held only for a lookup or an insert, never across an await.
    inner: Option<Mutex<LruCache<String, Entry>>>,
}

impl StateCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
        }
    }

    fn get<S: Clone + 'static>(&self, stream_id: &str) -> Option<(S, u64)> {
        let mut cache = self.inner.as_ref()?.lock().ok()?;
        let entry = cache.get(stream_id)?;
        let state = entry.state.downcast_ref::<S>()?.clone();
        Some((state, entry.version))
    }

    fn put<S: Send + Sync + 'static>(&self, stream_id: &str, version: u64, state: S) {
        self.put_kept(stream_id, version, Arc::new(state));
    }

    /// Caches a state already shared (a state a command's events led to).
    pub(crate) fn put_kept(
        &self,
        stream_id: &str,
        version: u64,
        state: Arc<dyn Any + Send + Sync>,
    ) {
        let Some(inner) = &self.inner else { return };
        let Ok(mut cache) = inner.lock() else { return };
        // Never replace a newer entry with an older one (two loads raced).
        if cache.peek(stream_id).is_some_and(|e| e.version > version) {
            return;
        }
        cache.put(stream_id.to_owned(), Entry { version, state });
    }
}

impl Engine {
    /// Loads the current state of aggregate `A` from `stream_id`.
    pub async fn load<A>(&self, stream_id: &str) -> Result<Loaded<A::State>, Error>
    where
        A: Aggregate,
        A::State: Clone + Send + Sync + 'static,
        A::Event: TryFrom<DomainEvent, Error = codec::CodecError>,
    {
        let (mut state, mut version) = match self.cache.get::<A::State>(stream_id) {
            // One keyed lookup says whether the cached state is current; only if the
            // stream moved on are the events after it read. (A head below the cached
            // version cannot happen in an append-only log; refold to be safe.)
            Some((state, cached)) => match self.store.stream_version(stream_id).await? {
                head if head == cached => {
                    return Ok(Loaded {
                        stream_id: StreamId::from(stream_id),
                        state,
                        version: cached,
                    });
                }
                head if head > cached => (state, cached),
                _ => (A::State::default(), 0),
            },
            None => (A::State::default(), 0),
        };
        let cached_version = version;
        loop {
            let page = self
                .store
                .read_stream(stream_id, version + 1, READ_PAGE)
                .await?;
            let full = page.len() == READ_PAGE;
            for recorded in page {
                if recorded.stream_version != version + 1 {
                    return Err(Error::CorruptEvent {
                        position: recorded.position,
                        reason: format!(
                            "{stream_id} jumps from version {version} to {}",
                            recorded.stream_version
                        ),
                    });
                }
                let event = codec::decode(
                    &recorded.event_type,
                    recorded.schema_version,
                    &recorded.payload,
                )
                .and_then(A::Event::try_from)
                .map_err(|e| Error::CorruptEvent {
                    position: recorded.position,
                    reason: e.to_string(),
                })?;
                state = A::evolve(state, &event);
                version = recorded.stream_version;
            }
            if !full {
                break;
            }
        }
        if version != cached_version {
            self.cache.put(stream_id, version, state.clone());
        }
        Ok(Loaded {
            stream_id: StreamId::from(stream_id),
            state,
            version,
        })
    }
}
