//! Reads: the whole log from a position, one stream from a version, a stream's version.
//!
//! Every read goes to the stream's leader (`STREAM.MSG.GET`, never a direct get that a
//! lagging replica may answer) and stops at the tip the store has seen acknowledged, so a
//! reader never acts on an event a failover could still take back.

use super::api::StoredMsg;
use super::codec::{self, HDR_POSITION, HDR_VERSION, Kind};
use super::{Shared, Tip};
use crate::error::StoreError;
use crate::types::{AppendOutcome, RecordedEvent};
use crate::validate::MAX_STREAM_ID_LEN;

pub(super) fn check_stream_id(stream_id: &str) -> Result<(), StoreError> {
    if stream_id.is_empty()
        || stream_id.len() > MAX_STREAM_ID_LEN
        || stream_id.as_bytes().contains(&0)
    {
        return Err(StoreError::InvalidRequest(format!(
            "invalid stream id {stream_id:?}: it must be 1..={MAX_STREAM_ID_LEN} bytes without NUL"
        )));
    }
    Ok(())
}

async fn message(shared: &Shared, seq: u64) -> Result<StoredMsg, StoreError> {
    shared
        .api
        .get_seq(seq)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no message at sequence {seq}")))
}

/// The event of a stored message, or `None` for a command marker.
fn to_event(shared: &Shared, msg: &StoredMsg) -> Result<Option<RecordedEvent>, StoreError> {
    match shared.subjects.kind(&msg.subject)? {
        Kind::Marker { .. } => Ok(None),
        Kind::Event { stream_id } => codec::decode_event(
            stream_id,
            msg.u64_header(HDR_POSITION)?,
            msg.u64_header(HDR_VERSION)?,
            &msg.data,
        )
        .map(Some),
    }
}

/// The JetStream sequence of the event at `position` (`1 <= position <= tip.position`).
///
/// Position headers never decrease along the sequence (a marker repeats its command's
/// last position) and an event's sequence is at least its position, so a binary search
/// over `[position, tip.seq]` finds it in `log2(tip.seq)` reads.
async fn seq_of_position(shared: &Shared, tip: Tip, position: u64) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (position, tip.seq);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if message(shared, mid).await?.u64_header(HDR_POSITION)? >= position {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Events with `position > after`, at most `limit`, up to `tip`; reading from
/// `seq_hint` (the sequence right after the event at `after`) when the caller knows it.
/// Also returns the sequence to continue from.
pub(super) async fn read_all(
    shared: &Shared,
    tip: Tip,
    after: u64,
    limit: usize,
    seq_hint: Option<u64>,
) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
    if limit == 0 || after >= tip.position {
        return Ok((Vec::new(), seq_hint));
    }
    let mut seq = match seq_hint {
        Some(seq) => seq,
        None => seq_of_position(shared, tip, after + 1).await?,
    };
    let mut events = Vec::new();
    let mut expected = after + 1;
    while seq <= tip.seq && events.len() < limit {
        let msg = message(shared, seq).await?;
        seq += 1;
        if let Some(event) = to_event(shared, &msg)? {
            if event.position != expected {
                return Err(StoreError::Corrupt(format!(
                    "sequence {} holds position {}, expected {expected}",
                    msg.seq, event.position
                )));
            }
            expected += 1;
            events.push(event);
        }
    }
    Ok((events, Some(seq)))
}

/// Events of one stream with `stream_version >= from_version`, at most `limit`, up to `tip`.
pub(super) async fn read_stream(
    shared: &Shared,
    tip: Tip,
    stream_id: &str,
    from_version: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    check_stream_id(stream_id)?;
    if limit == 0 || tip.seq == 0 {
        return Ok(Vec::new());
    }
    let subject = shared.subjects.event(stream_id);
    let from_version = from_version.max(1);
    let version_at = |msg: &Option<StoredMsg>| -> Result<u64, StoreError> {
        match msg {
            Some(m) if m.seq <= tip.seq => m.u64_header(HDR_VERSION),
            _ => Ok(u64::MAX),
        }
    };
    // The first sequence whose next message of the stream has version >= from_version:
    // versions grow along the sequence, and version v sits at a sequence >= v.
    let mut seq = 1;
    if from_version > 1 {
        let (mut lo, mut hi) = (from_version, tip.seq + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let next = shared.api.get_next_for(&subject, mid).await?;
            if version_at(&next)? >= from_version {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        seq = lo;
    }
    let mut events = Vec::new();
    while seq <= tip.seq && events.len() < limit {
        let Some(msg) = shared.api.get_next_for(&subject, seq).await? else {
            break;
        };
        if msg.seq > tip.seq {
            break;
        }
        seq = msg.seq + 1;
        if let Some(event) = to_event(shared, &msg)?
            && event.stream_version >= from_version
        {
            events.push(event);
        }
    }
    Ok(events)
}

/// A committed command's outcome from its marker, as a duplicate.
pub(super) async fn committed(
    shared: &Shared,
    command_id: uuid::Uuid,
) -> Result<Option<AppendOutcome>, StoreError> {
    match shared
        .api
        .get_last_for(&shared.subjects.marker(command_id))
        .await?
    {
        Some(marker) => Ok(Some(AppendOutcome {
            duplicate: true,
            ..super::codec::decode_marker(&marker.data)?
        })),
        None => Ok(None),
    }
}

/// The current version of a stream: the version header of its last message.
pub(super) async fn stream_version(shared: &Shared, stream_id: &str) -> Result<u64, StoreError> {
    check_stream_id(stream_id)?;
    match shared
        .api
        .get_last_for(&shared.subjects.event(stream_id))
        .await?
    {
        Some(last) => last.u64_header(HDR_VERSION),
        None => Ok(0),
    }
}
